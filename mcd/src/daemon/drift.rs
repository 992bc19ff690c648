//! Drift detection. The managed paths (the config's files, unit files and drop-ins, `core`'s SSH
//! key file) are watched with inotify ([`Inotify`]: a watch on each one's parent directory, so a
//! file replaced by rename or removed and created again is still seen); an event on a managed
//! name triggers a validation at once. As a fallback (a filesystem without inotify, a parent
//! created later, a full event queue), every `watchIntervalSeconds` the paths are `lstat`ed and a
//! change in type, size, mode, owner, inode or mtime triggers a validation too; a full validation
//! also runs every `validateIntervalSeconds` regardless.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

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

/// The events that may mean a managed file changed.
const MASK: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_ATTRIB
    | libc::IN_MODIFY
    | libc::IN_DONT_FOLLOW
    | libc::IN_ONLYDIR;

/// An inotify instance watching the parent directories of a set of in-root paths.
pub struct Inotify {
    fd: OwnedFd,
    /// Watch descriptor -> host directory.
    dirs: HashMap<i32, std::path::PathBuf>,
    /// Host paths of the managed files.
    names: HashSet<std::path::PathBuf>,
}

impl Inotify {
    pub fn new() -> std::io::Result<Inotify> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Inotify {
            // SAFETY: fd is a new descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            dirs: HashMap::new(),
            names: HashSet::new(),
        })
    }

    /// Watches the parents of `paths` (in-root) instead of what was watched before; parents
    /// that do not exist are left to the polling fallback. Returns how many directories are
    /// watched.
    pub fn arm(&mut self, root: &Root, paths: &[String]) -> usize {
        for wd in self.dirs.keys() {
            // SAFETY: plain system call on our descriptor.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), *wd) };
        }
        self.dirs.clear();
        self.names = paths.iter().map(|p| root.host(p)).collect();
        let parents: HashSet<std::path::PathBuf> = self
            .names
            .iter()
            .filter_map(|p| p.parent().map(|d| d.to_path_buf()))
            .collect();
        for d in parents {
            let Ok(c) = std::ffi::CString::new(d.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: c is a valid C string; the descriptor is ours.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
            if wd >= 0 {
                self.dirs.insert(wd, d);
            }
        }
        self.dirs.len()
    }

    /// Waits up to `timeout` for events; `true` when one concerns a managed path (or the queue
    /// overflowed, or a watched directory went away).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n <= 0 {
            return false;
        }
        let mut hit = false;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: the buffer is valid for its length.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                break;
            }
            hit |= self.parse(&buf[..r as usize]);
        }
        hit
    }

    fn parse(&mut self, mut b: &[u8]) -> bool {
        let head = std::mem::size_of::<libc::inotify_event>();
        let mut hit = false;
        while b.len() >= head {
            // SAFETY: the kernel writes whole events; read_unaligned copes with alignment.
            let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
            let end = head + ev.len as usize;
            let name = &b[head..end.min(b.len())];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            if ev.mask & (libc::IN_Q_OVERFLOW | libc::IN_IGNORED) != 0 {
                hit = true;
                if ev.mask & libc::IN_IGNORED != 0 {
                    self.dirs.remove(&ev.wd);
                }
            } else if let Some(d) = self.dirs.get(&ev.wd) {
                let p = d.join(std::ffi::OsStr::from_bytes(name));
                hit |= self.names.contains(&p);
            }
            b = &b[end.min(b.len())..];
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_sees_managed_edits_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/a"), "x").unwrap();
        let mut w = Inotify::new().unwrap();
        assert_eq!(
            w.arm(&root, &["/etc/a".to_string(), "/nope/b".to_string()]),
            1
        );
        assert!(!w.wait(Duration::from_millis(10)));
        std::fs::write(dir.path().join("etc/other"), "y").unwrap();
        assert!(!w.wait(Duration::from_secs(5)), "an unmanaged file");
        std::fs::write(dir.path().join("etc/a"), "edited").unwrap();
        assert!(w.wait(Duration::from_secs(5)), "an edit");
        // Replaced by rename, as editors and our own apply do.
        std::fs::write(dir.path().join("etc/.a.tmp"), "z").unwrap();
        w.wait(Duration::from_millis(100));
        std::fs::rename(dir.path().join("etc/.a.tmp"), dir.path().join("etc/a")).unwrap();
        assert!(w.wait(Duration::from_secs(5)), "a rename over it");
        std::fs::remove_file(dir.path().join("etc/a")).unwrap();
        assert!(w.wait(Duration::from_secs(5)), "a removal");
    }

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
