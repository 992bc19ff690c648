//! The journal that makes an apply all-or-nothing.
//!
//! Before the first change, every path the apply will touch is saved in [`TXN_DIR`] (a hard
//! link to the old file, or a copy across filesystems; nothing for a path that does not exist),
//! the directories it will create are noted, the filesystem is synced, and [`JOURNAL`] is
//! written (phase `prepared`) and fsynced. Replacements never modify a file in place (they
//! rename a new file over it), so a hard link keeps the old contents. After the last change and
//! `currentconfig`, the journal turns to `committed`, then the backups and the journal go.
//!
//! Recovery (any later run): a `prepared` journal is rolled back (every path gets its saved
//! state back, created directories and temporary files go, a staged deployment is cleaned up);
//! a `committed` one is finished. Both are idempotent, so a crash during recovery is fine too.

use std::path::Path;

use anyhow::{Context, Result};
use ignition::exec::root::Root;
use serde::{Deserialize, Serialize};

use super::fsops;
use crate::hooks;
use crate::paths::{JOURNAL, TXN_DIR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Prepared,
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The in-root path, resolved.
    pub path: String,
    /// The name of its saved state in the backup directory; `None`: it did not exist.
    pub backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub phase: Phase,
    pub from: String,
    pub to: String,
    pub entries: Vec<Entry>,
    /// Directories the apply creates (outermost missing ones): removed on rollback.
    pub created_dirs: Vec<String>,
    /// rpm-ostree was started: a rollback cleans up the pending deployment.
    pub os_started: bool,
    #[serde(default)]
    pub sysroot: Option<String>,
    /// The deployment ids (`CHECKSUM.SERIAL`, boot order) before rpm-ostree was started, on an
    /// ostree sysroot: what a rollback restores when deployments are written directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_before: Option<Vec<String>>,
}

fn write(root: &Root, j: &Journal) -> Result<()> {
    let data = serde_json::to_vec_pretty(j)?;
    fsops::write_atomic(root, JOURNAL, &data, 0o600, None, true)
}

pub fn read(root: &Root) -> Result<Option<Journal>> {
    match std::fs::read(root.host(JOURNAL)) {
        Ok(raw) => Ok(Some(
            serde_json::from_slice(&raw).with_context(|| format!("reading {JOURNAL}"))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {JOURNAL}")),
    }
}

/// The proper ancestors of an in-root path, innermost first (`/a/b/c`: `/a/b`, `/a`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = path;
    std::iter::from_fn(move || {
        let i = cur.rfind('/')?;
        if i == 0 {
            return None;
        }
        cur = &cur[..i];
        Some(cur)
    })
}

/// Saves the state of `touched` and writes the journal.
pub fn prepare(
    root: &Root,
    from: &str,
    to: &str,
    touched: &[String],
    sysroot: Option<&Path>,
) -> Result<Journal> {
    let txn = root.host(TXN_DIR);
    if txn.exists() {
        std::fs::remove_dir_all(&txn).with_context(|| format!("removing a stale {TXN_DIR}"))?;
    }
    fsops::prepare(root, TXN_DIR)?;
    std::fs::create_dir(&txn).with_context(|| format!("creating {TXN_DIR}"))?;
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    let mut created = Vec::new();
    let mut dirs = fsops::Dirs::default();
    let mut created_set = std::collections::HashSet::new();
    for p in touched {
        let resolved = dirs
            .resolve(root, p)
            .with_context(|| format!("resolving {p}"))?;
        if !seen.insert(resolved.clone()) {
            continue;
        }
        let host = root.host(&resolved);
        let backup = match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => anyhow::bail!("{p} is a directory; refusing to replace it"),
            Ok(_) => {
                let name = entries.len().to_string();
                fsops::link_or_copy(&host, &txn.join(&name))
                    .with_context(|| format!("saving {p}"))?;
                hooks::point();
                Some(name)
            }
            Err(_) if dirs.parent_known(p) => None,
            // Below a directory already noted as created: nothing new to note.
            Err(_) if ancestors(&resolved).any(|a| created_set.contains(a)) => None,
            Err(_) => {
                let missing = root.first_missing(&resolved);
                if missing != resolved && created_set.insert(missing.clone()) {
                    created.push(missing);
                }
                None
            }
        };
        entries.push(Entry {
            path: resolved,
            backup,
        });
    }
    let j = Journal {
        version: 1,
        phase: Phase::Prepared,
        from: from.into(),
        to: to.into(),
        entries,
        created_dirs: created,
        os_started: false,
        sysroot: sysroot.map(|s| s.display().to_string()),
        os_before: None,
    };
    fsops::syncfs(root.dir())?;
    write(root, &j)?;
    hooks::point();
    Ok(j)
}

pub fn mark_os_started(root: &Root, j: &mut Journal, before: Option<Vec<String>>) -> Result<()> {
    j.os_started = true;
    j.os_before = before;
    write(root, j)?;
    hooks::point();
    Ok(())
}

/// The commit point, then the cleanup.
pub fn commit(root: &Root, j: &mut Journal) -> Result<()> {
    fsops::syncfs(root.dir())?;
    j.phase = Phase::Committed;
    write(root, j)?;
    hooks::point();
    finish(root)
}

/// A deployment written directly by the OS step got a copy of the root's /etc as it was then,
/// with this apply's journal and backups (a later run there would roll back): they go, and the
/// files written after the OS step (`pending.json`, `currentconfig`) are copied over. Before the
/// commit point: a rollback removes that deployment anyway.
pub fn carry_over(root: &Root, new_root: &Path) -> Result<()> {
    let nr = Root::new(new_root).with_context(|| format!("{}", new_root.display()))?;
    let txn = nr.host(TXN_DIR);
    if txn.exists() {
        std::fs::remove_dir_all(&txn).with_context(|| format!("removing {}", txn.display()))?;
    }
    remove_tmp_files(&nr.host("/etc/machine-config-daemon"));
    for p in [crate::paths::PENDING, crate::paths::CURRENT_CONFIG] {
        match std::fs::read(root.host(p)) {
            Ok(data) => fsops::write_atomic(&nr, p, &data, 0o644, None, false)?,
            Err(_) => fsops::remove(&nr, p)?,
        }
    }
    match std::fs::remove_file(nr.host(JOURNAL)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the journal in {}", new_root.display()))
        }
        _ => Ok(()),
    }
}

/// Drops the backups and the journal of a committed apply.
pub fn finish(root: &Root) -> Result<()> {
    let txn = root.host(TXN_DIR);
    if txn.exists() {
        std::fs::remove_dir_all(&txn).with_context(|| format!("removing {TXN_DIR}"))?;
    }
    hooks::point();
    match std::fs::remove_file(root.host(JOURNAL)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {JOURNAL}"))
        }
        _ => Ok(()),
    }
}

fn remove_tmp_files(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(fsops::TMP_PREFIX)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Puts every journaled path back as it was, then drops the journal.
pub fn rollback(root: &Root, j: &Journal) -> Result<()> {
    let txn = root.host(TXN_DIR);
    let mut dirs = std::collections::BTreeSet::new();
    for e in j.entries.iter().rev() {
        let host = root.host(&e.path);
        if let Some(parent) = host.parent() {
            dirs.insert(parent.to_path_buf());
        }
        match &e.backup {
            Some(b) => {
                let saved = txn.join(b);
                if std::fs::symlink_metadata(&saved).is_ok() {
                    if let Ok(m) = std::fs::symlink_metadata(&host) {
                        if m.is_dir() {
                            std::fs::remove_dir_all(&host)
                        } else {
                            std::fs::remove_file(&host)
                        }
                        .with_context(|| format!("rollback: removing {}", e.path))?;
                    }
                    std::fs::rename(&saved, &host)
                        .with_context(|| format!("rollback: restoring {}", e.path))?;
                }
            }
            None => match std::fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&host)
                    .with_context(|| format!("rollback: removing {}", e.path))?,
                Ok(_) => std::fs::remove_file(&host)
                    .with_context(|| format!("rollback: removing {}", e.path))?,
                Err(_) => {}
            },
        }
    }
    for d in &dirs {
        remove_tmp_files(d);
    }
    let mut created = j.created_dirs.clone();
    created.sort_by_key(|d| std::cmp::Reverse(d.len()));
    for d in created {
        let host = root.host(&d);
        if host.is_dir() {
            std::fs::remove_dir_all(&host)
                .with_context(|| format!("rollback: removing directory {d}"))?;
        }
    }
    if j.os_started {
        let sysroot = j.sysroot.as_deref().map(Path::new);
        if let Err(e) = super::os::undo_deployments(sysroot, j.os_before.as_deref()) {
            tracing::warn!("rollback: removing the new deployment: {e:#}");
        }
    }
    fsops::syncfs(root.dir())?;
    if txn.exists() {
        std::fs::remove_dir_all(&txn).with_context(|| format!("removing {TXN_DIR}"))?;
    }
    match std::fs::remove_file(root.host(JOURNAL)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {JOURNAL}"))
        }
        _ => Ok(()),
    }
}

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    Nothing,
    Finished { to: String },
    RolledBack { from: String, to: String },
}

/// Finishes or rolls back an interrupted apply.
pub fn recover(root: &Root) -> Result<Recovered> {
    remove_tmp_files(&root.host("/etc/machine-config-daemon"));
    match read(root)? {
        None => {
            let txn = root.host(TXN_DIR);
            if txn.exists() {
                // Interrupted before the journal was written: nothing was changed yet.
                std::fs::remove_dir_all(&txn).with_context(|| format!("removing {TXN_DIR}"))?;
            }
            Ok(Recovered::Nothing)
        }
        Some(j) if j.phase == Phase::Committed => {
            finish(root)?;
            Ok(Recovered::Finished { to: j.to })
        }
        Some(j) => {
            rollback(root, &j)?;
            Ok(Recovered::RolledBack {
                from: j.from,
                to: j.to,
            })
        }
    }
}
