//! What the HTTP handlers read: an immutable view of every pool, replaced as
//! a whole after each reload. Each served pool carries one lazily filled
//! response slot per spec version, so a (pool, version) body is computed at
//! most once per rendered config, on the first request that asks for it;
//! a pool whose rendered config did not change keeps its slots across reloads.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use ignition::SpecVersion;
use machine_config::RenderedPool;

use crate::fleet::PoolPolicy;
use crate::negotiate::{self, SERVED};
use crate::served::{self, NodeFile};

/// A served body, or why the version cannot be served.
pub type Body = Result<Bytes, String>;

/// One rendered config and its per-version responses.
#[derive(Debug)]
pub struct ServedPool {
    pub rendered: RenderedPool,
    /// The node API files appended to it (`mcs.json`, the bootstrap token).
    pub node_files: Arc<Vec<NodeFile>>,
    bodies: [OnceLock<Body>; SERVED.len()],
    /// The MachineConfig as JSON (`GET /v1/rendered/<name>`), computed on first use.
    json: OnceLock<Bytes>,
}

impl ServedPool {
    pub fn new(rendered: RenderedPool) -> Self {
        Self::with_files(rendered, Arc::default())
    }

    pub fn with_files(rendered: RenderedPool, node_files: Arc<Vec<NodeFile>>) -> Self {
        ServedPool {
            rendered,
            node_files,
            bodies: Default::default(),
            json: OnceLock::new(),
        }
    }

    /// The rendered MachineConfig as JSON.
    pub fn machine_config_json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                let mut v = serde_json::to_vec(&self.rendered.machine_config).unwrap_or_default();
                v.push(b'\n');
                Bytes::from(v)
            })
            .clone()
    }

    /// The body for `version` (computed on first use).
    pub fn body(&self, version: SpecVersion) -> &Body {
        static UNSERVED: OnceLock<Body> = OnceLock::new();
        let Some(i) = negotiate::index(version) else {
            return UNSERVED.get_or_init(|| Err("not a served spec version".into()));
        };
        self.bodies[i].get_or_init(|| {
            served::config_bytes(&self.rendered, &self.node_files, version)
                .map(Bytes::from)
                .map_err(|e| e.to_string())
        })
    }

    /// Computes every version now (used by benchmarks and tests).
    pub fn warm(&self) {
        for v in SERVED {
            let _ = self.body(v);
        }
    }
}

/// A pool as the server knows it.
#[derive(Debug, Clone)]
pub enum PoolView {
    /// Served: the latest good render.
    Ready(Arc<ServedPool>),
    /// Defined, but never rendered successfully; the reason.
    Failed(String),
}

/// Every pool by name.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pools: BTreeMap<String, PoolView>,
    /// `paused` and `maxUnavailable` of each defined pool.
    pub policies: BTreeMap<String, PoolPolicy>,
}

impl Snapshot {
    /// The rendered config a pool serves, if any.
    pub fn served(&self, pool: &str) -> Option<&Arc<ServedPool>> {
        match self.pools.get(pool) {
            Some(PoolView::Ready(s)) => Some(s),
            _ => None,
        }
    }
}

/// The current snapshot, swapped atomically by the reloader; every swap
/// bumps a generation that long-polls wait on ([`Shared::subscribe`]).
#[derive(Debug)]
pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new(Snapshot::default())
    }
}

impl Shared {
    pub fn new(snapshot: Snapshot) -> Self {
        Shared {
            current: RwLock::new(Arc::new(snapshot)),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that sees every later [`Shared::set`].
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn get(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn set(&self, snapshot: Snapshot) {
        let new = Arc::new(snapshot);
        match self.current.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
        self.generation.send_modify(|g| *g += 1);
    }
}
