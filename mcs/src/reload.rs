//! One reload: read the directory ([`crate::source`]), render every pool,
//! update the catalog, publish the new snapshot to the HTTP handlers, then
//! persist (rendered configs, history, pruning, `status.json`). And the
//! polling loop that runs it when the directory changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use machine_config::RenderHistory;

use crate::catalog::Catalog;
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
}

impl Reloader {
    /// Starts from the state directory: each pool's last rendered config is
    /// served until the directory renders it anew (so a pool whose input is
    /// broken at start-up keeps its previous config across a restart).
    pub fn new(source: DirSource, state: StateDir, shared: Arc<Shared>) -> Self {
        let history = state.load_history();
        let mut catalog = Catalog::default();
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
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reloads when the directory changed since the last poll (or never
    /// loaded). Returns whether it reloaded.
    pub fn poll(&mut self) -> bool {
        if !self.source.changed() {
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
        let pruned = self
            .state
            .persist_renders(&mut self.history, &self.catalog, now)?;
        for name in pruned {
            tracing::info!(rendered = %name, "pruned an old rendered config");
        }
        self.state.write_status(&Status {
            pools: self.catalog.pool_statuses(),
            nodes: Vec::new(),
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
