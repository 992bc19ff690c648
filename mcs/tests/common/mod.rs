//! Helpers shared by the integration tests: input YAML, a server on
//! loopback, and an HTTPS client that trusts the server's generated CA.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use mcs::serve::{Running, ServeOptions};

/// A MachineConfig document for a role, with a spec (YAML under `spec:`).
pub fn mc(name: &str, role: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
         metadata:\n  name: {name}\n  labels:\n    machineconfiguration.openshift.io/role: {role}\n\
         spec:\n{spec}"
    )
}

/// A worker MachineConfig writing `/etc/<file>` with `text`, plus a kernel argument.
pub fn worker_file(name: &str, file: &str, text: &str) -> String {
    mc(
        name,
        "worker",
        &format!(
            "kernelArguments: [quiet]\nconfig:\n  ignition: {{version: 3.2.0}}\n  storage:\n    files:\n    - path: /etc/{file}\n      mode: 0644\n      contents: {{source: 'data:,{text}'}}"
        ),
    )
}

/// A temporary input directory and state directory.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("in")).expect("mkdir");
        Dirs { tmp }
    }
    pub fn input(&self) -> PathBuf {
        self.tmp.path().join("in")
    }
    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn write(&self, file: &str, text: &str) {
        // Through a rename, as editors and `git checkout` do.
        let tmp = self.tmp.path().join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, self.input().join(file)).expect("rename");
    }
    /// The serving tests fetch `/config/<pool>` without a token (`--allow-anonymous-config`);
    /// [`Dirs::options_with_auth`] is the default server, which requires one.
    pub fn options(&self) -> ServeOptions {
        ServeOptions {
            allow_anonymous_config: true,
            ..self.options_with_auth()
        }
    }
    pub fn options_with_auth(&self) -> ServeOptions {
        ServeOptions {
            dir: self.input(),
            listen: "127.0.0.1:0".parse().unwrap(),
            insecure_listen: Some("127.0.0.1:0".parse().unwrap()),
            state_dir: self.state(),
            ..ServeOptions::default()
        }
    }
    pub async fn start(&self) -> Running {
        mcs::serve::start(self.options())
            .await
            .expect("server starts")
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    /// The served config, parsed by our engine (panics on errors).
    pub fn config(&self) -> ignition::Parsed {
        let parsed = ignition::parse(&self.body).expect("parses");
        assert!(!parsed.report.has_errors(), "{:?}", parsed.report);
        parsed
    }
}

/// An HTTPS client trusting one CA file.
pub struct Client {
    connector: tokio_rustls::TlsConnector,
    addr: SocketAddr,
}

impl Client {
    pub fn new(ca_file: &Path, addr: SocketAddr) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca_file).expect("ca file");
        for c in rustls_pemfile::certs(&mut &pem[..]) {
            roots.add(c.expect("pem")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Client {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            addr,
        }
    }

    pub fn for_server(r: &Running) -> Self {
        Client::new(r.ca_file.as_deref().expect("generated CA"), r.tls_addr)
    }

    pub async fn get(&self, path: &str, accept: Option<&str>) -> Resp {
        self.request(Method::GET, path, accept).await
    }

    pub async fn request(&self, method: Method, path: &str, accept: Option<&str>) -> Resp {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        self.call(method, path, &headers, Bytes::new()).await
    }

    /// Any request, with headers and a body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        send(TokioIo::new(tls), method, path, headers, body.into()).await
    }

    /// `POST` of a JSON value with a bearer token (and extra headers).
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &auth {
            h.push(("authorization", a));
        }
        self.call(Method::POST, path, &h, serde_json::to_vec(body).unwrap())
            .await
    }

    /// `GET` with a bearer token.
    pub async fn get_auth(&self, path: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.call(Method::GET, path, &[("authorization", &auth)], Bytes::new())
            .await
    }
}

/// Plain HTTP.
pub async fn plain_get(addr: SocketAddr, path: &str) -> Resp {
    plain_get_with(addr, path, &[]).await
}

/// Plain HTTP with headers.
pub async fn plain_get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    send(TokioIo::new(tcp), Method::GET, path, headers, Bytes::new()).await
}

async fn send<IO>(io: IO, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> Resp
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .expect("http");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body)).unwrap())
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

/// The Accept header of a spec version.
pub fn accept(version: &str) -> String {
    format!("application/vnd.coreos.ignition+json;version={version}")
}

/// The rendered name served for a pool (from the node annotations file).
pub async fn served_name(c: &Client, pool: &str) -> Option<String> {
    let r = c
        .get(&format!("/config/{pool}"), Some(&accept("3.6.0")))
        .await;
    if r.status != StatusCode::OK {
        return None;
    }
    let cfg = r.config().config;
    let text = file_text(&cfg, mcs::served::NODE_ANNOTATIONS_PATH);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v[mcs::served::CURRENT_CONFIG].as_str().map(str::to_string)
}

/// The decoded contents of a file of a config.
pub fn file_text(cfg: &ignition::Config, path: &str) -> String {
    let f = cfg
        .storage
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path}"));
    let src = f.contents.source.as_deref().expect("contents");
    String::from_utf8(ignition::dataurl::decode(src).expect("data URL").data).expect("utf-8")
}

/// Polls `f` every 20 ms until it is true or `limit` passes; returns the time it took.
pub async fn wait_for<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
