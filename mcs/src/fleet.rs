//! The fleet: registered nodes, their reported states, and the rollout
//! slots of each pool. Pure: every operation is a method on [`Fleet`] that
//! changes it in memory and says what happened; the caller
//! ([`crate::nodes`]) persists it (`nodes.json`) and answers HTTP.
//!
//! Rules:
//! - A node registers with its pool's bootstrap token and gets its own token;
//!   only the token's SHA-256 is kept. Registering again replaces the token.
//! - Slots are FleetLock's semaphore per pool: a holder may lock again
//!   (recursive), unlock releases only what it holds (success otherwise).
//!   A new holder needs a free slot (`maxUnavailable` of the pool's registered
//!   nodes, see [`IntOrString::scaled`]) and a pool that is not paused.
//! - A node that reports `Done` with its current config equal to its desired
//!   config releases its slot.
//! - The desired config of a node is its pool's rendered config; in a paused
//!   pool, a node keeps what it is at (or, when it holds a slot, finishes
//!   moving to what it reported as desired).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use machine_config::node_api::{NodeState, NodeStatus, StatusReport};
use machine_config::IntOrString;
use serde::{Deserialize, Serialize};

/// `nodes.json` in the state directory.
pub const NODES_FILE: &str = "nodes.json";

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub name: String,
    pub pool: String,
    /// SHA-256 (hex) of the node token.
    pub token_sha256: String,
    pub state: Option<NodeState>,
    pub current_config: Option<String>,
    pub desired_config: Option<String>,
    #[serde(default)]
    pub reason: String,
    pub registered: u64,
    pub updated: u64,
}

/// Everything persisted in `nodes.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    pub version: u32,
    pub nodes: BTreeMap<String, Node>,
    /// Slot holders (FleetLock ids) per pool.
    pub slots: BTreeMap<String, BTreeSet<String>>,
}

/// What a pool allows, from its MachineConfigPool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolPolicy {
    pub paused: bool,
    pub max_unavailable: Option<IntOrString>,
}

/// Why a slot was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRefused {
    Full { held: Vec<String>, max: usize },
    Paused,
}

impl std::fmt::Display for LockRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockRefused::Full { held, max } => write!(
                f,
                "all {max} slot(s) of the pool are taken (by {})",
                held.join(", ")
            ),
            LockRefused::Paused => f.write_str("the pool is paused: no new slots"),
        }
    }
}

impl Fleet {
    pub const VERSION: u32 = 1;

    pub fn new() -> Self {
        Fleet {
            version: Self::VERSION,
            ..Fleet::default()
        }
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let f: Fleet = serde_json::from_str(text).map_err(|e| format!("nodes: {e}"))?;
        if f.version != Self::VERSION {
            return Err(format!("nodes: unsupported version {}", f.version));
        }
        Ok(f)
    }

    /// Registers (or re-registers) a node with the hash of its new token.
    /// A node moving to another pool gives up its slot in the old one.
    pub fn register(&mut self, name: &str, pool: &str, token_sha256: String, now: u64) {
        if let Some(old) = self.nodes.get(name) {
            if old.pool != pool {
                let old_pool = old.pool.clone();
                self.unlock(&old_pool, name);
            }
        }
        let node = self.nodes.entry(name.to_string()).or_insert_with(|| Node {
            name: name.to_string(),
            pool: pool.to_string(),
            token_sha256: String::new(),
            state: None,
            current_config: None,
            desired_config: None,
            reason: String::new(),
            registered: now,
            updated: now,
        });
        node.pool = pool.to_string();
        node.token_sha256 = token_sha256;
        node.registered = now;
    }

    /// The node whose token hashes to `token_sha256`, when it is `name`'s.
    pub fn authenticate(&self, name: &str, token_sha256: &str) -> Option<&Node> {
        self.nodes
            .get(name)
            .filter(|n| crate::tokens::same_hash(&n.token_sha256, token_sha256))
    }

    /// The node whose token hashes to `token_sha256`, whichever it is.
    pub fn node_by_token(&self, token_sha256: &str) -> Option<&Node> {
        self.nodes
            .values()
            .find(|n| crate::tokens::same_hash(&n.token_sha256, token_sha256))
    }

    /// Records a status report; returns whether a slot was released (Done on the desired config).
    pub fn report(&mut self, name: &str, r: &StatusReport, now: u64) -> bool {
        let Some(node) = self.nodes.get_mut(name) else {
            return false;
        };
        node.state = Some(r.state);
        node.current_config = Some(r.current_config.clone());
        node.desired_config = Some(r.desired_config.clone());
        node.reason = r.reason.clone();
        node.updated = now;
        if r.state == NodeState::Done && r.current_config == r.desired_config {
            let pool = node.pool.clone();
            return self.unlock(&pool, name);
        }
        false
    }

    pub fn holds(&self, pool: &str, id: &str) -> bool {
        self.slots.get(pool).is_some_and(|s| s.contains(id))
    }

    /// How many slots `pool` has with its registered nodes.
    pub fn max_slots(&self, pool: &str, policy: &PoolPolicy) -> usize {
        let total = self.nodes.values().filter(|n| n.pool == pool).count();
        match &policy.max_unavailable {
            None => 1,
            Some(m) => m.scaled(total).unwrap_or_else(|e| {
                tracing::warn!(pool, "maxUnavailable: {e}; using 1");
                1
            }),
        }
    }

    /// FleetLock's RecursiveLock. `Ok(true)` when a slot was newly taken,
    /// `Ok(false)` when `id` already held one.
    pub fn lock(&mut self, pool: &str, id: &str, policy: &PoolPolicy) -> Result<bool, LockRefused> {
        if self.holds(pool, id) {
            return Ok(false);
        }
        if policy.paused {
            return Err(LockRefused::Paused);
        }
        let max = self.max_slots(pool, policy);
        let held = self.slots.entry(pool.to_string()).or_default();
        if held.len() >= max {
            return Err(LockRefused::Full {
                held: held.iter().cloned().collect(),
                max,
            });
        }
        held.insert(id.to_string());
        Ok(true)
    }

    /// FleetLock's UnlockIfHeld; returns whether a slot was released.
    pub fn unlock(&mut self, pool: &str, id: &str) -> bool {
        let Some(held) = self.slots.get_mut(pool) else {
            return false;
        };
        let released = held.remove(id);
        if held.is_empty() {
            self.slots.remove(pool);
        }
        released
    }

    /// The config `name` should be at, given its pool's rendered config.
    /// `current` is what the node says it is at (the long-poll's query).
    pub fn desired(
        &self,
        name: &str,
        pool_config: &str,
        policy: &PoolPolicy,
        current: Option<&str>,
    ) -> String {
        if !policy.paused {
            return pool_config.to_string();
        }
        let node = self.nodes.get(name);
        let holds = node.is_some_and(|n| self.holds(&n.pool, name));
        let recorded = node.and_then(|n| {
            if holds {
                n.desired_config.as_deref().or(n.current_config.as_deref())
            } else {
                n.current_config.as_deref()
            }
        });
        recorded.or(current).unwrap_or(pool_config).to_string()
    }

    /// Rendered configs nodes are at or moving to (never pruned).
    pub fn in_use(&self) -> HashSet<String> {
        self.nodes
            .values()
            .flat_map(|n| [n.current_config.clone(), n.desired_config.clone()])
            .flatten()
            .collect()
    }

    /// The nodes as `mcs status` shows them.
    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes
            .values()
            .map(|n| NodeStatus {
                name: n.name.clone(),
                pool: n.pool.clone(),
                state: n.state,
                current_config: n.current_config.clone(),
                desired_config: n.desired_config.clone(),
                reason: n.reason.clone(),
                holds_slot: self.holds(&n.pool, &n.name),
                registered: n.registered,
                updated: n.updated,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(nodes: &[(&str, &str)]) -> Fleet {
        let mut f = Fleet::new();
        for (n, p) in nodes {
            f.register(n, p, crate::tokens::hash(n), 1);
        }
        f
    }

    fn report(state: NodeState, cur: &str, des: &str) -> StatusReport {
        StatusReport {
            state,
            current_config: cur.into(),
            desired_config: des.into(),
            reason: String::new(),
        }
    }

    #[test]
    fn max_slots_follow_max_unavailable() {
        let f = fleet(&[
            ("a", "w"),
            ("b", "w"),
            ("c", "w"),
            ("d", "w"),
            ("e", "w"),
            ("m", "m"),
        ]);
        let p = |m: Option<IntOrString>| PoolPolicy {
            paused: false,
            max_unavailable: m,
        };
        // (maxUnavailable, slots for the 5 workers)
        let cases = [
            (None, 1),
            (Some(IntOrString::Int(2)), 2),
            (Some(IntOrString::Int(0)), 1),
            (Some(IntOrString::String("50%".into())), 2),
            (Some(IntOrString::String("10%".into())), 1),
            (Some(IntOrString::String("100%".into())), 5),
            (Some(IntOrString::String("bad".into())), 1),
        ];
        for (m, want) in cases {
            assert_eq!(f.max_slots("w", &p(m.clone())), want, "{m:?}");
        }
        assert_eq!(
            f.max_slots("nobody", &p(Some(IntOrString::String("50%".into())))),
            1
        );
    }

    #[test]
    fn fleetlock_semantics() {
        let mut f = fleet(&[("a", "w"), ("b", "w")]);
        let open = PoolPolicy::default();
        assert_eq!(f.lock("w", "a", &open), Ok(true));
        assert_eq!(f.lock("w", "a", &open), Ok(false), "recursive");
        assert!(matches!(
            f.lock("w", "b", &open),
            Err(LockRefused::Full { max: 1, .. })
        ));
        assert!(
            !f.unlock("w", "b"),
            "b holds nothing: success, nothing released"
        );
        assert!(f.holds("w", "a"));
        assert!(f.unlock("w", "a"));
        assert!(!f.unlock("w", "a"));
        let paused = PoolPolicy {
            paused: true,
            ..PoolPolicy::default()
        };
        assert_eq!(f.lock("w", "b", &open), Ok(true));
        assert_eq!(
            f.lock("w", "b", &paused),
            Ok(false),
            "a holder keeps its slot"
        );
        f.unlock("w", "b");
        assert_eq!(f.lock("w", "b", &paused), Err(LockRefused::Paused));
    }

    #[test]
    fn done_on_desired_releases() {
        let mut f = fleet(&[("a", "w")]);
        f.lock("w", "a", &PoolPolicy::default()).unwrap();
        assert!(!f.report("a", &report(NodeState::Working, "r1", "r2"), 2));
        assert!(!f.report("a", &report(NodeState::Done, "r1", "r2"), 3));
        assert!(f.holds("w", "a"));
        assert!(f.report("a", &report(NodeState::Done, "r2", "r2"), 4));
        assert!(!f.holds("w", "a"));
        assert_eq!(f.in_use(), HashSet::from(["r2".to_string()]));
    }

    #[test]
    fn desired_in_paused_pools() {
        let mut f = fleet(&[("a", "w"), ("b", "w")]);
        let paused = PoolPolicy {
            paused: true,
            ..PoolPolicy::default()
        };
        let open = PoolPolicy::default();
        assert_eq!(f.desired("a", "r3", &open, Some("r1")), "r3");
        // Unknown to the server yet: what it says it is at.
        assert_eq!(f.desired("a", "r3", &paused, Some("r1")), "r1");
        assert_eq!(f.desired("a", "r3", &paused, None), "r3");
        f.report("a", &report(NodeState::Done, "r1", "r1"), 2);
        assert_eq!(f.desired("a", "r3", &paused, Some("r0")), "r1");
        // b holds a slot moving to r2: it finishes.
        f.lock("w", "b", &open).unwrap();
        f.report("b", &report(NodeState::Working, "r1", "r2"), 2);
        assert_eq!(f.desired("b", "r3", &paused, Some("r1")), "r2");
    }

    #[test]
    fn reregistering_replaces_the_token_and_moving_pools_frees_the_slot() {
        let mut f = fleet(&[("a", "w")]);
        assert!(f.authenticate("a", &crate::tokens::hash("a")).is_some());
        f.lock("w", "a", &PoolPolicy::default()).unwrap();
        f.register("a", "w", crate::tokens::hash("new"), 2);
        assert!(f.authenticate("a", &crate::tokens::hash("a")).is_none());
        assert!(f.authenticate("a", &crate::tokens::hash("new")).is_some());
        assert!(f.holds("w", "a"));
        f.register("a", "m", crate::tokens::hash("new"), 3);
        assert!(!f.holds("w", "a"));
        let back = Fleet::from_json(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
