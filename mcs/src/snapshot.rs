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

use crate::negotiate::{self, SERVED};
use crate::served;

/// A served body, or why the version cannot be served.
pub type Body = Result<Bytes, String>;

/// One rendered config and its per-version responses.
#[derive(Debug)]
pub struct ServedPool {
    pub rendered: RenderedPool,
    bodies: [OnceLock<Body>; SERVED.len()],
}

impl ServedPool {
    pub fn new(rendered: RenderedPool) -> Self {
        ServedPool {
            rendered,
            bodies: Default::default(),
        }
    }

    /// The body for `version` (computed on first use).
    pub fn body(&self, version: SpecVersion) -> &Body {
        static UNSERVED: OnceLock<Body> = OnceLock::new();
        let Some(i) = negotiate::index(version) else {
            return UNSERVED.get_or_init(|| Err("not a served spec version".into()));
        };
        self.bodies[i].get_or_init(|| {
            served::config_bytes(&self.rendered, version)
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
}

/// The current snapshot, swapped atomically by the reloader.
#[derive(Debug, Default)]
pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
}

impl Shared {
    pub fn new(snapshot: Snapshot) -> Self {
        Shared {
            current: RwLock::new(Arc::new(snapshot)),
        }
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
    }
}
