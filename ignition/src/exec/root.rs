//! Paths inside a root directory that never lead out of it.
//!
//! A config path (`/etc/foo`) is resolved as if the root were `/`: every
//! component but the last that is a symlink is followed *inside the root*
//! (an absolute target starts again at the root, `..` never climbs above it,
//! at most [`MAX_LINKS`] links), and the last component is never followed.
//! The result is an in-root path whose parents, as far as they exist, are
//! real directories; the host path is the root joined with it.
//!
//! Writers then create missing parents with [`Root::create_parents`], which
//! refuses a parent that is (or became) anything but a directory, and act on
//! the last component without following it (rename, `O_NOFOLLOW`, `lchown`,
//! `linkat` without `AT_SYMLINK_FOLLOW`). So no link in the config or on the
//! disk can make a write land outside the root.
//!
//! Go Ignition follows one level of links per component and then hands the
//! path to the kernel, which follows the rest on the host: a chain such as
//! `/a -> /b`, `/b -> /outside` leads out of its root. Ours does not.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How many symlinks one resolution follows before giving up (Linux's limit).
pub const MAX_LINKS: usize = 40;

#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

/// Splits an in-root path into its normal components, lexically removing
/// `.` and empty components (`..` is kept for the resolver).
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Lexically cleans an absolute in-root path: `..` at the top stays at the top.
pub use crate::validate::paths::clean;

/// Number of components of an in-root path (`/` is 0, `/a/b` is 2).
pub fn depth(path: &str) -> usize {
    components(path).count()
}

impl Root {
    /// A root at `dir`, which must be an existing directory (its own
    /// symlinks are resolved once, here).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Root> {
        let dir = dir.as_ref();
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(io::Error::other(format!(
                "root {} is not a directory",
                dir.display()
            )));
        }
        Ok(Root { dir })
    }

    /// The root directory on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host path of an in-root path (no resolution: use [`Root::resolve`] first).
    pub fn host(&self, inroot: &str) -> PathBuf {
        let rel = inroot.trim_start_matches('/');
        if rel.is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(rel)
        }
    }

    /// Resolves `path` (taken as absolute in the root) following symlinks
    /// inside the root for every component but the last. Returns the
    /// cleaned in-root path; missing components are kept as they are.
    pub fn resolve(&self, path: &str) -> io::Result<String> {
        let cleaned = clean(path);
        let mut parts: Vec<String> = components(&cleaned).map(str::to_string).collect();
        let Some(last) = parts.pop() else {
            return Ok("/".to_string());
        };
        let (dir, _) = self.resolve_dir(parts)?;
        Ok(if dir == "/" {
            format!("/{last}")
        } else {
            format!("{dir}/{last}")
        })
    }

    /// Resolves `path` following every component, the last one included
    /// (for reading files such as `/etc/passwd` as the root sees them).
    pub fn resolve_all(&self, path: &str) -> io::Result<String> {
        let cleaned = clean(path);
        Ok(self
            .resolve_dir(components(&cleaned).map(str::to_string).collect())?
            .0)
    }

    /// As [`Root::resolve_all`], and whether a component was missing (the
    /// components after it were then taken lexically, not looked at).
    pub(crate) fn resolve_all_missing(&self, path: &str) -> io::Result<(String, bool)> {
        let cleaned = clean(path);
        self.resolve_dir(components(&cleaned).map(str::to_string).collect())
    }

    /// Resolves a directory path following every component, links included;
    /// also says whether a component was missing.
    fn resolve_dir(&self, parts: Vec<String>) -> io::Result<(String, bool)> {
        // Work list in reverse so that link targets can be pushed in front.
        let mut todo: Vec<String> = parts.into_iter().rev().collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        let mut missing = false;
        while let Some(c) = todo.pop() {
            if c == "." || c.is_empty() {
                continue;
            }
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            if missing {
                continue;
            }
            let host = self.host(&format!("/{}", cur.join("/")));
            let meta = match std::fs::symlink_metadata(&host) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    missing = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::other(format!(
                    "too many levels of symbolic links at {}",
                    host.display()
                )));
            }
            let target = std::fs::read_link(&host)?;
            let target = target.as_os_str().as_bytes();
            cur.pop();
            if target.starts_with(b"/") {
                cur.clear();
            }
            let target = String::from_utf8_lossy(target).into_owned();
            for t in target.split('/').rev() {
                todo.push(t.to_string());
            }
        }
        Ok((format!("/{}", cur.join("/")), missing))
    }

    /// Creates the missing parents of the in-root path `resolved` (the
    /// result of [`Root::resolve`]) with `mode` (less the umask), returning
    /// the in-root paths it created, outermost first. A parent that exists
    /// and is not a directory (a symlink included) is an error.
    pub fn create_parents(&self, resolved: &str, mode: u32) -> io::Result<Vec<String>> {
        use std::os::unix::fs::DirBuilderExt;
        let parts: Vec<&str> = components(resolved).collect();
        let mut created = Vec::new();
        let mut cur = String::new();
        let mut missing = false;
        for c in parts.iter().take(parts.len().saturating_sub(1)) {
            cur.push('/');
            cur.push_str(c);
            let host = self.host(&cur);
            if !missing {
                match std::fs::symlink_metadata(&host) {
                    Ok(m) if m.is_dir() => continue,
                    Ok(_) => {
                        return Err(io::Error::other(format!(
                            "{cur} exists and is not a directory"
                        )))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => missing = true,
                    Err(e) => return Err(e),
                }
            }
            match std::fs::DirBuilder::new().mode(mode).create(&host) {
                Ok(()) => created.push(cur.clone()),
                // Another writer created it meanwhile: fine if it is a directory.
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists
                        && std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// The first component of `resolved` that does not exist, or the whole
    /// path when it exists (what Go schedules for SELinux relabeling).
    pub fn first_missing(&self, resolved: &str) -> String {
        let mut cur = String::new();
        for c in components(resolved) {
            cur.push('/');
            cur.push_str(c);
            if std::fs::symlink_metadata(self.host(&cur)).is_err() {
                return cur;
            }
        }
        if cur.is_empty() {
            "/".into()
        } else {
            cur
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let r = Root::new(&root).unwrap();
        (t, r)
    }

    #[test]
    fn cleans_lexically_and_never_above_the_top() {
        assert_eq!(clean("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(clean("/../../etc"), "/etc");
        assert_eq!(clean(""), "/");
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/a/b"), 2);
    }

    #[test]
    fn follows_links_inside_the_root_but_not_the_last() {
        let (_t, r) = setup();
        std::fs::create_dir_all(r.host("/real/sub")).unwrap();
        symlink("/real", r.host("/abs")).unwrap();
        symlink("real/sub", r.host("/rel")).unwrap();
        symlink("../../../../..", r.host("/real/up")).unwrap();
        symlink("/etc/passwd", r.host("/real/last")).unwrap();
        assert_eq!(r.resolve("/abs/x").unwrap(), "/real/x");
        assert_eq!(r.resolve("/rel/x").unwrap(), "/real/sub/x");
        assert_eq!(r.resolve("/real/up/x").unwrap(), "/x");
        // `..` in the config path is cleaned lexically first, as Go does.
        assert_eq!(r.resolve("/real/up/../../x").unwrap(), "/x");
        // The last component is never followed.
        assert_eq!(r.resolve("/real/last").unwrap(), "/real/last");
        assert_eq!(r.resolve("/abs").unwrap(), "/abs");
        assert_eq!(r.resolve("/").unwrap(), "/");
    }

    #[test]
    fn absolute_targets_and_chains_stay_inside() {
        let (t, r) = setup();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        // A link to the host's directory by its host path, and a chain.
        symlink(&outside, r.host("/direct")).unwrap();
        symlink("/b", r.host("/a")).unwrap();
        symlink(&outside, r.host("/b")).unwrap();
        let inside = format!("{}/x", outside.display());
        assert_eq!(r.resolve("/direct/x").unwrap(), inside);
        assert_eq!(r.resolve("/a/x").unwrap(), inside);
        assert!(r.host(&r.resolve("/a/x").unwrap()).starts_with(r.dir()));
    }

    #[test]
    fn loops_are_errors() {
        let (_t, r) = setup();
        symlink("/l2", r.host("/l1")).unwrap();
        symlink("/l1", r.host("/l2")).unwrap();
        let e = r.resolve("/l1/x").unwrap_err();
        assert!(e.to_string().contains("too many levels"), "{e}");
    }

    #[test]
    fn creates_parents_only_as_real_directories() {
        let (_t, r) = setup();
        assert_eq!(
            r.create_parents("/a/b/c", 0o755).unwrap(),
            vec!["/a".to_string(), "/a/b".to_string()]
        );
        assert!(r.host("/a/b").is_dir());
        std::fs::write(r.host("/f"), "").unwrap();
        assert!(r.create_parents("/f/x", 0o755).is_err());
        symlink("/a", r.host("/s")).unwrap();
        assert!(r.create_parents("/s/x", 0o755).is_err());
        assert_eq!(r.first_missing("/a/b/q/r"), "/a/b/q");
        assert_eq!(r.first_missing("/a/b"), "/a/b");
    }
}
