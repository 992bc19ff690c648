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
    dir.join(format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Resolves `path` in the root and creates its missing parents (0755). Returns the host path.
pub fn prepare(root: &Root, path: &str) -> Result<std::path::PathBuf> {
    let resolved = root
        .resolve(path)
        .with_context(|| format!("resolving {path}"))?;
    root.create_parents(&resolved, 0o755)
        .with_context(|| format!("creating the parents of {path}"))?;
    Ok(root.host(&resolved))
}

fn euid() -> (u32, u32) {
    // SAFETY: no preconditions.
    unsafe { (libc::geteuid(), libc::getegid()) }
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
    let host = prepare(root, path)?;
    let dir = host
        .parent()
        .ok_or_else(|| anyhow!("{path}: no parent directory"))?;
    let tmp = tmp_name(dir);
    let r = (|| -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(data)?;
        if let Some((u, g)) = owner {
            if (u, g) != euid() {
                std::os::unix::fs::fchown(&f, Some(u), Some(g))?;
            }
        }
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
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
pub fn symlink(root: &Root, path: &str, target: &str) -> Result<()> {
    let host = prepare(root, path)?;
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
    let resolved = root
        .resolve(path)
        .with_context(|| format!("resolving {path}"))?;
    match std::fs::remove_file(root.host(&resolved)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {path}"))
        }
        _ => Ok(()),
    }
}

/// Renames `from` over `to`, both in the root.
pub fn rename(root: &Root, from: &str, to: &str) -> Result<()> {
    let src = root.host(&root.resolve(from)?);
    let dst = prepare(root, to)?;
    std::fs::rename(&src, &dst).with_context(|| format!("renaming {from} to {to}"))
}

/// Creates directory `path` with `mode` and owner when it is missing.
pub fn mkdir(root: &Root, path: &str, mode: u32, owner: (u32, u32)) -> Result<()> {
    let host = prepare(root, path)?;
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
