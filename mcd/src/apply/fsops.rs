//! Filesystem operations inside a root ([`Root`] resolves every path; the last component is
//! never followed). Replacements are atomic: a temporary file in the same directory, renamed
//! over the path.

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Context, Result};
use ignition::exec::root::Root;

/// Temporary files start with this; a rollback removes leftovers.
pub const TMP_PREFIX: &str = ".mcd-tmp-";
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn tmp_name(dir: &Path) -> std::path::PathBuf {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    dir.join(format!(
        "{TMP_PREFIX}{}-{}",
        PID.get_or_init(std::process::id),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The process's umask, read once (from `/proc/self/status`, which does not change it).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o777)
    })
}

/// The mode to create a file with: `mode` itself when creating with it gives exactly it (no
/// special bits, nothing the umask clears), so no `fchmod` is needed; else 0600 and a `fchmod`.
fn create_mode(mode: u32) -> (u32, bool) {
    let mode = mode & 0o7777;
    if mode & 0o7000 == 0 && mode & umask() == 0 {
        (mode, false)
    } else {
        (0o600, true)
    }
}

/// Directories resolved during one apply: the in-root parent as the config names it, and where
/// it resolved to, once it exists as a real directory. Resolution inside the root costs a
/// `statx` per component (and creating parents another), several times per file; an apply never
/// turns a directory into anything else (renames over a directory fail), so a directory
/// resolved once stays valid for the rest of the apply. Kept here, in mcd, on top of
/// [`Root::resolve`], which stays the only resolver.
#[derive(Debug, Default)]
pub struct Dirs {
    known: std::collections::HashMap<String, String>,
}

fn split_last(cleaned: &str) -> (&str, &str) {
    match cleaned.rfind('/') {
        Some(0) => ("/", &cleaned[1..]),
        Some(i) => (&cleaned[..i], &cleaned[i + 1..]),
        None => ("/", cleaned),
    }
}

fn join(dir: &str, last: &str) -> String {
    if dir == "/" {
        format!("/{last}")
    } else {
        format!("{dir}/{last}")
    }
}

impl Dirs {
    /// [`Root::resolve`], with the parent from the cache when it was seen.
    pub fn resolve(&mut self, root: &Root, path: &str) -> io::Result<String> {
        let cleaned = ignition::exec::root::clean(path);
        let (parent, last) = split_last(&cleaned);
        if let Some(r) = self.known.get(parent) {
            return Ok(join(r, last));
        }
        let resolved = root.resolve(&cleaned)?;
        let (rparent, _) = split_last(&resolved);
        if std::fs::symlink_metadata(root.host(rparent)).is_ok_and(|m| m.is_dir()) {
            self.known.insert(parent.to_string(), rparent.to_string());
        }
        Ok(resolved)
    }

    /// Whether the parent of `path` is known to exist (then nothing above it is missing).
    pub fn parent_known(&self, path: &str) -> bool {
        let cleaned = ignition::exec::root::clean(path);
        self.known.contains_key(split_last(&cleaned).0)
    }

    /// Resolves `path` and creates its missing parents (0755). Returns the host path.
    pub fn prepare(&mut self, root: &Root, path: &str) -> Result<std::path::PathBuf> {
        let cleaned = ignition::exec::root::clean(path);
        let (parent, last) = split_last(&cleaned);
        if let Some(r) = self.known.get(parent) {
            return Ok(root.host(&join(r, last)));
        }
        let resolved = root
            .resolve(&cleaned)
            .with_context(|| format!("resolving {path}"))?;
        root.create_parents(&resolved, 0o755)
            .with_context(|| format!("creating the parents of {path}"))?;
        let (rparent, _) = split_last(&resolved);
        self.known.insert(parent.to_string(), rparent.to_string());
        Ok(root.host(&resolved))
    }
}

/// Resolves `path` in the root and creates its missing parents (0755). Returns the host path.
pub fn prepare(root: &Root, path: &str) -> Result<std::path::PathBuf> {
    Dirs::default().prepare(root, path)
}

fn euid() -> (u32, u32) {
    static IDS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    // SAFETY: no preconditions.
    *IDS.get_or_init(|| unsafe { (libc::geteuid(), libc::getegid()) })
}

/// Writes `data` to `path` atomically with `mode` and owner (uid, gid). `sync`: fsync the file
/// before the rename and the directory after it (an apply syncs the filesystem once instead).
pub fn write_atomic(
    root: &Root,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    sync: bool,
) -> Result<()> {
    write_in(
        &mut Dirs::default(),
        root,
        path,
        data,
        mode,
        owner,
        sync,
        false,
    )
}

fn fill(
    f: &mut std::fs::File,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    f.write_all(data)?;
    let mut chmod = create_mode(mode).1;
    if let Some((u, g)) = owner {
        if (u, g) != euid() {
            std::os::unix::fs::fchown(&*f, Some(u), Some(g))?;
            // chown may clear bits for some filesystems' rules: set the mode after it.
            chmod = true;
        }
    }
    if chmod {
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    Ok(())
}

/// Replacements written to temporary files in an apply and not yet renamed over their paths
/// (temporary file, path). [`Staged::flush`] syncs the filesystem once and renames them all:
/// ext4 (`auto_da_alloc`) starts the writeback of a file renamed over another one at the
/// rename, one small write per file; after the sync there is nothing left to write, and the
/// whole batch goes to the disk at once. Until the renames every path still holds its old
/// file; a rollback removes the temporary files (they are in the journaled paths'
/// directories).
#[derive(Debug, Default)]
pub struct Staged {
    renames: Vec<(std::path::PathBuf, std::path::PathBuf, String)>,
}

impl Staged {
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty()
    }

    /// Syncs the filesystem of `root`, then renames every staged file over its path, calling
    /// `each` after each rename.
    pub fn flush(&mut self, root: &Root, mut each: impl FnMut()) -> Result<()> {
        if self.renames.is_empty() {
            return Ok(());
        }
        syncfs(root.dir())?;
        for (tmp, host, path) in self.renames.drain(..) {
            if let Err(e) = std::fs::rename(&tmp, &host) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).with_context(|| format!("writing {path}"));
            }
            each();
        }
        Ok(())
    }
}

/// [`write_atomic`] inside an apply. `fresh`: the journal holds `path` as missing, so when it
/// still is, the file is created in place (`O_EXCL`, no temporary file, no rename): a crash or
/// an error before the commit removes it with the rest, and nothing else can see a missing file
/// half-written as a replaced one. An existing path is always replaced by a rename (its backup
/// is a hard link to the old inode, which must not change).
#[allow(clippy::too_many_arguments)]
pub fn write_in(
    dirs: &mut Dirs,
    root: &Root,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    sync: bool,
    fresh: bool,
) -> Result<()> {
    write_or_stage(dirs, root, path, data, mode, owner, sync, fresh, None)
}

/// [`write_in`], but a replacement (a path that exists) is left as a temporary file in
/// `staged`, renamed over the path by [`Staged::flush`].
#[allow(clippy::too_many_arguments)]
pub fn write_staged(
    dirs: &mut Dirs,
    root: &Root,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    fresh: bool,
    staged: &mut Staged,
) -> Result<()> {
    write_or_stage(
        dirs,
        root,
        path,
        data,
        mode,
        owner,
        false,
        fresh,
        Some(staged),
    )
}

#[allow(clippy::too_many_arguments)]
fn write_or_stage(
    dirs: &mut Dirs,
    root: &Root,
    path: &str,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    sync: bool,
    fresh: bool,
    staged: Option<&mut Staged>,
) -> Result<()> {
    let host = dirs.prepare(root, path)?;
    let cmode = create_mode(mode).0;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(cmode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p)
    };
    if fresh {
        match open(&host) {
            Ok(mut f) => {
                return fill(&mut f, data, mode, owner)
                    .and_then(|()| if sync { f.sync_all() } else { Ok(()) })
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&host);
                    })
                    .with_context(|| format!("writing {path}"));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("writing {path}")),
        }
    }
    let dir = host
        .parent()
        .ok_or_else(|| anyhow!("{path}: no parent directory"))?;
    let tmp = tmp_name(dir);
    if let Some(staged) = staged {
        let r = open(&tmp).and_then(|mut f| fill(&mut f, data, mode, owner));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("writing {path}"));
        }
        staged.renames.push((tmp, host, path.to_string()));
        return Ok(());
    }
    let r = (|| -> io::Result<()> {
        let mut f = open(&tmp)?;
        fill(&mut f, data, mode, owner)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &host)?;
        if sync {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {path}"));
    }
    Ok(())
}

/// Replaces whatever is at `path` with a symlink to `target`.
pub fn symlink(dirs: &mut Dirs, root: &Root, path: &str, target: &str) -> Result<()> {
    let host = dirs.prepare(root, path)?;
    let dir = host
        .parent()
        .ok_or_else(|| anyhow!("{path}: no parent directory"))?;
    let tmp = tmp_name(dir);
    std::os::unix::fs::symlink(target, &tmp)
        .and_then(|()| std::fs::rename(&tmp, &host))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("linking {path} -> {target}"))
}

/// Removes a file or link at `path` (a missing one is fine; a directory is an error).
pub fn remove(root: &Root, path: &str) -> Result<()> {
    remove_in(&mut Dirs::default(), root, path)
}

/// [`remove`] inside an apply.
pub fn remove_in(dirs: &mut Dirs, root: &Root, path: &str) -> Result<()> {
    let resolved = dirs
        .resolve(root, path)
        .with_context(|| format!("resolving {path}"))?;
    match std::fs::remove_file(root.host(&resolved)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {path}"))
        }
        _ => Ok(()),
    }
}

/// Renames `from` over `to`, both in the root.
pub fn rename(dirs: &mut Dirs, root: &Root, from: &str, to: &str) -> Result<()> {
    let src = root.host(&dirs.resolve(root, from)?);
    let dst = dirs.prepare(root, to)?;
    std::fs::rename(&src, &dst).with_context(|| format!("renaming {from} to {to}"))
}

/// Creates directory `path` with `mode` and owner when it is missing.
pub fn mkdir(dirs: &mut Dirs, root: &Root, path: &str, mode: u32, owner: (u32, u32)) -> Result<()> {
    let host = dirs.prepare(root, path)?;
    match std::fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(anyhow!("{path} exists and is not a directory")),
        Err(_) => {}
    }
    std::fs::create_dir(&host).with_context(|| format!("creating {path}"))?;
    if owner != euid() {
        std::os::unix::fs::lchown(&host, Some(owner.0), Some(owner.1))
            .with_context(|| format!("chown {path}"))?;
    }
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {path}"))
}

/// A second name for `src` at `dst` (host paths): a hard link, or a copy that keeps mode and
/// owner when they are on different filesystems. Symlinks are linked or re-created, not followed.
pub fn link_or_copy(src: &Path, dst: &Path) -> io::Result<()> {
    match std::fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            copy_exact(src, dst)
        }
        Err(e) => Err(e),
    }
}

/// Copies a file or symlink keeping mode and owner.
pub fn copy_exact(src: &Path, dst: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(src)?;
    if m.file_type().is_symlink() {
        return std::os::unix::fs::symlink(std::fs::read_link(src)?, dst);
    }
    std::fs::copy(src, dst)?;
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))
}

/// Flushes the filesystem that holds `dir` (one sync for a whole apply instead of one per file).
pub fn syncfs(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: a valid open descriptor.
    let rc = unsafe { libc::syncfs(std::os::unix::io::AsRawFd::as_raw_fd(&f)) };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("syncfs {}", dir.display()));
    }
    Ok(())
}
