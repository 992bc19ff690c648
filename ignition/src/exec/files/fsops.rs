//! The filesystem operations of the files stage, each on an in-root path
//! resolved by [`Root`], never following the last component.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::root::Root;

pub const DEFAULT_FILE_MODE: u32 = 0o644;
pub const DEFAULT_DIR_MODE: u32 = 0o755;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn ctx(path: &str, e: io::Error) -> String {
    format!("{path}: {e}")
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

/// Writes a new file at `path` with `mode`. When nothing is there, the file
/// is created in place (`O_EXCL`, one metadata operation: provisioning that
/// dies half-way is started again anyway); when something is, the data goes
/// to a temporary file in the same directory that is renamed over it, as Go
/// does for every file.
pub fn write_with_mode(root: &Root, path: &str, data: &[u8], mode: u32) -> Result<String, String> {
    let resolved = prepare(root, path)?;
    let host = root.host(&resolved);
    let direct = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&host);
    match direct {
        Ok(mut f) => {
            let r = f
                .write_all(data)
                .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(mode)));
            if let Err(e) = r {
                let _ = std::fs::remove_file(&host);
                return Err(ctx(path, e));
            }
            return Ok(resolved);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
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
