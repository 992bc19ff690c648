//! One reload: read the directory ([`crate::source`]), render every pool,
//! update the catalog, publish the new snapshot to the HTTP handlers, then
//! persist (rendered configs, history, pruning, `status.json`). And the
//! polling loop that runs it when the directory changes, or republishes the
//! configs when a bootstrap token was rotated.
//!
//! Each pool's served config carries the node API files ([`node_files`]):
//! `mcs.json` (the advertised URLs, the pool, the CA) and the pool's
//! bootstrap token (mode 0600), created on the pool's first render.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use machine_config::node_api::{McsJson, BOOTSTRAP_TOKEN_PATH, MCS_JSON_PATH, TOKEN_MODE};
use machine_config::RenderHistory;

use crate::catalog::Catalog;
use crate::nodes::NodeService;
use crate::served::NodeFile;
use crate::snapshot::Shared;
use crate::source::DirSource;
use crate::state::StateDir;
use crate::status::Status;

/// Everything a reload reads and updates.
pub struct Reloader {
    source: DirSource,
    catalog: Catalog,
    state: StateDir,
    history: RenderHistory,
    shared: Arc<Shared>,
    nodes: Arc<NodeService>,
    advertise: Advertise,
}

/// What `mcs.json` tells nodes about the server.
#[derive(Debug, Clone, Default)]
pub struct Advertise {
    /// Base URLs (no trailing slash).
    pub servers: Vec<String>,
    /// The CA certificate(s) to trust, PEM; None with `--tls-cert`.
    pub ca_bundle: Option<String>,
}

/// The node API files of `pool`'s config: `mcs.json` and, when the pool has
/// one, its bootstrap token.
pub fn node_files(advertise: &Advertise, pool: &str, token: Option<&str>) -> Vec<NodeFile> {
    let mcs = McsJson {
        servers: advertise.servers.clone(),
        pool: pool.to_string(),
        ca_bundle: advertise.ca_bundle.clone(),
    };
    let mut json = serde_json::to_string_pretty(&mcs).unwrap_or_default();
    json.push('\n');
    let mut files = vec![NodeFile {
        path: MCS_JSON_PATH.to_string(),
        contents: json,
        mode: 0o644,
    }];
    if let Some(t) = token {
        files.push(NodeFile {
            path: BOOTSTRAP_TOKEN_PATH.to_string(),
            contents: format!("{t}\n"),
            mode: i64::from(TOKEN_MODE),
        });
    }
    files
}

impl Reloader {
    /// Starts from the state directory: each pool's last rendered config is
    /// served until the directory renders it anew (so a pool whose input is
    /// broken at start-up keeps its previous config across a restart).
    pub fn new(
        source: DirSource,
        state: StateDir,
        shared: Arc<Shared>,
        nodes: Arc<NodeService>,
        advertise: Advertise,
    ) -> Self {
        let history = state.load_history();
        let mut catalog = Catalog::default();
        let pools: Vec<&str> = history.records.iter().map(|r| r.pool.as_str()).collect();
        catalog.node_files = nodes.with_tokens(|t| {
            pools
                .iter()
                .map(|p| (p.to_string(), Arc::new(node_files(&advertise, p, t.get(p)))))
                .collect()
        });
        let mut pools: Vec<&str> = history.records.iter().map(|r| r.pool.as_str()).collect();
        pools.sort_unstable();
        pools.dedup();
        for pool in pools {
            let Some(name) = history.current(pool) else {
                continue;
            };
            match state.load_rendered(pool, name) {
                Ok(r) => catalog.seed(r),
                Err(e) => tracing::warn!(pool, "cannot use the last rendered config: {e:#}"),
            }
        }
        Reloader {
            source,
            catalog,
            state,
            history,
            shared,
            nodes,
            advertise,
        }
    }

    /// Creates missing bootstrap tokens for `pools` and returns every pool's node files.
    fn pool_files(&self, pools: &[&str]) -> BTreeMap<String, Arc<Vec<NodeFile>>> {
        self.nodes.with_tokens(|t| {
            if let Err(e) = t.ensure(pools) {
                tracing::error!("cannot create bootstrap tokens: {e:#}");
            }
            pools
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        Arc::new(node_files(&self.advertise, p, t.get(p))),
                    )
                })
                .collect()
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reloads when the directory changed since the last poll (or never
    /// loaded). Returns whether it reloaded.
    pub fn poll(&mut self) -> bool {
        if !self.source.changed() {
            if self.nodes.with_tokens(|t| t.refresh()) {
                let pools: Vec<String> = self.catalog.pools.keys().cloned().collect();
                let pools: Vec<&str> = pools.iter().map(String::as_str).collect();
                let files = self.pool_files(&pools);
                if self.catalog.set_node_files(files) {
                    self.shared.set(self.catalog.snapshot());
                    tracing::info!("a bootstrap token changed: serving it from now on");
                }
            }
            return false;
        }
        self.reload();
        true
    }

    /// Loads, renders, publishes and persists (see the module docs).
    pub fn reload(&mut self) {
        let started = Instant::now();
        let load = self.source.load();
        for e in &load.errors {
            tracing::warn!(file = %e.file.display(), document = e.document, "input refused: {}", e.message);
        }
        for f in &load.kept_last_good {
            tracing::warn!(file = %f.display(), "serving the last good version of this file");
        }
        let renders = machine_config::render_all(&load.inputs);
        let pools: Vec<&str> = renders.iter().map(|(p, _)| p.as_str()).collect();
        self.catalog.node_files = self.pool_files(&pools);
        let changes = self.catalog.update(&load.inputs, load.errors, renders);
        self.shared.set(self.catalog.snapshot());
        for (pool, name) in &changes.rendered {
            tracing::info!(pool = %pool, rendered = %name, "serving a new rendered config");
        }
        for (pool, err) in &changes.failed {
            let keeps = self.catalog.pools.get(pool).and_then(|e| e.served.as_ref());
            match keeps {
                Some(s) => {
                    tracing::error!(pool = %pool, serving = %s.rendered.name, "render failed, still serving the previous config: {err}")
                }
                None => tracing::error!(pool = %pool, "render failed, nothing to serve: {err}"),
            }
        }
        for pool in &changes.removed {
            tracing::info!(pool = %pool, "pool no longer defined, not served");
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reloaded"
        );
        if let Err(e) = self.persist() {
            tracing::error!("cannot update the state directory: {e:#}");
        }
    }

    fn persist(&mut self) -> anyhow::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let pruned = self.state.persist_renders(
            &mut self.history,
            &self.catalog,
            now,
            &self.nodes.in_use(),
        )?;
        for name in pruned {
            tracing::info!(rendered = %name, "pruned an old rendered config");
        }
        self.state.write_status(&Status {
            pools: self.catalog.pool_statuses(),
            nodes: self.nodes.fleet().statuses(),
            input_errors: self.catalog.input_error_statuses(),
            dir: self.source.dir().display().to_string(),
            updated: now,
        })
    }

    /// Polls every `interval` until `stop` is set. A panic in a reload is
    /// logged and the loop goes on serving the previous snapshot.
    pub fn run(mut self, interval: Duration, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(interval);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.poll()));
            if r.is_err() {
                tracing::error!("a reload panicked; still serving the previous configs");
            }
        }
    }
}
