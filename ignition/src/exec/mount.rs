//! The `mount` and `umount` stages: the config's filesystems that have a
//! `path` are mounted under the root, shallowest first (config order for
//! equal depths), and unmounted deepest first, as Go does. Formats `swap`
//! and `none` and entries without a format are skipped.
//!
//! Mount points must be plain directories: a symlink or a file anywhere on
//! the way is an error (Go's rule, so a mount can never land outside the
//! root). Missing directories are created (0755) and recorded in the state
//! file's `notatedDirectories`, relative to the root, as Go does. The device
//! is resolved without udev first (`/dev/disk/by-partlabel/…` and friends,
//! see [`super::disks::blockdev::resolve`]), so this works in an initramfs
//! without udev.

use std::path::{Path, PathBuf};

use crate::exec::cmd;
use crate::exec::disks::blockdev;
use crate::exec::root::depth;
use crate::exec::state::State;
use crate::model::{Config, Filesystem};

/// The filesystems the stages mount, in mount order.
pub fn mountable(config: &Config) -> Vec<&Filesystem> {
    let mut fss: Vec<&Filesystem> = config
        .storage
        .filesystems
        .iter()
        .filter(|f| f.path.as_deref().is_some_and(|p| !p.is_empty()))
        .filter(|f| {
            f.format
                .as_deref()
                .is_some_and(|t| !matches!(t, "" | "swap" | "none"))
        })
        .collect();
    fss.sort_by_key(|f| depth(f.path.as_deref().unwrap_or("")));
    fss
}

/// The mount point on the host for an in-root `path`.
pub fn target(root: &Path, path: &str) -> PathBuf {
    let mut t = root.to_path_buf();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            if t != root {
                t.pop();
            }
        } else {
            t.push(c);
        }
    }
    t
}

/// Checks that every existing component of `target` below `root` is a real
/// directory, and returns the missing ones (in-root paths, shallowest first).
fn missing_dirs(root: &Path, target: &Path) -> Result<Vec<PathBuf>, String> {
    let rel = target.strip_prefix(root).unwrap_or(target);
    let mut cur = root.to_path_buf();
    let mut missing = Vec::new();
    for c in rel.components() {
        cur.push(c);
        if !missing.is_empty() {
            missing.push(cur.clone());
            continue;
        }
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "mount path {} contains a non-directory component {}",
                    target.display(),
                    cur.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(cur.clone()),
            Err(e) => return Err(format!("{}: {e}", cur.display())),
        }
    }
    Ok(missing)
}

/// Runs the mount stage. Returns the operations in a dry run.
pub fn mount(
    config: &Config,
    root: &Path,
    state: &mut State,
    dry_run: bool,
) -> Result<Vec<String>, String> {
    let mut ops = Vec::new();
    let mut notated: Vec<serde_json::Value> = match &state.notated_directories {
        serde_json::Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    for f in mountable(config) {
        let path = f.path.as_deref().unwrap_or("/");
        let format = f.format.as_deref().unwrap_or("");
        let at = target(root, path);
        let missing = missing_dirs(root, &at)?;
        let options = f.mount_options.join(",");
        if dry_run {
            for d in &missing {
                ops.push(format!("create directory {}", d.display()));
            }
            ops.push(format!(
                "mount {} ({format}{}) at {}",
                f.device,
                if options.is_empty() {
                    String::new()
                } else {
                    format!(", options {options}")
                },
                at.display()
            ));
            continue;
        }
        for d in &missing {
            std::fs::create_dir(d)
                .map_err(|e| format!("creating mount point {}: {e}", d.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
            let rel = d.strip_prefix(root).unwrap_or(d);
            notated.push(format!("/{}", rel.display()).into());
        }
        let dev = blockdev::resolve(&f.device)?
            .ok_or_else(|| format!("mounting {}: device not found", f.device))?;
        let mut args: Vec<String> = Vec::new();
        if !options.is_empty() {
            args.extend(["-o".into(), options.clone()]);
        }
        args.extend([
            "-t".into(),
            format.to_string(),
            dev.display().to_string(),
            at.display().to_string(),
        ]);
        cmd::run("mount", &args, None)
            .map_err(|e| format!("mounting {} at {}: {e}", f.device, at.display()))?;
        tracing::info!("mounted {} ({format}) at {}", f.device, at.display());
    }
    if !dry_run && !notated.is_empty() {
        state.notated_directories = serde_json::Value::Array(notated);
    }
    Ok(ops)
}

/// Runs the umount stage: deepest first.
pub fn umount(config: &Config, root: &Path, dry_run: bool) -> Result<Vec<String>, String> {
    let mut ops = Vec::new();
    let mut fss = mountable(config);
    fss.reverse();
    // `mountable` sorts shallowest first, config order for ties; Go sorts the
    // reverse by depth only, so equal depths need no particular order.
    for f in fss {
        let at = target(root, f.path.as_deref().unwrap_or("/"));
        if dry_run {
            ops.push(format!("unmount {}", at.display()));
            continue;
        }
        let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("bad mount point {}", at.display()))?;
        // SAFETY: plain syscall on a NUL-terminated path.
        if unsafe { libc::umount(c.as_ptr()) } != 0 {
            return Err(format!(
                "unmounting {}: {}",
                at.display(),
                std::io::Error::last_os_error()
            ));
        }
        tracing::info!("unmounted {}", at.display());
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(path: &str, format: &str) -> Filesystem {
        Filesystem {
            device: format!("/dev/{format}"),
            path: Some(path.into()),
            format: Some(format.into()),
            ..Default::default()
        }
    }

    #[test]
    fn mounts_by_depth_and_skips_swap_and_none() {
        let mut c = Config::default();
        c.storage.filesystems = vec![
            fs("/var/lib/x", "xfs"),
            fs("/", "ext4"),
            fs("/swap", "swap"),
            fs("/var", "btrfs"),
            fs("/boot", "vfat"),
            fs("/n", "none"),
            Filesystem {
                device: "/dev/nopath".into(),
                format: Some("ext4".into()),
                ..Default::default()
            },
        ];
        let order: Vec<&str> = mountable(&c)
            .iter()
            .map(|f| f.path.as_deref().unwrap())
            .collect();
        assert_eq!(order, vec!["/", "/var", "/boot", "/var/lib/x"]);
    }

    #[test]
    fn targets_stay_in_the_root() {
        let r = Path::new("/sysroot");
        assert_eq!(target(r, "/"), PathBuf::from("/sysroot"));
        assert_eq!(target(r, "/var/../../etc"), PathBuf::from("/sysroot/etc"));
        assert_eq!(target(r, "var//lib/"), PathBuf::from("/sysroot/var/lib"));
    }

    #[test]
    fn refuses_symlinks_on_the_way_and_plans_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("var")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let m = missing_dirs(root, &target(root, "/var/lib/x")).unwrap();
        assert_eq!(m, vec![root.join("var/lib"), root.join("var/lib/x")]);
        let e = missing_dirs(root, &target(root, "/link/x")).unwrap_err();
        assert!(e.contains("non-directory component"), "{e}");

        let mut c = Config::default();
        c.storage.filesystems = vec![fs("/var/lib/x", "xfs")];
        let mut state = State::default();
        let ops = mount(&c, root, &mut state, true).unwrap();
        assert_eq!(
            ops,
            vec![
                format!("create directory {}", root.join("var/lib").display()),
                format!("create directory {}", root.join("var/lib/x").display()),
                format!(
                    "mount /dev/xfs (xfs) at {}",
                    root.join("var/lib/x").display()
                ),
            ]
        );
        assert!(!root.join("var/lib").exists());
        assert_eq!(
            umount(&c, root, true).unwrap(),
            vec![format!("unmount {}", root.join("var/lib/x").display())]
        );
    }
}
