//! The base tree: the rootfs with our initramfs, laid out as ostree wants it, committed.
//!
//! Layout (as ostree deployments expect): kernel and initramfs in `/usr/lib/modules/<kver>/`,
//! `/etc` moved to `/usr/etc`, `/var` empty, `/dev` empty, `/home`, `/root`, `/opt`, `/srv`,
//! `/mnt`, `/usr/local` as links into `/var`, an empty `/sysroot` and `/ostree -> sysroot/ostree`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cache::Key;
use crate::ostree;
use crate::run;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Base {
    pub commit: String,
    pub kernel_version: String,
    pub initramfs_bytes: u64,
}

pub const BASE_REF: &str = "mooring/base/x86_64";

/// Links into /var: (path in the root, target).
pub const VAR_LINKS: &[(&str, &str)] = &[
    ("home", "var/home"),
    ("root", "var/roothome"),
    ("opt", "var/opt"),
    ("srv", "var/srv"),
    ("mnt", "var/mnt"),
    ("usr/local", "../var/usrlocal"),
];

/// The base step's inputs: the rootfs, our ignition, the dracut module.
pub fn key(rootfs_key: &str, ignition: &Path) -> Result<Key> {
    let mut k = Key::new();
    // Bump when to_ostree_layout changes.
    k.add_str("layout-version", "3");
    k.add_str("rootfs", rootfs_key);
    k.add_file("ignition", ignition)?;
    k.add("dracut-module", &initramfs::module::fingerprint());
    k.add_str("dracut-modules", &initramfs::dracut::MODULES.join(" "));
    k.add_str("dracut-drivers", &initramfs::dracut::DRIVERS.join(" "));
    Ok(k)
}

pub fn build(rootfs: &Path, ignition: &Path, repo: &Path, work: &Path) -> Result<Base> {
    let tree = work.join("tree");
    run::quiet(
        "cp",
        &[
            "-a",
            "--reflink=auto",
            &rootfs.to_string_lossy(),
            &tree.to_string_lossy(),
        ],
    )?;
    let stripped = work.join("ignition");
    crate::binaries::strip(ignition, &stripped)?;
    let report = initramfs::build::build(&initramfs::build::Options {
        root: tree.clone(),
        kver: None,
        ignition: Some(stripped),
        output: work.join("initramfs.img"),
    })?;
    let kver = report.kver.clone();
    to_ostree_layout(&tree, &kver, &work.join("initramfs.img"))?;
    let commit = ostree::commit(
        repo,
        BASE_REF,
        &[format!("--tree=dir={}", tree.display())],
        &[("mooring.base", "true")],
    )?;
    crate::cache::remove_tree(&tree)?;
    Ok(Base {
        commit,
        kernel_version: kver,
        initramfs_bytes: report.bytes,
    })
}

fn rm(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("removing {}", path.display())),
    }
}

fn empty_dir(path: &Path) -> Result<()> {
    rm(path)?;
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

/// Turns a Debian root into a tree ostree can commit and deploy.
pub fn to_ostree_layout(tree: &Path, kver: &str, initramfs: &Path) -> Result<()> {
    let moddir = tree.join("usr/lib/modules").join(kver);
    let vmlinuz = tree.join("boot").join(format!("vmlinuz-{kver}"));
    if !vmlinuz.exists() {
        bail!("{}: no kernel", vmlinuz.display());
    }
    fs::rename(&vmlinuz, moddir.join("vmlinuz"))
        .with_context(|| format!("moving {}", vmlinuz.display()))?;
    fs::copy(initramfs, moddir.join("initramfs.img"))
        .with_context(|| format!("copying {}", initramfs.display()))?;
    empty_dir(&tree.join("boot"))?;
    // Debian's kernel postinst links these in /; they point into the old /boot.
    for l in ["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"] {
        rm(&tree.join(l))?;
    }

    // Machine-specific state must not be in the image.
    let etc = tree.join("etc");
    // systemd's first-boot marker: a machine ID is made on first boot, and the presets (those
    // Ignition writes too) are applied.
    fs::write(etc.join("machine-id"), "uninitialized\n").context("writing /etc/machine-id")?;
    fs::write(etc.join("hostname"), "localhost\n").context("writing /etc/hostname")?;
    for e in fs::read_dir(etc.join("ssh"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("ssh_host_") {
            rm(&e.path())?;
        }
    }
    rm(&tree.join("usr/etc"))?;
    fs::rename(&etc, tree.join("usr/etc")).context("moving /etc to /usr/etc")?;

    empty_dir(&tree.join("var"))?;
    empty_dir(&tree.join("dev"))?;
    for d in ["proc", "sys", "run", "tmp"] {
        empty_dir(&tree.join(d))?;
    }
    for (path, target) in VAR_LINKS {
        let p = tree.join(path);
        rm(&p)?;
        symlink(target, &p).with_context(|| format!("linking {}", p.display()))?;
    }
    empty_dir(&tree.join("sysroot"))?;
    let ostree_link = tree.join("ostree");
    rm(&ostree_link)?;
    symlink("sysroot/ostree", &ostree_link).context("linking /ostree")?;
    // ostree commits regular files, directories and links only.
    run::quiet(
        "find",
        &[
            &tree.to_string_lossy(),
            "-xdev",
            "(",
            "-type",
            "p",
            "-o",
            "-type",
            "s",
            "-o",
            "-type",
            "b",
            "-o",
            "-type",
            "c",
            ")",
            "-delete",
        ],
    )?;
    Ok(())
}

/// Where a kernel lives in a committed tree.
pub fn kernel_paths(kver: &str) -> (PathBuf, PathBuf) {
    let d = PathBuf::from("/usr/lib/modules").join(kver);
    (d.join("vmlinuz"), d.join("initramfs.img"))
}
