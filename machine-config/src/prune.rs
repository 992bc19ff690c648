//! Retention of rendered configs. OpenShift never deletes them; mooring
//! keeps one while a node may still be at it and prunes it after that.
//!
//! The server keeps a [`RenderHistory`]: every rendered name it has served,
//! per pool, in the order each became the pool's current config. It persists
//! it as JSON (`{"version":1,"records":[{"pool":"worker","name":
//! "rendered-worker-…","created":1700000000}, …]}`; `created` in Unix
//! seconds), and deletes what [`prune`] returns.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// One rendered config the server produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedRecord {
    pub pool: String,
    pub name: String,
    /// When it became the pool's current config (Unix seconds).
    pub created: u64,
}

/// The names that are safe to delete.
///
/// `history` is in order, oldest first; the last record of each pool is
/// that pool's current config. A name is kept when it is the current config
/// of its pool, when it is among the `keep_latest` most recent distinct
/// names of its pool (the current one counts, so 0 and 1 both keep just the
/// current one), or when it is in `in_use` (a node's current or desired
/// config). Everything else is returned, once each, oldest first. A name
/// that appears more than once (a pool that went back to an earlier config)
/// counts at its latest position.
pub fn prune(
    history: &[RenderedRecord],
    in_use: &HashSet<String>,
    keep_latest: usize,
) -> Vec<String> {
    // Latest position of each (pool, name).
    let mut latest: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in history.iter().enumerate() {
        latest.insert((&r.pool, &r.name), i);
    }
    let mut by_pool: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for ((pool, name), i) in latest {
        by_pool.entry(pool).or_default().push((i, name));
    }
    let mut doomed: Vec<(usize, String)> = Vec::new();
    for (_, mut entries) in by_pool {
        entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.0)); // newest first
        let keep = keep_latest.max(1);
        for (rank, (i, name)) in entries.into_iter().enumerate() {
            if rank < keep || in_use.contains(name) {
                continue;
            }
            doomed.push((i, name.to_string()));
        }
    }
    doomed.sort();
    let mut seen = HashSet::new();
    doomed
        .into_iter()
        .filter_map(|(_, n)| seen.insert(n.clone()).then_some(n))
        .collect()
}

/// The state file the server persists; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderHistory {
    pub version: u32,
    pub records: Vec<RenderedRecord>,
}

impl RenderHistory {
    pub const VERSION: u32 = 1;

    pub fn new() -> Self {
        RenderHistory {
            version: Self::VERSION,
            records: Vec::new(),
        }
    }

    /// Notes that `name` is now `pool`'s current config; nothing changes
    /// when it already is. Returns whether a record was added.
    pub fn record(&mut self, pool: &str, name: &str, now: u64) -> bool {
        if self.current(pool) == Some(name) {
            return false;
        }
        self.records.push(RenderedRecord {
            pool: pool.to_string(),
            name: name.to_string(),
            created: now,
        });
        true
    }

    /// The pool's current config.
    pub fn current(&self, pool: &str) -> Option<&str> {
        self.records
            .iter()
            .rev()
            .find(|r| r.pool == pool)
            .map(|r| r.name.as_str())
    }

    /// Drops the records of deleted names.
    pub fn forget(&mut self, names: &[String]) {
        let names: HashSet<&str> = names.iter().map(String::as_str).collect();
        self.records.retain(|r| !names.contains(r.name.as_str()));
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let h: RenderHistory =
            serde_json::from_str(text).map_err(|e| format!("render history: {e}"))?;
        if h.version != Self::VERSION {
            return Err(format!("render history: unsupported version {}", h.version));
        }
        Ok(h)
    }
}
