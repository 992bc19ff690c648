//! RAII for the privileged resources of a build: mounts (bind mounts for a chroot, offset loop
//! mounts of an image's partitions) and loop devices. Each is undone when dropped, in reverse
//! order of creation when kept in one `Vec`.

use std::path::{Path, PathBuf};

use crate::cmd;

/// A mounted filesystem, unmounted on drop.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    active: bool,
}

impl Mount {
    /// `mount [-o OPTIONS] [-t TYPE] SOURCE TARGET`.
    pub fn new(
        source: &Path,
        target: &Path,
        fstype: Option<&str>,
        options: Option<&str>,
    ) -> Result<Mount, cmd::CommandError> {
        let (src, tgt) = (source.to_string_lossy(), target.to_string_lossy());
        let mut args: Vec<&str> = Vec::new();
        if let Some(t) = fstype {
            args.extend(["-t", t]);
        }
        if let Some(o) = options {
            args.extend(["-o", o]);
        }
        args.extend([src.as_ref(), tgt.as_ref()]);
        cmd::run("mount", &args, None)?;
        Ok(Mount {
            target: target.to_path_buf(),
            active: true,
        })
    }

    /// A bind mount of `source` on `target` (recursive for /dev, so /dev/pts comes along).
    pub fn bind(source: &Path, target: &Path) -> Result<Mount, cmd::CommandError> {
        Mount::new(source, target, None, Some("rbind"))
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting the error (drop only logs it).
    pub fn unmount(mut self) -> Result<(), cmd::CommandError> {
        self.active = false;
        cmd::run("umount", &["-R", &self.target.to_string_lossy()], None).map(|_| ())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.active {
            if let Err(e) = cmd::run("umount", &["-R", &self.target.to_string_lossy()], None) {
                // Busy: detach lazily rather than leave the mount behind.
                eprintln!("[initramfs] {e}; detaching lazily");
                let _ = cmd::run(
                    "umount",
                    &["-R", "-l", &self.target.to_string_lossy()],
                    None,
                );
            }
        }
    }
}

/// `/proc`, `/sys` and `/dev` bound into a root for a chroot, unmounted on drop.
#[derive(Debug)]
pub struct ChrootMounts {
    // Dropped in reverse order: the last mount goes first.
    mounts: Vec<Mount>,
}

impl ChrootMounts {
    pub fn new(root: &Path) -> Result<ChrootMounts, cmd::CommandError> {
        let mut mounts = Vec::new();
        for dir in ["proc", "sys", "dev"] {
            let target = root.join(dir);
            if let Err(e) = std::fs::create_dir_all(&target) {
                return Err(cmd::CommandError {
                    command: format!("mkdir {}", target.display()),
                    reason: e.to_string(),
                });
            }
            mounts.push(Mount::bind(&Path::new("/").join(dir), &target)?);
        }
        Ok(ChrootMounts { mounts })
    }
}

impl Drop for ChrootMounts {
    fn drop(&mut self) {
        while let Some(m) = self.mounts.pop() {
            drop(m);
        }
    }
}

/// A loop device over a byte range of an image file, detached on drop.
#[derive(Debug)]
pub struct LoopDevice {
    device: String,
}

impl LoopDevice {
    /// `losetup --find --show -o OFFSET --sizelimit SIZE IMAGE`.
    pub fn attach(image: &Path, offset: u64, size: u64) -> Result<LoopDevice, cmd::CommandError> {
        let out = cmd::run(
            "losetup",
            &[
                "--find",
                "--show",
                "-o",
                &offset.to_string(),
                "--sizelimit",
                &size.to_string(),
                &image.to_string_lossy(),
            ],
            None,
        )?;
        let device = String::from_utf8_lossy(&out).trim().to_string();
        Ok(LoopDevice { device })
    }

    pub fn path(&self) -> &Path {
        Path::new(&self.device)
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Err(e) = cmd::run("losetup", &["-d", &self.device], None) {
            eprintln!("[initramfs] {e}");
        }
    }
}

/// A partition of an image file mounted through an offset loop device; both undone on drop
/// (the mount first).
#[derive(Debug)]
pub struct PartitionMount {
    mount: Option<Mount>,
    _device: LoopDevice,
}

impl PartitionMount {
    pub fn new(
        image: &Path,
        offset: u64,
        size: u64,
        target: &Path,
        options: Option<&str>,
    ) -> Result<PartitionMount, cmd::CommandError> {
        let device = LoopDevice::attach(image, offset, size)?;
        let mount = Mount::new(device.path(), target, None, options)?;
        Ok(PartitionMount {
            mount: Some(mount),
            _device: device,
        })
    }

    pub fn target(&self) -> &Path {
        self.mount
            .as_ref()
            .map(Mount::target)
            .unwrap_or(Path::new("/"))
    }
}

impl Drop for PartitionMount {
    fn drop(&mut self) {
        drop(self.mount.take());
    }
}
