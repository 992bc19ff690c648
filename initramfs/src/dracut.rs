//! What dracut is asked to build: pure, so the plan can be printed and tested.

/// dracut modules of our initramfs (their dependencies come along). Short on purpose:
/// systemd in the initramfs, udev, block root devices, ostree's prepare-root, our stages.
pub const MODULES: &[&str] = &[
    "systemd",
    "systemd-initrd",
    "dracut-systemd",
    "base",
    "fs-lib",
    "rootfs-block",
    "kernel-modules",
    "udev-rules",
    "ostree",
];

/// Added when the root has what they need (dracut fails on a module it cannot install):
/// (module, a path in the root that must exist).
pub const OPTIONAL_MODULES: &[(&str, &str)] = &[
    // DHCP for configs fetched over the network (package dracut-network).
    (
        "systemd-networkd",
        "usr/lib/dracut/modules.d/01systemd-networkd",
    ),
    // RAID and LUKS for the disks stage (packages mdadm, cryptsetup-bin).
    ("mdraid", "usr/sbin/mdadm"),
    ("crypt", "usr/sbin/cryptsetup"),
];

/// Kernel drivers (with their dependencies): virtio and common disks, the filesystems the
/// stages make, RAID and LUKS, QEMU's fw_cfg.
pub const DRIVERS: &[&str] = &[
    "virtio_blk",
    "virtio_scsi",
    "virtio_pci",
    "virtio_net",
    "virtio_console",
    "virtio_rng",
    "sd_mod",
    "sr_mod",
    "ahci",
    "nvme",
    "ata_piix",
    "ext4",
    "xfs",
    "vfat",
    "btrfs",
    "isofs",
    "squashfs",
    "overlay",
    "loop",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "md_mod",
    "raid0",
    "raid1",
    "raid10",
    "raid456",
    "dm_mod",
    "dm_crypt",
    "qemu_fw_cfg",
];

/// `/etc/dracut.conf.d/` text for a root: the same settings dracut uses when a kernel package
/// runs it, so that the first initramfs (built while the rootfs is made) is already small.
pub fn conf(modules: &[&str]) -> String {
    format!(
        "# mooring: small, generic initramfs (written by `initramfs`/`images`)\n\
         hostonly=\"no\"\n\
         compress=\"gzip\"\n\
         dracutmodules=\" {} \"\n\
         drivers=\" {} \"\n\
         omit_drivers=\" \"\n",
        modules.join(" "),
        DRIVERS.join(" ")
    )
}

/// The dracut command line, run inside the root (paths are the root's).
pub fn args(kver: &str, output_in_root: &str, modules: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--force".into(),
        "--no-hostonly".into(),
        "--gzip".into(),
        "--reproducible".into(),
        "--modules".into(),
        modules.join(" "),
        "--drivers".into(),
        DRIVERS.join(" "),
        "--kver".into(),
        kver.into(),
    ];
    v.push(output_in_root.into());
    v
}

/// The modules for a root in which `present(path)` says what exists: ours plus the optional
/// ones it can build.
pub fn modules_for(present: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut m: Vec<&'static str> = MODULES.to_vec();
    for (module, needs) in OPTIONAL_MODULES {
        if present(needs) {
            m.push(module);
        }
    }
    m.push(crate::module::MODULE_NAME);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_name_everything() {
        let a = args(
            "6.1.0-1-cloud-amd64",
            "/usr/lib/modules/6.1.0-1-cloud-amd64/initramfs.img",
            &["ostree", "mooring-ignition"],
        );
        assert_eq!(
            a.last().unwrap(),
            "/usr/lib/modules/6.1.0-1-cloud-amd64/initramfs.img"
        );
        let kver = a.iter().position(|x| x == "--kver").unwrap();
        assert_eq!(a[kver + 1], "6.1.0-1-cloud-amd64");
        let m = a.iter().position(|x| x == "--modules").unwrap();
        assert_eq!(a[m + 1], "ostree mooring-ignition");
        assert!(a.contains(&"--no-hostonly".to_string()) && a.contains(&"--gzip".to_string()));
    }

    #[test]
    fn optional_modules_only_when_present() {
        assert!(!modules_for(|_| false).contains(&"systemd-networkd"));
        let m = modules_for(|p| p == "usr/sbin/mdadm");
        assert!(m.contains(&"mdraid") && !m.contains(&"crypt"));
        assert_eq!(m.last(), Some(&"mooring-ignition"));
    }

    #[test]
    fn conf_is_generic() {
        let c = conf(MODULES);
        assert!(c.contains("hostonly=\"no\""));
        assert!(c.contains("virtio_blk") && c.contains(" ostree "));
    }
}
