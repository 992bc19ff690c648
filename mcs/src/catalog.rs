//! What the server holds per pool between reloads: the rendered config it
//! serves (the latest good one) and the latest error. A pool that fails to
//! render keeps serving its previous rendered config; a pool that is no longer
//! defined is dropped; a render whose name did not change keeps its cached
//! responses.

use std::collections::BTreeMap;
use std::sync::Arc;

use machine_config::{InputError, Inputs, IntOrString, RenderError, RenderedPool};

use crate::fleet::PoolPolicy;
use crate::served::NodeFile;
use crate::snapshot::{PoolView, ServedPool, Snapshot};
use crate::status::{InputErrorStatus, PoolStatus};

/// One pool.
#[derive(Debug, Clone, Default)]
pub struct PoolEntry {
    /// The latest good render, if any.
    pub served: Option<Arc<ServedPool>>,
    /// Why the latest render failed.
    pub error: Option<String>,
    pub paused: bool,
    pub max_unavailable: Option<IntOrString>,
}

/// Every pool, and the input errors of the latest load.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub pools: BTreeMap<String, PoolEntry>,
    pub input_errors: Vec<InputError>,
    /// The node API files appended to each pool's config.
    pub node_files: BTreeMap<String, Arc<Vec<NodeFile>>>,
}

/// What an update changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Pools now serving a different rendered config: (pool, name).
    pub rendered: Vec<(String, String)>,
    /// Pools whose render failed: (pool, error).
    pub failed: Vec<(String, String)>,
    /// Pools no longer defined.
    pub removed: Vec<String>,
}

impl Catalog {
    /// Serves `rendered` for its pool until a render replaces it (used to
    /// start from the state directory's last rendered configs).
    pub fn seed(&mut self, rendered: RenderedPool) {
        let files = self.files(&rendered.pool);
        let entry = self.pools.entry(rendered.pool.clone()).or_default();
        entry.served = Some(Arc::new(ServedPool::with_files(rendered, files)));
    }

    /// Takes a load's results: `renders` is `machine_config::render_all(inputs)`.
    pub fn update(
        &mut self,
        inputs: &Inputs,
        input_errors: Vec<InputError>,
        renders: Vec<(String, Result<RenderedPool, RenderError>)>,
    ) -> Changes {
        let mut changes = Changes::default();
        let mut pools = BTreeMap::new();
        for (name, result) in renders {
            let prev = self.pools.remove(&name).unwrap_or_default();
            let paused = inputs.pool(&name).is_some_and(|p| p.spec.paused);
            let max_unavailable = inputs
                .pool(&name)
                .and_then(|p| p.spec.max_unavailable.clone());
            let files = self.files(&name);
            let entry = match result {
                Ok(r) => {
                    let served = match prev.served {
                        Some(s) if s.rendered.name == r.name && s.node_files == files => s,
                        Some(s) if s.rendered.name == r.name => {
                            Arc::new(ServedPool::with_files(r, files))
                        }
                        _ => {
                            changes.rendered.push((name.clone(), r.name.clone()));
                            Arc::new(ServedPool::with_files(r, files))
                        }
                    };
                    PoolEntry {
                        served: Some(served),
                        error: None,
                        paused,
                        max_unavailable,
                    }
                }
                Err(e) => {
                    changes.failed.push((name.clone(), e.to_string()));
                    PoolEntry {
                        served: prev.served,
                        error: Some(e.to_string()),
                        paused,
                        max_unavailable,
                    }
                }
            };
            pools.insert(name, entry);
        }
        changes.removed = self.pools.keys().cloned().collect();
        self.pools = pools;
        self.input_errors = input_errors;
        changes
    }

    fn files(&self, pool: &str) -> Arc<Vec<NodeFile>> {
        self.node_files.get(pool).cloned().unwrap_or_default()
    }

    /// Sets the node API files of every pool; pools whose files changed get
    /// a fresh [`ServedPool`] (their cached bodies go). Returns whether any did.
    pub fn set_node_files(&mut self, files: BTreeMap<String, Arc<Vec<NodeFile>>>) -> bool {
        self.node_files = files;
        let mut changed = false;
        let pools: Vec<String> = self.pools.keys().cloned().collect();
        for pool in pools {
            let files = self.files(&pool);
            let Some(entry) = self.pools.get_mut(&pool) else {
                continue;
            };
            if let Some(s) = &entry.served {
                if s.node_files != files {
                    entry.served =
                        Some(Arc::new(ServedPool::with_files(s.rendered.clone(), files)));
                    changed = true;
                }
            }
        }
        changed
    }

    /// The view the HTTP handlers read.
    pub fn snapshot(&self) -> Snapshot {
        let pools = self
            .pools
            .iter()
            .map(|(name, e)| {
                let view = match (&e.served, &e.error) {
                    (Some(s), _) => PoolView::Ready(s.clone()),
                    (None, Some(err)) => PoolView::Failed(err.clone()),
                    (None, None) => PoolView::Failed("not rendered yet".into()),
                };
                (name.clone(), view)
            })
            .collect();
        let policies = self
            .pools
            .iter()
            .map(|(name, e)| {
                let p = PoolPolicy {
                    paused: e.paused,
                    max_unavailable: e.max_unavailable.clone(),
                };
                (name.clone(), p)
            })
            .collect();
        Snapshot { pools, policies }
    }

    /// The pools for `status.json`.
    pub fn pool_statuses(&self) -> Vec<PoolStatus> {
        self.pools
            .iter()
            .map(|(name, e)| PoolStatus {
                name: name.clone(),
                rendered_config: e.served.as_ref().map(|s| s.rendered.name.clone()),
                paused: e.paused,
                sources: e
                    .served
                    .as_ref()
                    .map(|s| s.rendered.sources.clone())
                    .unwrap_or_default(),
                error: e.error.clone(),
                ..PoolStatus::default()
            })
            .collect()
    }

    pub fn input_error_statuses(&self) -> Vec<InputErrorStatus> {
        self.input_errors
            .iter()
            .map(InputErrorStatus::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> (Inputs, Vec<InputError>) {
        let l = machine_config::load_texts([("t.yaml".into(), yaml.to_string())]);
        (l.inputs, l.errors)
    }

    const MC: &str = "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
        metadata:\n  name: 50-w\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
        spec:\n  kernelArguments: [KARG]\n";

    #[test]
    fn failing_pool_keeps_its_last_good_render() {
        let mut c = Catalog::default();
        let (i, e) = load(&MC.replace("KARG", "a"));
        let ch = c.update(&i, e, machine_config::render_all(&i));
        // master selects nothing: an error, never served.
        assert_eq!(ch.rendered.len(), 1);
        assert_eq!(ch.failed.len(), 1);
        let first = c.pools["worker"].served.clone().unwrap();
        assert!(matches!(c.snapshot().pools["master"], PoolView::Failed(_)));

        // Same input: same Arc (caches kept), nothing new.
        let ch = c.update(&i, vec![], machine_config::render_all(&i));
        assert!(ch.rendered.is_empty());
        assert!(Arc::ptr_eq(
            &first,
            c.pools["worker"].served.as_ref().unwrap()
        ));

        // Worker now fails: still served, with the error.
        let (i2, _) = load("");
        c.update(&i2, vec![], machine_config::render_all(&i2));
        let w = &c.pools["worker"];
        assert!(w.error.is_some());
        assert_eq!(
            w.served.as_ref().unwrap().rendered.name,
            first.rendered.name
        );
        let st = c.pool_statuses();
        assert_eq!(
            st[1].rendered_config.as_deref(),
            Some(first.rendered.name.as_str())
        );
        assert!(st[1].error.is_some());
    }
}
