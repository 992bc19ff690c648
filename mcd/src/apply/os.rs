//! OS image and kernel arguments through `rpm-ostree` (our shim), called as a command as
//! OpenShift's MCD calls it. The command lines are pure; running them is at the edge.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ignition::exec::root::Root;

use crate::diff::Diff;
use crate::kargs;

/// The program: `$MCD_RPM_OSTREE`, or `rpm-ostree` from `PATH`.
pub fn program() -> String {
    std::env::var("MCD_RPM_OSTREE").unwrap_or_else(|_| "rpm-ostree".into())
}

/// The sysroot of a root: none for `/`; `S` when the root is a deployment
/// `S/ostree/deploy/OS/deploy/CHECKSUM.N`; the root itself otherwise.
pub fn sysroot_for(root: &Root, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(s) = explicit {
        return Some(s.to_path_buf());
    }
    let dir = root.dir();
    if dir == Path::new("/") {
        return None;
    }
    let parts: Vec<_> = dir.components().collect();
    let n = parts.len();
    if n >= 6
        && parts[n - 2].as_os_str() == "deploy"
        && parts[n - 4].as_os_str() == "deploy"
        && parts[n - 5].as_os_str() == "ostree"
    {
        return Some(parts[..n - 5].iter().collect());
    }
    Some(dir.to_path_buf())
}

/// `(step, arguments)` of every rpm-ostree call the diff needs: rebase first, then kargs.
pub fn commands(diff: &Diff, sysroot: Option<&Path>) -> Vec<(&'static str, Vec<String>)> {
    let prefix: Vec<String> = sysroot
        .map(|s| vec![format!("--sysroot={}", s.display())])
        .unwrap_or_default();
    let mut out = Vec::new();
    if let Some((_, new)) = &diff.os_image {
        let mut a = prefix.clone();
        a.extend(["rebase".to_string(), new.clone()]);
        out.push(("os", a));
    }
    if let Some((old, new)) = &diff.kargs {
        let k = kargs::rpm_ostree_args(old, new);
        if !k.is_empty() {
            let mut a = prefix.clone();
            a.extend(k);
            out.push(("kargs", a));
        }
    }
    out
}

/// A deployment as `rpm-ostree status --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// `CHECKSUM.SERIAL`
    pub id: String,
    pub osname: String,
    pub checksum: String,
    pub origin: String,
    pub booted: bool,
    pub staged: bool,
}

/// The deployments of `rpm-ostree status --json`, in boot order. Pure.
pub fn parse_status(json: &[u8]) -> Result<Vec<Deployment>> {
    let v: serde_json::Value =
        serde_json::from_slice(json).context("rpm-ostree status --json: not JSON")?;
    let deps = v["deployments"]
        .as_array()
        .ok_or_else(|| anyhow!("rpm-ostree status --json: no \"deployments\""))?;
    Ok(deps
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
            Deployment {
                id: format!("{}.{}", s("checksum"), d["serial"].as_i64().unwrap_or(0)),
                osname: s("osname"),
                checksum: s("checksum"),
                origin: d["origin"]
                    .as_str()
                    .or(d["container-image-reference"].as_str())
                    .unwrap_or("")
                    .to_string(),
                booted: d["booted"].as_bool() == Some(true),
                staged: d["staged"].as_bool() == Some(true),
            }
        })
        .collect())
}

fn sysroot_args(sysroot: Option<&Path>) -> Vec<String> {
    sysroot
        .map(|s| vec![format!("--sysroot={}", s.display())])
        .unwrap_or_default()
}

/// Runs `rpm-ostree [--sysroot=S] status --json`.
pub fn status(sysroot: Option<&Path>) -> Result<Vec<Deployment>> {
    let mut a = sysroot_args(sysroot);
    a.extend(["status".to_string(), "--json".to_string()]);
    let out = ignition::exec::cmd::run(&program(), &a, None)?;
    parse_status(&out)
}

/// Whether `sysroot` is a real ostree sysroot (where asking `rpm-ostree` makes sense).
pub fn is_ostree(sysroot: Option<&Path>) -> bool {
    match sysroot {
        None => Path::new("/ostree").is_dir(),
        Some(s) => s.join("ostree").is_dir(),
    }
}

/// On a sysroot nothing is booted from, the shim writes deployments directly (not staged), and
/// libostree keeps only the new one and the one it merged /etc from.
pub fn direct(deps: &[Deployment]) -> bool {
    !deps.iter().any(|d| d.booted)
}

/// The root of a deployment in `sysroot`.
pub fn deployment_root(sysroot: &Path, d: &Deployment) -> PathBuf {
    sysroot.join(format!("ostree/deploy/{}/deploy/{}", d.osname, d.id))
}

/// How to undo the deployments an interrupted or failed apply made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// The deployments are as they were.
    Nothing,
    /// Booted system: drop the staged (pending) deployment, `cleanup -p`.
    CleanupPending,
    /// Written directly and the old default is second: `rollback` (it goes first again), then
    /// `cleanup -r` (the new one goes).
    RollbackThenCleanup,
    /// The old default deployment is gone: nothing brings it back.
    Impossible(String),
}

/// Decides the undo from the deployment ids before the OS step and now. Pure.
pub fn undo(before: &[String], now: &[Deployment]) -> Undo {
    if !direct(now) {
        return Undo::CleanupPending;
    }
    let ids: Vec<&str> = now.iter().map(|d| d.id.as_str()).collect();
    match before.first() {
        None => Undo::Nothing,
        Some(old) if ids.first() == Some(&old.as_str()) => Undo::Nothing,
        Some(old) if ids.get(1) == Some(&old.as_str()) => Undo::RollbackThenCleanup,
        Some(old) => Undo::Impossible(format!(
            "the previous default deployment {old} is no longer in the sysroot (deployments: {})",
            ids.join(", ")
        )),
    }
}

/// Carries out [`undo`] for `sysroot`, given the ids before the OS step (`None`: not recorded,
/// a journal of an older version: `cleanup -p`).
pub fn undo_deployments(sysroot: Option<&Path>, before: Option<&[String]>) -> Result<()> {
    let run = |args: &[&str]| -> Result<()> {
        let mut a = sysroot_args(sysroot);
        a.extend(args.iter().map(|s| s.to_string()));
        ignition::exec::cmd::run(&program(), &a, None)?;
        Ok(())
    };
    let plan = match before {
        None => Undo::CleanupPending,
        Some(b) => undo(b, &status(sysroot)?),
    };
    tracing::info!("undoing the OS step: {plan:?}");
    match plan {
        Undo::Nothing => Ok(()),
        Undo::CleanupPending => run(&["cleanup", "-p"]),
        Undo::RollbackThenCleanup => {
            run(&["rollback"])?;
            run(&["cleanup", "-r"])
        }
        Undo::Impossible(why) => Err(anyhow!("cannot undo the OS step: {why}")),
    }
}

/// Refuses an update that a sysroot written directly cannot take back: an OS image and a
/// kernel-argument change are two deployments, and the second removes the deployment the node
/// is at (libostree keeps only the new one and its merge deployment there).
/// Likewise a root that is a deployment but not the default one: the OS step merges /etc from
/// the default deployment and removes the others.
pub fn check_direct(diff: &Diff, deps: &[Deployment], sysroot: &Path, root: &Path) -> Result<()> {
    if !direct(deps) {
        return Ok(());
    }
    let kargs = diff.kargs.as_ref().is_some_and(|(o, n)| o != n);
    if diff.os_image.is_some() && kargs {
        bail!("the sysroot is not booted (deployments are written, not staged): an osImageURL and a kernelArguments change in one update would remove the deployment the node is at; apply them as two updates");
    }
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canon(root).starts_with(canon(&sysroot.join("ostree/deploy"))) {
        if let Some(first) = deps.first() {
            let want = deployment_root(sysroot, first);
            if canon(&want) != canon(root) {
                bail!(
                    "the root is not the default deployment of the sysroot ({}); the OS step would remove it: run in {}",
                    first.id,
                    want.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(id: &str, booted: bool) -> Deployment {
        Deployment {
            id: id.into(),
            osname: "debian".into(),
            checksum: id.split('.').next().unwrap().into(),
            origin: String::new(),
            booted,
            staged: false,
        }
    }

    #[test]
    fn undo_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases: Vec<(Vec<String>, Vec<Deployment>, Undo)> = vec![
            // booted: whatever is staged goes
            (
                s(&["a.0"]),
                vec![dep("b.0", false), dep("a.0", true)],
                Undo::CleanupPending,
            ),
            (s(&["a.0"]), vec![dep("a.0", true)], Undo::CleanupPending),
            // written directly
            (s(&["a.0"]), vec![dep("a.0", false)], Undo::Nothing),
            (
                s(&["a.0", "r.0"]),
                vec![dep("a.0", false), dep("r.0", false)],
                Undo::Nothing,
            ),
            (
                s(&["a.0", "r.0"]),
                vec![dep("b.0", false), dep("a.0", false)],
                Undo::RollbackThenCleanup,
            ),
            (
                s(&["a.0"]),
                vec![dep("a.1", false), dep("a.0", false)],
                Undo::RollbackThenCleanup,
            ),
            (s(&[]), vec![dep("b.0", false)], Undo::Nothing),
        ];
        for (before, now, want) in cases {
            assert_eq!(undo(&before, &now), want, "{before:?} {now:?}");
        }
        assert!(matches!(
            undo(&s(&["a.0"]), &[dep("k.0", false), dep("b.0", false)]),
            Undo::Impossible(_)
        ));
    }

    #[test]
    fn status_json() {
        let j = br#"{"deployments": [{"id": "debian-abc.1", "osname": "debian", "serial": 1, "checksum": "abc", "origin": "r:os/b", "booted": false, "staged": true},
            {"osname": "debian", "serial": 0, "checksum": "def", "container-image-reference": "ostree-unverified-registry:q", "booted": true}]}"#;
        let d = parse_status(j).unwrap();
        assert_eq!(d[0].id, "abc.1");
        assert_eq!(
            (d[0].origin.as_str(), d[0].staged, d[0].booted),
            ("r:os/b", true, false)
        );
        assert_eq!(d[1].origin, "ostree-unverified-registry:q");
        assert!(d[1].booted && !direct(&d));
        assert!(parse_status(b"{}").is_err());
    }

    #[test]
    fn command_lines() {
        let d = Diff {
            os_image: Some(("".into(), "remote:os/v2".into())),
            kargs: Some((vec!["a".into()], vec!["b=\"x y\"".into()])),
            ..Default::default()
        };
        let c = commands(&d, Some(Path::new("/s")));
        assert_eq!(
            c[0],
            (
                "os",
                vec![
                    "--sysroot=/s".to_string(),
                    "rebase".into(),
                    "remote:os/v2".into()
                ]
            )
        );
        assert_eq!(
            c[1].1,
            [
                "--sysroot=/s",
                "kargs",
                "--delete-if-present=a",
                "--append=b=\"x y\""
            ]
        );
        assert_eq!(commands(&d, None)[0].1, ["rebase", "remote:os/v2"]);
        assert!(commands(&Diff::default(), None).is_empty());
    }

    #[test]
    fn sysroot_of_a_deployment() {
        let t = tempfile::tempdir().unwrap();
        let dep = t.path().join("ostree/deploy/debian/deploy/abc.0");
        std::fs::create_dir_all(&dep).unwrap();
        let r = Root::new(&dep).unwrap();
        assert_eq!(
            sysroot_for(&r, None).unwrap(),
            std::fs::canonicalize(t.path()).unwrap()
        );
        let r2 = Root::new(t.path()).unwrap();
        assert_eq!(sysroot_for(&r2, None).unwrap(), r2.dir());
    }
}
