//! Accept loops: HTTPS (rustls) and, when asked, plain HTTP; HTTP/1.1 with
//! keep-alive through hyper. Every request is answered by [`crate::http::respond`]
//! from the current snapshot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::ACCEPT;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::snapshot::Shared;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTPS on `listener` until `stop` turns true.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    accept_loop(listener, stop, move |tcp| {
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => connection(tls, shared).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    })
    .await
}

/// Serves plain HTTP on `listener` until `stop` turns true.
pub async fn serve_plain(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    accept_loop(listener, stop, move |tcp| connection(tcp, shared.clone())).await
}

async fn accept_loop<F, Fut>(listener: TcpListener, mut stop: watch::Receiver<bool>, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(handle(tcp));
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

async fn connection<IO>(io: IO, shared: Arc<Shared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let snapshot = shared.get();
        async move {
            let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
            let resp = crate::http::respond(&snapshot, req.method(), req.uri().path(), accept);
            tracing::debug!(
                method = %req.method(),
                path = req.uri().path(),
                accept = accept.unwrap_or(""),
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
