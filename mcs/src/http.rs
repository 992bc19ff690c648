//! Routing and status codes: a pure function of the snapshot and the request.
//!
//! | request | answer |
//! |---|---|
//! | `GET`/`HEAD /config/<pool>` | 200, the pool's config in the negotiated spec ([`crate::negotiate`]), `Content-Type: application/vnd.coreos.ignition+json;version=X.Y.Z` |
//! | ... with an unsupported version in `Accept` | 400 |
//! | ... for a pool that is not defined | 404 |
//! | ... for a defined pool that has never rendered | 503 (the render error) |
//! | ... when the config cannot be written in that spec | 500 (the field at fault) |
//! | ... without `Authorization: Bearer <token>` of that pool (checked by the listener, [`crate::nodes::NodeService::config_access`]) | 401 |
//! | `GET`/`HEAD /healthz` | 200 |
//! | any other path | 404 |
//! | any other method | 405 with `Allow: GET, HEAD` |
//!
//! Error bodies are JSON: `{"error": "..."}`. `HEAD` gets the headers of
//! `GET` (`Content-Length` included) and no body.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};

use crate::negotiate;
use crate::snapshot::{PoolView, Snapshot};

/// The media type of served configs (with `;version=X.Y.Z`).
pub const IGNITION_MEDIA_TYPE: &str = "application/vnd.coreos.ignition+json";

/// Answers one request.
pub fn respond(
    snapshot: &Snapshot,
    method: &Method,
    path: &str,
    accept: Option<&str>,
) -> Response<Full<Bytes>> {
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", false);
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == "/healthz" {
        return reply(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"ok\n"),
            head,
        );
    }
    let Some(pool) = path.strip_prefix("/config/").filter(|p| !p.contains('/')) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no such path {path:?}"),
            head,
        );
    };
    let version = match negotiate::negotiate(accept) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), head),
    };
    match snapshot.pools.get(pool) {
        None => error(
            StatusCode::NOT_FOUND,
            &format!("unknown pool {pool:?}"),
            head,
        ),
        Some(PoolView::Failed(reason)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("pool {pool:?} has no rendered config yet: {reason}"),
            head,
        ),
        Some(PoolView::Ready(served)) => match served.body(version) {
            Ok(body) => {
                let ct = format!("{IGNITION_MEDIA_TYPE};version={version}");
                reply(StatusCode::OK, &ct, body.clone(), head)
            }
            Err(message) => error(StatusCode::INTERNAL_SERVER_ERROR, message, head),
        },
    }
}

fn reply(status: StatusCode, content_type: &str, body: Bytes, head: bool) -> Response<Full<Bytes>> {
    let len = body.len();
    let mut r = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// 401 for a `/config/<pool>` request without a valid token, with `WWW-Authenticate: Bearer`.
pub fn unauthorized(message: &str, head: bool) -> Response<Full<Bytes>> {
    let mut r = error(StatusCode::UNAUTHORIZED, message, head);
    r.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mcs\""),
    );
    r
}

fn error(status: StatusCode, message: &str, head: bool) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    body.push(b'\n');
    reply(status, "application/json", Bytes::from(body), head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::snapshot::ServedPool;

    fn snapshot() -> Snapshot {
        let yaml = "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
                    metadata:\n  name: 50-w\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
                    spec:\n  config:\n    ignition: {version: 3.2.0}\n    storage:\n      luks:\n      - {name: a, device: /dev/vdb}\n";
        let loaded = machine_config::load_texts([("t.yaml".into(), yaml.to_string())]);
        let r = machine_config::render_pool(&loaded.inputs, "worker").unwrap();
        let mut s = Snapshot::default();
        s.pools.insert(
            "worker".into(),
            PoolView::Ready(Arc::new(ServedPool::new(r))),
        );
        s.pools
            .insert("master".into(), PoolView::Failed("no MachineConfig".into()));
        s
    }

    fn body(r: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let b = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn status_codes() {
        let s = snapshot();
        let ign = |v: &str| format!("{IGNITION_MEDIA_TYPE};version={v}");
        let cases: Vec<(Method, &str, Option<String>, u16)> = vec![
            // luks has no 2.2.0 form: the default (2.2.0) cannot be served.
            (Method::GET, "/config/worker", None, 500),
            (Method::HEAD, "/config/worker", Some(ign("3.6.0")), 200),
            (Method::GET, "/config/worker", Some(ign("3.2.0")), 200),
            (Method::GET, "/config/worker", Some(ign("3.1.0")), 500),
            (Method::GET, "/config/worker", Some(ign("4.0.0")), 400),
            (Method::GET, "/config/nope", None, 404),
            (Method::GET, "/config/master", Some(ign("3.2.0")), 503),
            (Method::GET, "/config/", None, 404),
            (Method::GET, "/config/a/worker", None, 404),
            (Method::GET, "/", None, 404),
            (Method::GET, "/healthz", None, 200),
            (Method::POST, "/config/worker", None, 405),
            (Method::PUT, "/healthz", None, 405),
            (Method::DELETE, "/other", None, 405),
        ];
        for (m, p, a, want) in cases {
            let r = respond(&s, &m, p, a.as_deref());
            assert_eq!(r.status().as_u16(), want, "{m} {p} {a:?}");
            if want == 405 {
                assert_eq!(r.headers()[ALLOW], "GET, HEAD");
            }
        }
    }

    #[test]
    fn served_headers_and_error_bodies() {
        let s = snapshot();
        let r = respond(
            &s,
            &Method::GET,
            "/config/worker",
            Some("application/vnd.coreos.ignition+json;version=3.4.0"),
        );
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            "application/vnd.coreos.ignition+json;version=3.4.0"
        );
        let len: usize = r.headers()[CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let b = body(r);
        assert_eq!(b.len(), len);
        assert!(b.contains("\"version\":\"3.4.0\""));

        let head = respond(
            &s,
            &Method::HEAD,
            "/config/worker",
            Some("application/vnd.coreos.ignition+json;version=3.4.0"),
        );
        assert_eq!(head.headers()[CONTENT_LENGTH], len.to_string().as_str());
        assert!(body(head).is_empty());

        let r = respond(
            &s,
            &Method::GET,
            "/config/worker",
            Some("application/vnd.coreos.ignition+json;version=3.0.0"),
        );
        let b = body(r);
        assert!(b.contains("$.storage.luks"), "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert!(v["error"].is_string());

        let b = body(respond(&s, &Method::GET, "/config/nope", None));
        assert!(b.contains("unknown pool"), "{b}");
    }
}
