//! The filesystem operations of the files stage, each on an in-root path
//! resolved by [`CachedRoot`] (as [`super::super::root::Root`] resolves it),
//! never following the last component. Removals forget the cached directories.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::super::rootcache::CachedRoot as Root;

pub const DEFAULT_FILE_MODE: u32 = 0o644;
pub const DEFAULT_DIR_MODE: u32 = 0o755;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn ctx(path: &str, e: io::Error) -> String {
    format!("{path}: {e}")
}

/// The process's umask, read once (before the stage starts its threads).
pub fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(|| {
        // SAFETY: umask cannot fail; the old value is put back at once.
        let old = unsafe { libc::umask(0o022) };
        unsafe { libc::umask(old) };
        old as u32
    })
}

/// Whether a file created with `mode & 0o777` already has `mode` (no
/// special bits, nothing taken away by the umask), so no chmod is needed.
fn created_with(mode: u32) -> bool {
    mode & !0o777 == 0 && mode & umask() == 0
}

/// Re-resolves `path` (links created since planning are followed inside
/// the root) and creates its missing parents. Returns the resolved path.
pub fn prepare(root: &Root, path: &str) -> Result<String, String> {
    let resolved = root.resolve(path).map_err(|e| ctx(path, e))?;
    root.create_parents(&resolved, DEFAULT_DIR_MODE)
        .map_err(|e| format!("could not create leading directories of {path}: {e}"))?;
    Ok(resolved)
}

/// Replaces `path` with a new file holding `data`, mode 0644.
pub fn write_replace(root: &Root, path: &str, data: &[u8]) -> Result<String, String> {
    write_with_mode(root, path, data, DEFAULT_FILE_MODE)
}

/// Creates the file at the resolved path `resolved` with `data` and `mode`
/// when nothing is there (`O_EXCL|O_NOFOLLOW`); false when something is.
fn create_new(root: &Root, resolved: &str, data: &[u8], mode: u32) -> io::Result<bool> {
    let host = root.host(resolved);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&host)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e),
    };
    let r = f.write_all(data).and_then(|()| {
        if created_with(mode) {
            Ok(())
        } else {
            f.set_permissions(std::fs::Permissions::from_mode(mode))
        }
    });
    if let Err(e) = r {
        let _ = std::fs::remove_file(&host);
        return Err(e);
    }
    Ok(true)
}

/// Writes a new file at `path` with `mode` only when nothing is there:
/// the resolved path when it did, None when something exists (untouched).
pub fn write_new(
    root: &Root,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<Option<String>, String> {
    let resolved = prepare(root, path)?;
    match create_new(root, &resolved, data, mode) {
        Ok(true) => Ok(Some(resolved)),
        Ok(false) => Ok(None),
        Err(e) => Err(ctx(path, e)),
    }
}

/// Writes a new file at `path` with `mode`. When nothing is there, the file
/// is created in place (`O_EXCL`, one metadata operation: provisioning that
/// dies half-way is started again anyway); when something is, the data goes
/// to a temporary file in the same directory that is renamed over it, as Go
/// does for every file.
pub fn write_with_mode(root: &Root, path: &str, data: &[u8], mode: u32) -> Result<String, String> {
    let resolved = prepare(root, path)?;
    let host = root.host(&resolved);
    match create_new(root, &resolved, data, mode) {
        Ok(true) => return Ok(resolved),
        Ok(false) => {}
        Err(e) => return Err(ctx(path, e)),
    }
    let dir = host
        .parent()
        .ok_or_else(|| format!("{path}: no parent directory"))?;
    let tmp = dir.join(format!(
        ".ignition-tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(DEFAULT_FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, &host)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ctx(path, e));
    }
    Ok(resolved)
}

/// Appends `data` to the regular file at `path`, creating it (0644) if missing.
pub fn append(root: &Root, path: &str, data: &[u8]) -> Result<String, String> {
    let resolved = prepare(root, path)?;
    let host = root.host(&resolved);
    match std::fs::symlink_metadata(&host) {
        Ok(m) if !m.is_file() => return Err(format!("can only append to files: {path:?}")),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(DEFAULT_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&host)
        .map_err(|e| ctx(path, e))?;
    f.write_all(data).map_err(|e| ctx(path, e))?;
    Ok(resolved)
}

/// Creates the directory `path` with `mode` when nothing is there: the
/// resolved path when it did, None when something exists (untouched).
/// Without a mode it is 0755 less the umask, as Go leaves it.
pub fn mkdir_new(root: &Root, path: &str, mode: Option<u32>) -> Result<Option<String>, String> {
    let resolved = prepare(root, path)?;
    let host = root.host(&resolved);
    let create = mode.unwrap_or(DEFAULT_DIR_MODE) & 0o777;
    match std::fs::DirBuilder::new().mode(create).create(&host) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(ctx(path, e)),
    }
    if let Some(mode) = mode.filter(|m| !created_with(*m)) {
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| format!("failed to change mode of {resolved}: {e}"))?;
    }
    Ok(Some(resolved))
}

/// Creates the symlink `path` -> `target` when nothing is there: the
/// resolved path when it did, None when something exists (untouched).
pub fn symlink_new(root: &Root, path: &str, target: &str) -> Result<Option<String>, String> {
    let resolved = prepare(root, path)?;
    match std::os::unix::fs::symlink(target, root.host(&resolved)) {
        Ok(()) => Ok(Some(resolved)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(format!("could not create symlink {path}: {e}")),
    }
}

/// `mkdir -p` inside the root.
pub fn mkdir_all(root: &Root, path: &str) -> Result<String, String> {
    let resolved = prepare(root, path)?;
    match std::fs::DirBuilder::new()
        .mode(DEFAULT_DIR_MODE)
        .create(root.host(&resolved))
    {
        Ok(()) => Ok(resolved),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && root.host(&resolved).is_dir() => {
            Ok(resolved)
        }
        Err(e) => Err(ctx(path, e)),
    }
}

/// Removes whatever is at `path` (a directory recursively; a link itself).
pub fn remove_all(root: &Root, path: &str) -> Result<(), String> {
    let resolved = root.resolve(path).map_err(|e| ctx(path, e))?;
    let host = root.host(&resolved);
    root.invalidate();
    let r = match std::fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&host),
        Ok(_) => std::fs::remove_file(&host),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| format!("error removing existing file {path}: {e}"))
}

/// Sets owner (when given) and then mode (when given), so that
/// setuid/setgid bits survive the chown. Never follows a link.
pub fn set_owner_and_mode(
    root: &Root,
    resolved: &str,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
) -> Result<(), String> {
    let host = root.host(resolved);
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::lchown(&host, uid, gid)
            .map_err(|e| format!("failed to change ownership of {resolved}: {e}"))?;
    }
    if let Some(mode) = mode {
        let m = std::fs::symlink_metadata(&host).map_err(|e| ctx(resolved, e))?;
        if m.file_type().is_symlink() {
            return Err(format!("refusing to change the mode of symlink {resolved}"));
        }
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| format!("failed to change mode of {resolved}: {e}"))?;
    }
    Ok(())
}
