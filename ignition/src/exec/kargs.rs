//! The `kargs` stage: `kernelArguments.shouldExist` / `shouldNotExist`
//! applied to the `options` line of every Boot Loader Specification entry
//! (`/boot/loader/entries/*.conf`) of the target.
//!
//! Go Ignition hands the arguments to a distribution helper
//! (`ignition-kargs-helper`, on Fedora CoreOS `rdcore kargs
//! --create-if-changed /run/coreos-kargs-reboot`); we edit the entries
//! ourselves, with the helper's rules: a `shouldExist` argument is appended
//! when that exact argument is missing, then every `shouldNotExist` argument
//! is removed wherever it occurs (a missing one is not an error).
//!
//! The entries are looked for under `ROOT/boot/loader/entries`; when that
//! does not exist, the filesystem labelled `boot` (found without udev) is
//! mounted on a temporary directory for the stage, as the helper does.
//!
//! The reboot signal: when an entry changed, the stage creates
//! `/run/ignition-kargs-reboot` (`$IGNITION_KARGS_REBOOT_PATH` overrides it)
//! and logs that a reboot is needed; the stage itself never reboots. The
//! initramfs unit that runs it reboots when the file exists (as
//! `coreos-kargs-reboot.service` does with `/run/coreos-kargs-reboot`).

use std::path::{Path, PathBuf};

use crate::exec::cmd;
use crate::exec::disks::blockdev;
use crate::model::KernelArguments;

/// The default reboot signal file.
pub const REBOOT_FLAG: &str = "/run/ignition-kargs-reboot";

/// Splits an options line (or a kernel command line) into arguments as the
/// kernel does: ASCII whitespace separates, double quotes protect it and stay
/// in the argument, no escapes. `mcd` uses this too.
pub fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_ascii_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The arguments after applying `k`, as the helper does.
pub fn apply(args: &[String], k: &KernelArguments) -> Vec<String> {
    let mut out: Vec<String> = args.to_vec();
    for a in &k.should_exist {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out.retain(|a| !k.should_not_exist.contains(a));
    out
}

/// A BLS entry's text with its `options` line rewritten (or added), or
/// `None` when nothing changes.
pub fn edit_entry(text: &str, k: &KernelArguments) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let pos = lines.iter().position(|l| {
        l.trim_start()
            .strip_prefix("options")
            .is_some_and(|r| r.is_empty() || r.starts_with(char::is_whitespace))
    });
    let current = pos
        .map(|i| split_args(lines[i].trim_start()["options".len()..].trim()))
        .unwrap_or_default();
    let new = apply(&current, k);
    if new == current {
        return None;
    }
    let line = format!("options {}", new.join(" ")).trim_end().to_string();
    match pos {
        Some(i) => lines[i] = line,
        None => lines.push(line),
    }
    let mut s = lines.join("\n");
    s.push('\n');
    Some(s)
}

/// An unmount-on-drop temporary mount of the `boot` filesystem.
struct BootMount(PathBuf);

impl Drop for BootMount {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()) {
            // SAFETY: plain syscall on a NUL-terminated path.
            unsafe { libc::umount(c.as_ptr()) };
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs the stage on the entries under `root`. Returns the operations (in
/// a dry run, what it would do).
pub fn run(
    k: &KernelArguments,
    root: &Path,
    reboot_flag: &Path,
    dry_run: bool,
) -> Result<Vec<String>, String> {
    if k.should_exist.is_empty() && k.should_not_exist.is_empty() {
        return Ok(Vec::new());
    }
    let mut boot = root.join("boot");
    let mut _mounted = None;
    if !boot.join("loader/entries").is_dir() {
        let dev = blockdev::resolve("/dev/disk/by-label/boot")?.ok_or_else(|| {
            format!(
                "no boot entries: {} does not exist and there is no filesystem labelled boot",
                boot.join("loader/entries").display()
            )
        })?;
        let mnt = PathBuf::from(format!("/run/ignition/kargs-boot.{}", std::process::id()));
        std::fs::create_dir_all(&mnt).map_err(|e| format!("creating {}: {e}", mnt.display()))?;
        let opt = if dry_run { "ro" } else { "rw" };
        cmd::run(
            "mount",
            &[
                "-o".into(),
                opt.into(),
                dev.display().to_string(),
                mnt.display().to_string(),
            ],
            None,
        )
        .map_err(|e| {
            let _ = std::fs::remove_dir(&mnt);
            format!("mounting the boot filesystem: {e}")
        })?;
        _mounted = Some(BootMount(mnt.clone()));
        boot = mnt;
    }
    let dir = boot.join("loader/entries");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
        .collect();
    entries.sort();
    if entries.is_empty() {
        return Err(format!("no boot entries in {}", dir.display()));
    }
    let mut ops = Vec::new();
    for path in &entries {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let Some(new) = edit_entry(&text, k) else {
            continue;
        };
        let line = new
            .lines()
            .find(|l| l.trim_start().starts_with("options"))
            .unwrap_or("");
        ops.push(format!("{}: {line}", path.display()));
        if dry_run {
            continue;
        }
        let tmp = path.with_extension("conf.ignition-tmp");
        let mode = std::fs::metadata(path).map(|m| m.permissions());
        std::fs::write(&tmp, new.as_bytes())
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        if let Ok(m) = mode {
            let _ = std::fs::set_permissions(&tmp, m);
        }
        std::fs::rename(&tmp, path).map_err(|e| format!("replacing {}: {e}", path.display()))?;
        tracing::info!("updated the kernel arguments of {}: {line}", path.display());
    }
    if !ops.is_empty() {
        if dry_run {
            ops.push(format!(
                "signal that a reboot is needed: create {}",
                reboot_flag.display()
            ));
        } else {
            if let Some(d) = reboot_flag.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            std::fs::write(reboot_flag, b"").map_err(|e| {
                format!("creating the reboot signal {}: {e}", reboot_flag.display())
            })?;
            tracing::info!(
                "kernel arguments changed: a reboot is needed (signalled by {})",
                reboot_flag.display()
            );
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(exist: &[&str], not: &[&str]) -> KernelArguments {
        KernelArguments {
            should_exist: exist.iter().map(|s| s.to_string()).collect(),
            should_not_exist: not.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn helper_rules() {
        let args = split_args("root=UUID=x ro quiet foo=\"a b\" quiet");
        assert_eq!(
            args,
            vec!["root=UUID=x", "ro", "quiet", "foo=\"a b\"", "quiet"]
        );
        let cases: &[(&[&str], &[&str], &str)] = &[
            (
                &["console=ttyS0"],
                &[],
                "root=UUID=x ro quiet foo=\"a b\" quiet console=ttyS0",
            ),
            (&["ro"], &[], "root=UUID=x ro quiet foo=\"a b\" quiet"),
            (&[], &["quiet"], "root=UUID=x ro foo=\"a b\""),
            (&[], &["absent"], "root=UUID=x ro quiet foo=\"a b\" quiet"),
            (&["x=1"], &["x=1"], "root=UUID=x ro quiet foo=\"a b\" quiet"),
            (&[], &["root"], "root=UUID=x ro quiet foo=\"a b\" quiet"),
        ];
        for (e, n, want) in cases {
            assert_eq!(apply(&args, &k(e, n)).join(" "), *want, "{e:?} {n:?}");
        }
    }

    #[test]
    fn edits_bls_entries_and_signals_a_reboot() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let entries = root.join("boot/loader/entries");
        std::fs::create_dir_all(&entries).unwrap();
        let e1 = "title Debian (ostree:0)\nversion 2\nlinux /vmlinuz\noptions root=LABEL=root rw quiet\n";
        let e2 = "title Debian (ostree:1)\nversion 1\nlinux /vmlinuz\n";
        std::fs::write(entries.join("ostree-2.conf"), e1).unwrap();
        std::fs::write(entries.join("ostree-1.conf"), e2).unwrap();
        std::fs::write(entries.join("README"), "not an entry").unwrap();
        let flag = dir.path().join("run/ignition-kargs-reboot");
        let want = k(&["console=ttyS0", "rw"], &["quiet"]);

        let ops = run(&want, &root, &flag, true).unwrap();
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert!(!flag.exists());
        assert_eq!(
            std::fs::read_to_string(entries.join("ostree-2.conf")).unwrap(),
            e1
        );

        run(&want, &root, &flag, false).unwrap();
        assert!(flag.exists());
        assert_eq!(
            std::fs::read_to_string(entries.join("ostree-2.conf")).unwrap(),
            "title Debian (ostree:0)\nversion 2\nlinux /vmlinuz\noptions root=LABEL=root rw console=ttyS0\n"
        );
        assert_eq!(
            std::fs::read_to_string(entries.join("ostree-1.conf")).unwrap(),
            format!("{e2}options console=ttyS0 rw\n")
        );
        // A second run changes nothing and does not signal.
        std::fs::remove_file(&flag).unwrap();
        assert!(run(&want, &root, &flag, false).unwrap().is_empty());
        assert!(!flag.exists());
        // Nothing asked: nothing read.
        assert!(run(&k(&[], &[]), Path::new("/nonexistent"), &flag, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn no_entries_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("boot/loader/entries")).unwrap();
        let e = run(&k(&["a"], &[]), dir.path(), &dir.path().join("f"), false).unwrap_err();
        assert!(e.starts_with("no boot entries in"), "{e}");
    }
}
