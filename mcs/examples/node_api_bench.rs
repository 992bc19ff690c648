//! Load generator for the node API: a simulated pool of N nodes (default 50)
//! long-polls `mcs`, a new MachineConfig (an SSH key) is written to the input
//! directory, and the time from the render (the moment the server publishes
//! the new rendered config) until every node has received it is measured.
//!
//! ```sh
//! cargo run --release -p mcs --example node_api_bench [-- NODES ROUNDS]
//! ```
//!
//! The server runs in this process on its own runtime (2 worker threads),
//! the nodes on another (2 threads); each node keeps one keep-alive TLS
//! connection, as a daemon would. Results: `docs/benchmarks.md`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use machine_config::node_api;

const MC: &str = "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
metadata:\n  name: 50-worker-ssh\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
spec:\n  config:\n    ignition: {version: 3.2.0}\n    passwd:\n      users:\n      - name: core\n        sshAuthorizedKeys: [\"KEY\"]\n";

fn write_mc(dir: &std::path::Path, key: &str) {
    let tmp = dir.join(".ssh.yaml.tmp");
    std::fs::write(&tmp, MC.replace("KEY", key)).unwrap();
    std::fs::rename(&tmp, dir.join("50-ssh.yaml")).unwrap();
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(connector: &tokio_rustls::TlsConnector, addr: SocketAddr) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn { sender }
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> (u16, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.into_body().collect().await.unwrap().to_bytes())
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(50);
    let rounds = args.get(1).copied().unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_mc(&input, "ssh-ed25519 AAAA-initial bench");

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = mcs::serve::ServeOptions {
        dir: input.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: tmp.path().join("state"),
        ..Default::default()
    };
    let server = server_rt.block_on(mcs::serve::start(opts)).unwrap();
    let addr = server.tls_addr;
    let shared = server.shared.clone();
    let bootstrap =
        std::fs::read_to_string(tmp.path().join("state/bootstrap-tokens.json")).unwrap();
    let bootstrap: serde_json::Value = serde_json::from_str(&bootstrap).unwrap();
    let bootstrap = bootstrap["pools"]["worker"].as_str().unwrap().to_string();

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(server.ca_file.as_ref().unwrap()).unwrap();
    for c in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let current_name = || {
        shared
            .get()
            .served("worker")
            .map(|s| s.rendered.name.clone())
            .unwrap()
    };

    // Register every node, one connection each.
    let mut conns: Vec<(String, String, Conn)> = client_rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..nodes {
            let name = format!("node-{i:03}");
            let mut c = Conn::open(&connector, addr).await;
            let body = serde_json::to_vec(&node_api::RegisterRequest {
                name: name.clone(),
                pool: "worker".into(),
            })
            .unwrap();
            let (st, b) = c
                .call(Method::POST, node_api::REGISTER_PATH, &bootstrap, body)
                .await;
            assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
            let r: node_api::RegisterResponse = serde_json::from_slice(&b).unwrap();
            v.push((name, r.node_token, c));
        }
        v
    });
    println!("{nodes} nodes registered over TLS on loopback; {rounds} rounds");
    println!("round  write->render  render->first  render->median  render->last(all {nodes})");

    let mut worst = Duration::ZERO;
    let mut lasts = Vec::new();
    for round in 0..rounds {
        let before = current_name();
        // Every node long-polls with its current config.
        let polls: Vec<_> = conns
            .drain(..)
            .map(|(name, token, mut c)| {
                let path = node_api::desired_path(&name, Some(&before), 60);
                client_rt.spawn(async move {
                    let (st, b) = c.call(Method::GET, &path, &token, Vec::new()).await;
                    let at = Instant::now();
                    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
                    let d: node_api::DesiredResponse = serde_json::from_slice(&b).unwrap();
                    (name, token, c, d.desired_config, at)
                })
            })
            .collect();
        // Give the polls time to reach the server (not part of the measure).
        std::thread::sleep(Duration::from_millis(300));
        let mut rx = shared.subscribe();
        let written = Instant::now();
        write_mc(&input, &format!("ssh-ed25519 AAAA-round-{round} bench"));
        let rendered = server_rt.block_on(async {
            loop {
                rx.changed().await.unwrap();
                if current_name() != before {
                    return Instant::now();
                }
            }
        });
        let new = current_name();
        let mut got: Vec<Duration> = Vec::new();
        for p in polls {
            let (name, token, c, desired, at) = client_rt.block_on(p).unwrap();
            assert_eq!(desired, new, "{name}");
            got.push(at.saturating_duration_since(rendered));
            conns.push((name, token, c));
        }
        got.sort();
        let last = *got.last().unwrap();
        worst = worst.max(last);
        lasts.push(last);
        println!(
            "{round:5}  {:>13.1?}  {:>13.1?}  {:>14.1?}  {:>9.1?}",
            rendered - written,
            got[0],
            got[got.len() / 2],
            last
        );
    }
    lasts.sort();
    println!(
        "all {nodes} nodes had the new desired config at most {worst:.1?} after the render (median of rounds {:.1?}); goal < 2 s",
        lasts[lasts.len() / 2]
    );
    server_rt.block_on(server.stop());
}
