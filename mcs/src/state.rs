//! The state directory of `mcs serve` (default `/var/lib/mcs`, mode 0700):
//!
//! | path | what |
//! |---|---|
//! | `ca.crt`, `ca.key` (0600) | the generated CA ([`crate::tls`]) |
//! | `server.crt`, `server.key` (0600) | the generated serving certificate |
//! | `rendered/<name>.json` | every rendered MachineConfig kept (JSON) |
//! | `history.json` | which rendered config each pool had, in order ([`machine_config::RenderHistory`]) |
//! | `status.json` | pools, input errors, nodes ([`crate::status::Status`]) |
//! | `nodes.json` (0600) | registered nodes (token hashes), states, slots ([`crate::fleet`]) |
//! | `bootstrap-tokens.json` (0600) | each pool's bootstrap token ([`crate::tokens`]) |
//!
//! Pruning: after each change, `machine_config::prune` decides which rendered
//! configs to delete. A config a registered node is at or moving to (its
//! reported current or desired config) is in use and kept; besides those, each
//! pool keeps its [`KEEP_PER_POOL`] most recent rendered configs (the current
//! one included), so a node that booted from one of them can still be traced to it.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use machine_config::{MachineConfig, RenderHistory, RenderedPool};

use crate::catalog::Catalog;
use crate::status::{Status, STATUS_FILE};

/// Rendered configs each pool keeps (see the module docs).
pub const KEEP_PER_POOL: usize = 5;
pub const HISTORY_FILE: &str = "history.json";
pub const RENDERED_DIR: &str = "rendered";

/// An open state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the directory (0700) and `rendered/` when missing.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        for d in [root.to_path_buf(), root.join(RENDERED_DIR)] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .with_context(|| format!("cannot create state directory {}", d.display()))?;
        }
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn rendered_path(&self, name: &str) -> PathBuf {
        rendered_file(&self.root, name)
    }

    /// The history, or an empty one when there is none (or it is unreadable:
    /// logged, and started afresh).
    pub fn load_history(&self) -> RenderHistory {
        let path = self.root.join(HISTORY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => RenderHistory::from_json(&text).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), "ignoring the render history: {e}");
                RenderHistory::new()
            }),
            Err(_) => RenderHistory::new(),
        }
    }

    /// A kept rendered config of `pool`, ready to serve.
    pub fn load_rendered(&self, pool: &str, name: &str) -> anyhow::Result<RenderedPool> {
        let path = self.rendered_path(name);
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mc: MachineConfig = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a MachineConfig", path.display()))?;
        let raw = serde_json::to_vec(&mc.spec.config)?;
        let parsed = ignition::parse(&raw)
            .map_err(|e| anyhow::anyhow!("{}: spec.config: {e}", path.display()))?;
        if parsed.report.has_errors() {
            anyhow::bail!("{}: spec.config is invalid", path.display());
        }
        Ok(RenderedPool {
            pool: pool.to_string(),
            name: name.to_string(),
            machine_config: mc,
            ignition: parsed.config,
            sources: Vec::new(),
        })
    }

    /// Writes the rendered configs the catalog serves (those not yet
    /// written), records them in the history, prunes, and writes the history.
    /// Returns the names pruned.
    pub fn persist_renders(
        &self,
        history: &mut RenderHistory,
        catalog: &Catalog,
        now: u64,
        in_use: &HashSet<String>,
    ) -> anyhow::Result<Vec<String>> {
        for (pool, entry) in &catalog.pools {
            let Some(served) = &entry.served else {
                continue;
            };
            let r = &served.rendered;
            let path = self.rendered_path(&r.name);
            if !path.exists() {
                let mut json = serde_json::to_vec_pretty(&r.machine_config)?;
                json.push(b'\n');
                atomic_write(&path, &json, 0o644)?;
            }
            history.record(pool, &r.name, now);
        }
        let doomed = machine_config::prune(&history.records, in_use, KEEP_PER_POOL);
        for name in &doomed {
            let path = self.rendered_path(name);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), "cannot prune: {e}");
                }
            }
        }
        history.forget(&doomed);
        atomic_write(
            &self.root.join(HISTORY_FILE),
            history.to_json().as_bytes(),
            0o644,
        )?;
        Ok(doomed)
    }

    pub fn write_status(&self, status: &Status) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(status)?;
        json.push(b'\n');
        atomic_write(&self.root.join(STATUS_FILE), &json, 0o644)
    }
}

/// `rendered/<name>.json` of a state directory.
pub fn rendered_file(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(RENDERED_DIR).join(format!("{name}.json"))
}

/// Writes `path` through a temporary file (fsync) and a rename, with `mode`,
/// then syncs the directory.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{seq}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Renders = Vec<(String, Result<RenderedPool, machine_config::RenderError>)>;

    fn render(karg: &str) -> (machine_config::Inputs, Renders) {
        let yaml = format!(
            "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
             metadata:\n  name: 50-w\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
             spec:\n  kernelArguments: [{karg}]\n  config:\n    ignition: {{version: 3.2.0}}\n"
        );
        let l = machine_config::load_texts([("t.yaml".into(), yaml)]);
        let r = machine_config::render_all(&l.inputs);
        (l.inputs, r)
    }

    #[test]
    fn persists_reloads_and_prunes() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(&d.path().join("state")).unwrap();
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mut history = s.load_history();
        let mut catalog = Catalog::default();
        let mut names: Vec<String> = Vec::new();
        for i in 0..(KEEP_PER_POOL + 2) {
            let (inputs, renders) = render(&format!("k{i}"));
            catalog.update(&inputs, vec![], renders);
            let pruned = s
                .persist_renders(&mut history, &catalog, i as u64, &HashSet::new())
                .unwrap();
            let name = catalog.pools["worker"]
                .served
                .as_ref()
                .unwrap()
                .rendered
                .name
                .clone();
            assert!(s.rendered_path(&name).exists());
            if i >= KEEP_PER_POOL {
                assert_eq!(pruned, [names[i - KEEP_PER_POOL].clone()]);
            } else {
                assert!(pruned.is_empty());
            }
            names.push(name);
        }
        assert!(!s.rendered_path(&names[0]).exists());
        assert!(s.rendered_path(&names[2]).exists());

        // Reloaded from disk: the same history and a servable config.
        let again = s.load_history();
        assert_eq!(again, history);
        let current = again.current("worker").unwrap();
        let r = s.load_rendered("worker", current).unwrap();
        assert_eq!(
            r.machine_config.spec.kernel_arguments,
            [format!("k{}", KEEP_PER_POOL + 1)]
        );
        let fresh = catalog.pools["worker"].served.as_ref().unwrap();
        assert_eq!(r.ignition, fresh.rendered.ignition);
        assert_eq!(r.machine_config, fresh.rendered.machine_config);
    }
}
