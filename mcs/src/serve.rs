//! `mcs serve`: the state directory, the TLS identity, a first load, the
//! listeners, and the directory watcher thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::nodes::NodeService;
use crate::reload::{Advertise, Reloader};
use crate::snapshot::Shared;
use crate::source::DirSource;
use crate::state::StateDir;

pub const DEFAULT_LISTEN: &str = "0.0.0.0:22623";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mcs";
/// How often the directory is polled for changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What `mcs serve` is asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    pub insecure_listen: Option<SocketAddr>,
    /// A certificate chain and key to serve instead of the generated ones.
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    /// Extra names for the generated serving certificate.
    pub sans: Vec<String>,
    pub state_dir: PathBuf,
    pub poll_interval: Duration,
    /// Base URLs nodes are told to use (`mcs.json`); empty: `https://<hostname>:<TLS port>`.
    pub advertise_urls: Vec<String>,
    /// Where to serve Prometheus metrics (plain HTTP); off when None.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve `/config/<pool>` without a token, as OpenShift's MCS does.
    pub allow_anonymous_config: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            dir: PathBuf::new(),
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            insecure_listen: None,
            tls_cert: None,
            sans: Vec::new(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            poll_interval: POLL_INTERVAL,
            advertise_urls: Vec::new(),
            metrics_listen: None,
            allow_anonymous_config: false,
        }
    }
}

/// A running server.
pub struct Running {
    /// Where HTTPS is served (the real port when 0 was asked).
    pub tls_addr: SocketAddr,
    pub insecure_addr: Option<SocketAddr>,
    /// The generated CA certificate clients should trust (None with `--tls-cert`).
    pub ca_file: Option<PathBuf>,
    pub shared: Arc<Shared>,
    /// The node API (fleet, tokens, metrics).
    pub nodes: Arc<NodeService>,
    /// Where metrics are served, when asked.
    pub metrics_addr: Option<SocketAddr>,
    /// The URLs advertised in `mcs.json`.
    pub advertise_urls: Vec<String>,
    stop: watch::Sender<bool>,
    stop_watcher: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, stops the watcher and waits for both.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.stop_watcher.store(true, Ordering::Relaxed);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(w) = self.watcher.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.stop_watcher.store(true, Ordering::Relaxed);
    }
}

/// Starts the server on the current tokio runtime and returns once it listens.
pub async fn start(opts: ServeOptions) -> anyhow::Result<Running> {
    let state = StateDir::open(&opts.state_dir)?;
    let identity = match &opts.tls_cert {
        Some((cert, key)) => crate::tls::load_files(cert, key)?,
        None => crate::tls::load_or_create(state.path(), &opts.sans)?,
    };
    let ca_file = identity.ca_file.clone();
    let acceptor = TlsAcceptor::from(crate::tls::server_config(identity)?);

    if !opts.dir.is_dir() {
        tracing::warn!(dir = %opts.dir.display(), "the input directory does not exist (yet); serving nothing until it does");
    }
    let tls = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let tls_addr = tls.local_addr()?;
    let advertise_urls: Vec<String> = if opts.advertise_urls.is_empty() {
        let host = crate::tls::hostname().unwrap_or_else(|| "localhost".into());
        vec![format!("https://{host}:{}", tls_addr.port())]
    } else {
        opts.advertise_urls
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect()
    };
    let ca_bundle = match &ca_file {
        Some(f) => Some(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        None => None,
    };

    let shared = Arc::new(Shared::default());
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let nodes = Arc::new(NodeService::open(state.path(), shared.clone(), metrics)?);
    nodes.set_allow_anonymous_config(opts.allow_anonymous_config);
    if opts.allow_anonymous_config {
        tracing::warn!("--allow-anonymous-config: anyone who reaches the server gets the pools' configs and bootstrap tokens");
    }
    let advertise = Advertise {
        servers: advertise_urls.clone(),
        ca_bundle,
    };
    let mut reloader = Reloader::new(
        DirSource::new(&opts.dir),
        state,
        shared.clone(),
        nodes.clone(),
        advertise,
    );
    reloader.poll();

    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tracing::info!(addr = %tls_addr, dir = %opts.dir.display(), advertise = ?advertise_urls, "serving HTTPS");
    tasks.push(tokio::spawn(crate::listener::serve_tls(
        tls,
        acceptor,
        nodes.clone(),
        stop_rx.clone(),
    )));
    let mut metrics_addr = None;
    if let Some(addr) = opts.metrics_listen {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (metrics)"))?;
        let a = l.local_addr()?;
        tracing::info!(addr = %a, "serving metrics at /metrics");
        metrics_addr = Some(a);
        tasks.push(tokio::spawn(crate::metrics::serve(
            l,
            nodes.clone(),
            stop_rx.clone(),
        )));
    }
    let mut insecure_addr = None;
    if let Some(addr) = opts.insecure_listen {
        let plain = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let a = plain.local_addr()?;
        tracing::warn!(addr = %a, "also serving plain HTTP (--insecure-listen): configs travel unencrypted");
        insecure_addr = Some(a);
        tasks.push(tokio::spawn(crate::listener::serve_plain(
            plain,
            nodes.clone(),
            stop_rx,
        )));
    }

    let stop_watcher = Arc::new(AtomicBool::new(false));
    let flag = stop_watcher.clone();
    let interval = opts.poll_interval;
    let watcher = std::thread::Builder::new()
        .name("mcs-watch".into())
        .spawn(move || reloader.run(interval, flag))
        .context("cannot start the directory watcher")?;

    Ok(Running {
        tls_addr,
        insecure_addr,
        ca_file,
        shared,
        nodes,
        metrics_addr,
        advertise_urls,
        stop,
        stop_watcher,
        tasks,
        watcher: Some(watcher),
    })
}

/// `mcs serve`: runs until SIGINT or SIGTERM.
pub fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mcs")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = start(opts).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
        running.stop().await;
        Ok(())
    })
}
