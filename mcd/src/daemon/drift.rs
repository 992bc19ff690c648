//! Drift detection by polling: every `watchIntervalSeconds` the managed paths (the config's files,
//! unit files and drop-ins, `core`'s SSH key file) are `lstat`ed; a change in type, size, mode,
//! owner, inode or mtime triggers a full validation at once; a full validation also runs every
//! `validateIntervalSeconds` regardless. Polling rather than inotify: no watch descriptors to
//! re-arm when files are replaced by rename, it works on any filesystem and under any root, and a
//! few hundred `lstat`s every two seconds cost nothing measurable.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use ignition::exec::root::Root;

use crate::config::Desired;
use crate::paths;

/// What `lstat` says about one path (`None`: missing).
pub type Stamp = Option<(u32, u64, u64, u64, i64, i64, u32, u32)>;

/// The managed paths of a config (in-root).
pub fn managed_paths(cfg: &Desired) -> Vec<String> {
    let mut out: Vec<String> = cfg.files.keys().cloned().collect();
    for (name, u) in &cfg.units {
        out.push(format!("{}/{name}", paths::UNITS_DIR));
        for d in u.dropins.keys() {
            out.push(format!("{}/{name}.d/{d}", paths::UNITS_DIR));
        }
    }
    if !cfg.core.ssh_keys.is_empty() {
        out.push("/home/core/.ssh/authorized_keys.d/ignition".into());
        out.push("/var/home/core/.ssh/authorized_keys.d/ignition".into());
    }
    out
}

/// The stamps of `paths` under `root`.
pub fn snapshot(root: &Root, paths: &[String]) -> BTreeMap<String, Stamp> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(root.host(p)).ok().map(|m| {
                (
                    m.mode(),
                    m.size(),
                    m.ino(),
                    m.dev(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.uid(),
                    m.gid(),
                )
            });
            (p.clone(), m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_changes_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let paths = vec!["/etc/a".to_string()];
        let s0 = snapshot(&root, &paths);
        assert_eq!(s0["/etc/a"], None);
        std::fs::write(dir.path().join("etc/a"), "x").unwrap();
        let s1 = snapshot(&root, &paths);
        assert_ne!(s0, s1);
        std::fs::write(dir.path().join("etc/a"), "xy").unwrap();
        assert_ne!(s1, snapshot(&root, &paths));
    }
}
