//! A tiny guest for the harness's own tests: this machine's kernel (`/boot/vmlinuz-*`, the
//! cloud flavour first) and a busybox initramfs built here (newc cpio) whose init loads the
//! virtio modules, starts the agent (`agent.sh`, the same script the scenarios install) and
//! prints [`READY`] on the console. No OS image needed.

use std::path::{Path, PathBuf};

use anyhow::Result;
use initramfs::host;

use crate::cmd;

/// The init's console line once the agent runs.
pub const READY: &str = "MOORING-SELFTEST-READY";

const MODULES: &[&str] = &["virtio_pci", "virtio_blk", "virtio_console", "qemu_fw_cfg"];

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /run /tmp /mnt
/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
sh /agent.sh &
echo MOORING-SELFTEST-READY
while :; do sleep 3600; done
"#;

/// The kernel and initramfs to boot.
pub struct Kit {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

/// The newest `/boot/vmlinuz-*` with modules in `/lib/modules`, the cloud flavour first.
pub fn host_kernel() -> Result<(PathBuf, String)> {
    host::kernel()
}

/// Why the tiny guest cannot run here (the caller prints it and skips), if it cannot.
pub fn unavailable() -> Option<String> {
    if cmd::which("qemu-system-x86_64").is_none() {
        return Some(
            "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".into(),
        );
    }
    if cmd::which("qemu-img").is_none() {
        return Some("qemu-img is not installed (apt-get install qemu-utils)".into());
    }
    host::static_busybox()
        .and_then(|_| host_kernel())
        .err()
        .map(|e| format!("{e:#}"))
}

/// Builds the initramfs in `dir`.
pub fn build(dir: &Path) -> Result<Kit> {
    let (kernel, ver) = host_kernel()?;
    let mut tree = host::Tree::new();
    tree.data("init", 0o755, INIT);
    tree.data("agent.sh", 0o755, crate::agent::SCRIPT);
    tree.copy("bin/busybox", 0o755, &host::static_busybox()?)?;
    tree.modules(&ver, MODULES)?;
    let initramfs = dir.join("selftest-initramfs.cpio");
    tree.write(&initramfs)?;
    Ok(Kit { kernel, initramfs })
}
