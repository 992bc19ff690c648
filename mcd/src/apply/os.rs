//! OS image and kernel arguments through `rpm-ostree` (our shim), called as a command as
//! OpenShift's MCD calls it. The command lines are pure; running them is at the edge.

use std::path::{Path, PathBuf};

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

/// Undoes a staged deployment after a failed or interrupted apply.
pub fn cleanup_args(sysroot: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = sysroot
        .map(|s| vec![format!("--sysroot={}", s.display())])
        .unwrap_or_default();
    a.extend(["cleanup".to_string(), "-p".to_string()]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

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
