//! A [`Root`] that remembers the directories it has resolved, for the files
//! stage, which resolves thousands of paths under a few hundred directories.
//!
//! [`Root::resolve`] looks at every component of every path (a `statx`
//! each); [`CachedRoot`] gives the same answers but remembers, for a
//! directory path as the config spells it, the in-root path it resolves to
//! *when that is an existing real directory all the way down* (every
//! component a directory, no symlink). Only such directories are cached:
//!
//! - creating something never invalidates an entry, because creation at an
//!   existing path fails (`O_EXCL`, `mkdir`, `symlink`, `link`) and renaming a
//!   file over a directory fails too;
//! - the stage's own removals and every external command it runs (which may
//!   remove or replace anything) call [`CachedRoot::invalidate`], which
//!   forgets everything;
//! - a missing component is never cached: the path below it is kept
//!   lexically, as [`Root`] does, until the directories are created, and
//!   [`CachedRoot::create_parents`] then records them.
//!
//! While the caller promises that nothing changes (the files stage's
//! planning, see [`CachedRoot::freeze`]), missing directories are
//! remembered too.
//!
//! A component that is a symlink (or anything but a directory) takes
//! [`Root`]'s own resolver for the whole path, so links are followed inside
//! the root exactly as there and the last component is never followed.
//! Like [`Root`], this protects against what the config and the disk hold,
//! not against another process changing the tree while the stage runs.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use super::root::{clean, Root};

/// What a resolved directory path is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// An existing directory whose components are all real directories (cached).
    Dir,
    /// Some component does not exist: the components below are kept lexically.
    Missing,
    /// Anything else (a file on the way, a link to something that is not a
    /// directory): the components below take the uncached resolver.
    Other,
}

/// A [`Root`] with a cache of resolved directories; see the module docs.
#[derive(Debug)]
pub struct CachedRoot<'r> {
    root: &'r Root,
    /// Cleaned in-root directory path (as given, or as resolved) -> its
    /// resolution, for existing real directories only.
    dirs: RwLock<HashMap<String, String>>,
    /// While frozen: cleaned in-root directory path -> its lexical
    /// resolution, for directories found missing.
    missing: RwLock<HashMap<String, String>>,
    frozen: AtomicBool,
}

fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let last = &path[i + 1..];
    if last.is_empty() {
        return None;
    }
    Some((if i == 0 { "/" } else { &path[..i] }, last))
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl<'r> CachedRoot<'r> {
    pub fn new(root: &'r Root) -> CachedRoot<'r> {
        CachedRoot {
            root,
            dirs: RwLock::new(HashMap::new()),
            missing: RwLock::new(HashMap::new()),
            frozen: AtomicBool::new(false),
        }
    }

    /// Promises that nothing in the root changes until [`CachedRoot::thaw`]:
    /// missing directories are remembered as missing meanwhile.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Ends [`CachedRoot::freeze`] and forgets the missing directories.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.missing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The uncached root.
    pub fn root(&self) -> &'r Root {
        self.root
    }

    /// The host path of an in-root path (see [`Root::host`]).
    pub fn host(&self, inroot: &str) -> PathBuf {
        self.root.host(inroot)
    }

    /// Forgets every cached directory: call after removing or replacing
    /// anything in the root, and after running an external command on it.
    pub fn invalidate(&self) {
        self.dirs.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.missing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many directories are cached (for tests).
    pub fn cached(&self) -> usize {
        self.dirs.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn lookup(&self, dir: &str) -> Option<String> {
        self.dirs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(dir)
            .cloned()
    }

    fn is_known(&self, resolved: &str) -> bool {
        resolved == "/"
            || self
                .dirs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(resolved)
                .is_some_and(|r| r == resolved)
    }

    fn remember(&self, dir: &str, resolved: &str) {
        let mut m = self.dirs.write().unwrap_or_else(|e| e.into_inner());
        m.insert(resolved.to_string(), resolved.to_string());
        if dir != resolved {
            m.insert(dir.to_string(), resolved.to_string());
        }
    }

    /// As [`Root::resolve`]: symlinks followed inside the root for every
    /// component but the last, which is never followed.
    pub fn resolve(&self, path: &str) -> io::Result<String> {
        let cleaned = clean(path);
        let Some((parent, last)) = split(&cleaned) else {
            return Ok("/".to_string());
        };
        let (dir, _) = self.resolve_dir(parent)?;
        Ok(join(&dir, last))
    }

    /// Resolves a cleaned directory path, every component followed.
    fn resolve_dir(&self, dir: &str) -> io::Result<(String, State)> {
        if dir == "/" {
            return Ok(("/".into(), State::Dir));
        }
        if let Some(r) = self.lookup(dir) {
            return Ok((r, State::Dir));
        }
        let frozen = self.frozen.load(Ordering::SeqCst);
        if frozen {
            let m = self.missing.read().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = m.get(dir) {
                return Ok((r.clone(), State::Missing));
            }
        }
        let Some((parent, last)) = split(dir) else {
            return self.slow(dir);
        };
        let (rp, state) = self.resolve_dir(parent)?;
        match state {
            State::Missing => Ok((join(&rp, last), State::Missing)),
            State::Other => self.slow(dir),
            State::Dir => {
                let cand = join(&rp, last);
                match std::fs::symlink_metadata(self.root.host(&cand)) {
                    Ok(m) if m.is_dir() => {
                        self.remember(dir, &cand);
                        Ok((cand, State::Dir))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if frozen {
                            self.missing
                                .write()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(dir.to_string(), cand.clone());
                        }
                        Ok((cand, State::Missing))
                    }
                    // A symlink (or a file, which the resolver reports as it does).
                    _ => self.slow(dir),
                }
            }
        }
    }

    /// [`Root`]'s resolver for the whole directory path, caching the result
    /// when it is a real directory.
    fn slow(&self, dir: &str) -> io::Result<(String, State)> {
        let (r, missing) = self.root.resolve_all_missing(dir)?;
        if missing {
            return Ok((r, State::Missing));
        }
        let state = match std::fs::symlink_metadata(self.root.host(&r)) {
            Ok(m) if m.is_dir() => {
                self.remember(dir, &r);
                State::Dir
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::Missing,
            _ => State::Other,
        };
        Ok((r, state))
    }

    /// As [`Root::create_parents`], but nothing to do (and no system call)
    /// when the parent is a known directory; records the parents it checked
    /// or created.
    pub fn create_parents(&self, resolved: &str, mode: u32) -> io::Result<Vec<String>> {
        let Some((parent, _)) = split(resolved) else {
            return Ok(Vec::new());
        };
        if self.is_known(parent) {
            return Ok(Vec::new());
        }
        let created = self.root.create_parents(resolved, mode)?;
        // Every component of `parent` is now a real directory.
        let mut m = self.dirs.write().unwrap_or_else(|e| e.into_inner());
        let mut p = parent;
        while p != "/" {
            if m.get(p).is_some_and(|r| r == p) {
                break;
            }
            m.insert(p.to_string(), p.to_string());
            p = split(p).map_or("/", |(pp, _)| pp);
        }
        Ok(created)
    }

    /// As [`Root::first_missing`]; no system call when the parent of
    /// `resolved` is a known directory (then it is `resolved` itself).
    pub fn first_missing(&self, resolved: &str) -> String {
        match split(resolved) {
            Some((parent, _)) if self.is_known(parent) => resolved.to_string(),
            _ => self.root.first_missing(resolved),
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

    /// The cached resolver agrees with the uncached one on a tree full of
    /// links, twice (cold and warm), for every path in a list.
    #[test]
    fn agrees_with_the_uncached_resolver() {
        let (t, r) = setup();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir_all(r.host("/real/sub/deep")).unwrap();
        std::fs::write(r.host("/real/file"), "").unwrap();
        symlink("/real", r.host("/abs")).unwrap();
        symlink("real/sub", r.host("/rel")).unwrap();
        symlink("../../../../..", r.host("/real/up")).unwrap();
        symlink("/etc/passwd", r.host("/real/last")).unwrap();
        symlink(&outside, r.host("/direct")).unwrap();
        symlink("/b", r.host("/a")).unwrap();
        symlink(&outside, r.host("/b")).unwrap();
        symlink("/missing/../real", r.host("/viamissing")).unwrap();
        symlink("/real/sub", r.host("/real/sublink")).unwrap();
        symlink("/real/file", r.host("/tofile")).unwrap();
        symlink("/l2", r.host("/l1")).unwrap();
        symlink("/l1", r.host("/l2")).unwrap();
        let paths = [
            "/",
            "/x",
            "/real",
            "/real/x",
            "/real/sub/deep/x",
            "/abs/x",
            "/abs/sub/x",
            "/abs/sub/deep/y/z",
            "/rel/x",
            "/rel/deep/x",
            "/real/up/x",
            "/real/up/real/sub/x",
            "/real/last",
            "/abs",
            "/direct/x",
            "/a/x",
            "/a/b/c",
            "/nope/a/b",
            "/real/nope/a",
            "/viamissing/x",
            "/viamissing/sub/x",
            "/viamissing/sublink/x",
            "/real/sublink/x",
            "/tofile/x",
            "/real/file/x",
            "/real/file/x/y",
            "/l1/x",
            "/abs/../../rel/x",
        ];
        let c = CachedRoot::new(&r);
        for round in 0..2 {
            for p in paths {
                let want = r.resolve(p).map_err(|e| e.to_string());
                let got = c.resolve(p).map_err(|e| e.to_string());
                assert_eq!(got, want, "round {round}: {p}");
                let h = c.host(&c.resolve(p).unwrap_or_default());
                assert!(h.starts_with(r.dir()), "{p} left the root: {}", h.display());
            }
        }
        assert!(c.cached() > 0);
    }

    #[test]
    fn remembers_missing_directories_only_while_frozen() {
        let (_t, r) = setup();
        let c = CachedRoot::new(&r);
        c.freeze();
        assert_eq!(c.resolve("/m/x").unwrap(), "/m/x");
        std::fs::create_dir(r.host("/real")).unwrap();
        symlink("/real", r.host("/m")).unwrap();
        // Frozen: the caller promised nothing changes, so /m is still missing.
        assert_eq!(c.resolve("/m/x").unwrap(), "/m/x");
        c.thaw();
        assert_eq!(c.resolve("/m/x").unwrap(), "/real/x");
    }

    #[test]
    fn a_directory_replaced_by_a_link_after_invalidation_is_followed_inside() {
        let (t, r) = setup();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir_all(r.host("/etc/d")).unwrap();
        std::fs::create_dir_all(r.host("/elsewhere")).unwrap();
        let c = CachedRoot::new(&r);
        assert_eq!(c.resolve("/etc/d/f").unwrap(), "/etc/d/f");
        // The stage removes /etc/d and a link takes its place: it says so.
        std::fs::remove_dir(r.host("/etc/d")).unwrap();
        c.invalidate();
        symlink(&outside, r.host("/etc/d")).unwrap();
        let got = c.resolve("/etc/d/f").unwrap();
        assert_eq!(got, format!("{}/f", outside.display()));
        assert!(c.host(&got).starts_with(r.dir()));
        assert!(c.create_parents(&got, 0o755).is_ok());
        assert!(r.host(&got).parent().unwrap().is_dir());
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    }

    #[test]
    fn creates_parents_once_and_knows_them() {
        let (_t, r) = setup();
        let c = CachedRoot::new(&r);
        let p = c.resolve("/a/b/c").unwrap();
        assert_eq!(c.first_missing(&p), "/a");
        assert_eq!(c.create_parents(&p, 0o755).unwrap(), ["/a", "/a/b"]);
        assert_eq!(c.create_parents(&p, 0o755).unwrap(), Vec::<String>::new());
        assert_eq!(c.first_missing(&p), "/a/b/c");
        assert_eq!(c.resolve("/a/b/d").unwrap(), "/a/b/d");
        // A file or link where a parent should be is still an error.
        std::fs::write(r.host("/f"), "").unwrap();
        assert!(c.create_parents("/f/x", 0o755).is_err());
        symlink("/a", r.host("/s")).unwrap();
        assert!(c.create_parents("/s/x", 0o755).is_err());
        assert_eq!(c.resolve("/s/x").unwrap(), "/a/x");
    }
}
