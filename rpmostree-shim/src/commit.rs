//! Reading commits: version, timestamp, metadata, and finding a version in a ref's history.

use anyhow::{bail, Context, Result};
use ostree::glib;
use serde_json::{Map, Value};

/// What `status` shows of a commit.
#[derive(Debug, Default)]
pub struct CommitInfo {
    pub version: Option<String>,
    pub timestamp: u64,
    pub meta: Map<String, Value>,
}

/// Loads a commit's metadata; a missing commit gives empty info rather than an error, so that
/// `status` still works on a repo that lost objects.
pub fn info(repo: &ostree::Repo, checksum: &str) -> CommitInfo {
    let Ok((commit, _)) = repo.load_commit(checksum) else {
        return CommitInfo::default();
    };
    let meta = metadata_json(&commit.child_value(0));
    let version = meta
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string);
    CommitInfo {
        version,
        timestamp: ostree::commit_get_timestamp(&commit),
        meta,
    }
}

/// Converts an `a{sv}` to JSON for the value types commit metadata uses; others are skipped.
fn metadata_json(v: &glib::Variant) -> Map<String, Value> {
    let mut out = Map::new();
    for i in 0..v.n_children() {
        let entry = v.child_value(i);
        let Some(key) = entry.child_value(0).str().map(str::to_string) else {
            continue;
        };
        let val = entry
            .child_value(1)
            .as_variant()
            .unwrap_or_else(|| entry.child_value(1));
        if let Some(j) = variant_json(&val) {
            out.insert(key, j);
        }
    }
    out
}

fn variant_json(v: &glib::Variant) -> Option<Value> {
    if let Some(s) = v.str() {
        return Some(Value::String(s.to_string()));
    }
    if let Some(b) = v.get::<bool>() {
        return Some(Value::Bool(b));
    }
    if let Some(n) = v.get::<i32>() {
        return Some(n.into());
    }
    if let Some(n) = v.get::<u32>() {
        return Some(n.into());
    }
    if let Some(n) = v.get::<i64>() {
        return Some(n.into());
    }
    if let Some(n) = v.get::<u64>() {
        return Some(n.into());
    }
    if let Some(a) = v.get::<Vec<String>>() {
        return Some(a.into());
    }
    None
}

/// Walks the history of `tip` (newest first) for the commit whose `version` is `version`.
pub fn find_version(repo: &ostree::Repo, tip: &str, version: &str, what: &str) -> Result<String> {
    let mut cur = Some(tip.to_string());
    let mut walked = 0;
    while let Some(c) = cur {
        let Ok((commit, _)) = repo.load_commit(&c) else {
            bail!(
                "no commit with version {version:?} in the history of {what}: the history \
                 in the repo ends after {walked} commit(s), at the missing commit {c} \
                 (a local repo keeps only what refs and deployments use)"
            );
        };
        walked += 1;
        if info(repo, &c).version.as_deref() == Some(version) {
            return Ok(c);
        }
        cur = ostree::commit_get_parent(&commit).map(|p| p.to_string());
    }
    bail!("no commit with version {version:?} in the history of {what} ({walked} commit(s))")
}

/// Resolves a ref (or checksum) in the repo, with context.
pub fn resolve(repo: &ostree::Repo, rev: &str) -> Result<String> {
    let r = repo
        .resolve_rev(rev, false)
        .with_context(|| format!("resolving {rev:?} in the sysroot repo"))?;
    r.map(|s| s.to_string())
        .with_context(|| format!("{rev:?} does not resolve to a commit"))
}
