//! The `ostree` command line, for the build (repos, commits, the sysroot of the disk).

use std::path::Path;

use anyhow::{Context, Result};

use crate::run;

/// `ostree init --mode=archive` unless the repo exists.
pub fn ensure_archive_repo(repo: &Path) -> Result<()> {
    if repo.join("config").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(repo).with_context(|| format!("creating {}", repo.display()))?;
    run::quiet(
        "ostree",
        &[
            "init",
            "--mode=archive",
            &format!("--repo={}", repo.display()),
        ],
    )?;
    Ok(())
}

/// `ostree commit` of `trees` (`--tree=...` arguments) to `branch`; returns the checksum.
pub fn commit(
    repo: &Path,
    branch: &str,
    trees: &[String],
    metadata: &[(&str, &str)],
) -> Result<String> {
    ensure_archive_repo(repo)?;
    let mut args: Vec<String> = vec![
        "commit".into(),
        format!("--repo={}", repo.display()),
        format!("--branch={branch}"),
        "--no-bindings".into(),
    ];
    args.extend(trees.iter().cloned());
    for (k, v) in metadata {
        args.push(format!("--add-metadata-string={k}={v}"));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(run::text("ostree", &a)?)
}

/// `ostree rev-parse`.
pub fn rev_parse(repo: &Path, rev: &str) -> Result<String> {
    Ok(run::text(
        "ostree",
        &["rev-parse", &format!("--repo={}", repo.display()), rev],
    )?)
}

/// `ostree cat REV PATH`, `None` when the path is not there.
pub fn cat(repo: &Path, rev: &str, path: &str) -> Option<Vec<u8>> {
    run::run(
        "ostree",
        &["cat", &format!("--repo={}", repo.display()), rev, path],
    )
    .ok()
}

/// Copies `refs` from `src` into `dest` (created as an archive repo when missing).
pub fn pull_local(dest: &Path, src: &Path, remote: Option<&str>, refs: &[&str]) -> Result<()> {
    let mut args: Vec<String> = vec!["pull-local".into(), format!("--repo={}", dest.display())];
    if let Some(r) = remote {
        args.push(format!("--remote={r}"));
    }
    args.push(src.display().to_string());
    args.extend(refs.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run::quiet("ostree", &a)?;
    Ok(())
}
