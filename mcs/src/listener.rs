//! Accept loops: HTTPS (rustls) and, when asked, plain HTTP; HTTP/1.1 with
//! keep-alive through hyper. `/v1/` requests (node API, FleetLock) go to
//! [`crate::nodes::NodeService::handle`] with their body (at most
//! [`machine_config::node_api::MAX_BODY`] bytes); every other request is
//! answered by [`crate::http::respond`] from the current snapshot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::Request;
use hyper::Response;
use hyper_util::rt::TokioIo;
use machine_config::node_api::MAX_BODY;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::nodes::{ApiRequest, NodeService};

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTPS on `listener` until `stop` turns true.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    svc: Arc<NodeService>,
    stop: watch::Receiver<bool>,
) {
    accept_loop(listener, stop, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let svc = svc.clone();
        async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => connection(tls, svc, peer, true).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    })
    .await
}

/// Serves plain HTTP on `listener` until `stop` turns true. The node API is
/// not served there (tokens never travel in clear): `/v1/` answers 404.
pub async fn serve_plain(
    listener: TcpListener,
    svc: Arc<NodeService>,
    stop: watch::Receiver<bool>,
) {
    accept_loop(listener, stop, move |tcp, peer| {
        connection(tcp, svc.clone(), peer, false)
    })
    .await
}

async fn accept_loop<F, Fut>(listener: TcpListener, mut stop: watch::Receiver<bool>, handle: F)
where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(handle(tcp, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

async fn connection<IO>(io: IO, svc: Arc<NodeService>, peer: std::net::SocketAddr, tls: bool)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let svc = svc.clone();
        async move {
            let path = req.uri().path().to_string();
            let method = req.method().clone();
            let resp = if tls && path.starts_with("/v1/") {
                api(&svc, req, peer).await
            } else if let Some(denied) = config_denied(&svc, &req, &path, peer) {
                denied
            } else {
                let snapshot = svc.shared.get();
                let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
                let resp = crate::http::respond(&snapshot, req.method(), &path, accept);
                if resp.status() == hyper::StatusCode::OK {
                    if let (Some(pool), Some(v)) = (
                        path.strip_prefix("/config/"),
                        resp.headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|ct| ct.split_once(";version=")),
                    ) {
                        svc.metrics.config(pool, v.1);
                    }
                }
                resp
            };
            tracing::debug!(
                method = %method,
                path = %path,
                status = resp.status().as_u16(),
                "request"
            );
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = conn.await {
        tracing::debug!("connection ended: {e}");
    }
}

/// A `GET`/`HEAD /config/<pool>` without a valid token of the pool: the 401 to answer.
fn config_denied(
    svc: &NodeService,
    req: &Request<Incoming>,
    path: &str,
    peer: std::net::SocketAddr,
) -> Option<Response<Full<Bytes>>> {
    let head = req.method() == hyper::Method::HEAD;
    if req.method() != hyper::Method::GET && !head {
        return None;
    }
    let pool = path.strip_prefix("/config/")?;
    svc.config_access(pool, req.headers(), Some(peer))
        .err()
        .map(|m| crate::http::unauthorized(&m, head))
}

/// Reads the body (bounded) and hands the request to the node API.
async fn api(
    svc: &NodeService,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let body = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return crate::nodes::api_error(
                hyper::StatusCode::PAYLOAD_TOO_LARGE,
                machine_config::node_api::kind::BAD_REQUEST,
                &format!("cannot read the body (at most {MAX_BODY} bytes): {e}"),
            )
        }
    };
    svc.handle(ApiRequest {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
        peer: Some(peer),
    })
    .await
}
