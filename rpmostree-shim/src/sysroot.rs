//! Opening a sysroot, choosing the stateroot, and the sysroot lock (held by a guard).

use anyhow::{bail, Context, Result};
use ostree::gio;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors that callers (and tests) match on.
#[derive(Debug, Error)]
pub enum SysrootError {
    #[error(
        "sysroot {0} is locked by another writer (rpm-ostree or ostree admin is changing it); \
         try again when it has finished"
    )]
    Locked(PathBuf),
}

/// A loaded sysroot and where it lives.
pub struct Sys {
    pub path: PathBuf,
    pub sysroot: ostree::Sysroot,
}

/// Whether the command will change the sysroot (then a booted `/sysroot` is made writable in a
/// private mount namespace, as `ostree admin` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Sys {
    /// Loads the sysroot at `path`.
    pub fn open(path: &Path, access: Access) -> Result<Sys> {
        let sysroot = ostree::Sysroot::new(Some(&gio::File::for_path(path)));
        if access == Access::Write
            && path == Path::new("/")
            && Path::new("/run/ostree-booted").exists()
        {
            enter_private_mount_namespace()?;
            sysroot.set_mount_namespace_in_use();
        }
        sysroot
            .load(gio::Cancellable::NONE)
            .with_context(|| format!("loading sysroot {}", path.display()))?;
        Ok(Sys {
            path: path.to_path_buf(),
            sysroot,
        })
    }

    /// True when this sysroot is the one the running system booted from.
    pub fn is_booted(&self) -> bool {
        self.sysroot.booted_deployment().is_some()
    }

    /// Takes the sysroot lock without waiting; fails with [`SysrootError::Locked`] when another
    /// writer holds it. The lock is released when the guard drops.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        let got = self
            .sysroot
            .try_lock()
            .with_context(|| format!("taking the lock of sysroot {}", self.path.display()))?;
        if !got {
            return Err(SysrootError::Locked(self.path.clone()).into());
        }
        // Reload under the lock: another writer may have changed the deployments meanwhile.
        self.sysroot
            .load(gio::Cancellable::NONE)
            .with_context(|| format!("reloading sysroot {}", self.path.display()))?;
        Ok(LockGuard { sys: self })
    }

    /// The stateroot to act on: `--os`, else the booted one, else the only one.
    pub fn osname(&self, requested: Option<&str>) -> Result<String> {
        let all = self.stateroots()?;
        if let Some(os) = requested {
            if !all.iter().any(|s| s == os) {
                bail!(
                    "no stateroot {os:?} in sysroot {} (found: {})",
                    self.path.display(),
                    list(&all)
                );
            }
            return Ok(os.to_string());
        }
        if let Some(b) = self.sysroot.booted_deployment() {
            return Ok(b.osname().to_string());
        }
        match all.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!(
                "sysroot {} has no stateroot (create one with `ostree admin os-init`)",
                self.path.display()
            ),
            _ => bail!(
                "sysroot {} has several stateroots ({}); choose one with --os",
                self.path.display(),
                list(&all)
            ),
        }
    }

    /// The stateroots: directories under `ostree/deploy`.
    pub fn stateroots(&self) -> Result<Vec<String>> {
        let dir = self.path.join("ostree/deploy");
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for ent in rd {
            let ent = ent.with_context(|| format!("reading {}", dir.display()))?;
            if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(ent.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes a new deployment list: `order` holds indices into `deps`, the list
    /// [`crate::inspect::entries`] returned for this sysroot. libostree recognises the booted
    /// and the staged deployment by object identity, so the very objects it handed out go
    /// back, each with one more reference (`Clone::clone`). The inherent
    /// `ostree::Deployment::clone` would not do: it is `ostree_deployment_clone`, a new object,
    /// and with copies libostree refuses the list on a booted system ("Attempting to remove
    /// booted deployment").
    pub fn write_order(
        &self,
        deps: &[ostree::Deployment],
        order: &[usize],
        what: &str,
    ) -> Result<()> {
        let new: Vec<ostree::Deployment> = order.iter().map(|&i| Clone::clone(&deps[i])).collect();
        self.sysroot
            .write_deployments(&new, gio::Cancellable::NONE)
            .with_context(|| format!("writing {what} of sysroot {}", self.path.display()))
    }

    /// The deployment new deployments take /etc and kernel arguments from.
    pub fn merge_deployment(&self, osname: &str) -> Option<ostree::Deployment> {
        self.sysroot.merge_deployment(Some(osname))
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Holds the sysroot lock; unlocks on drop.
pub struct LockGuard<'a> {
    sys: &'a Sys,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.sys.sysroot.unlock();
    }
}

fn enter_private_mount_namespace() -> Result<()> {
    // SAFETY: unshare only affects this process; no pointers are involved.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .context("unshare(CLONE_NEWNS) to make /sysroot writable");
    }
    Ok(())
}
