//! Small initramfs images made of this machine's own files, for test guests: the executor's
//! disk tests and the vm-tests harness boot the host's kernel with one. Here: the kernel to
//! boot, the kernel modules a guest needs with everything they depend on (`modules.dep`), a
//! check for a static busybox, and a tree of files written as one newc archive with every
//! parent directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::cpio::{self, Entry};

const MODULES_DIR: &str = "/lib/modules";
const BUSYBOX: &str = "/bin/busybox";

/// The newest `/boot/vmlinuz-*` whose modules are installed, the cloud flavour first (it boots
/// faster): its path and kernel version.
pub fn kernel() -> Result<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .context("reading /boot")?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new(MODULES_DIR)
                .join(&ver)
                .join("modules.dep")
                .exists()
                .then(|| (e.path(), ver))
        })
        .collect();
    found.sort_by(|a, b| (!a.1.contains("cloud"), &b.1).cmp(&(!b.1.contains("cloud"), &a.1)));
    found.into_iter().next().ok_or_else(|| {
        anyhow!("no /boot/vmlinuz-* with modules (apt-get install linux-image-cloud-amd64)")
    })
}

/// `/bin/busybox`, when it is there and static (the guest has no libraries for it).
pub fn static_busybox() -> Result<PathBuf> {
    let bb = PathBuf::from(BUSYBOX);
    if !bb.exists() {
        bail!("no {BUSYBOX} (apt-get install busybox-static)");
    }
    let ldd = Command::new("ldd")
        .arg(&bb)
        .output()
        .context("running ldd")?;
    if ldd.status.success() && !String::from_utf8_lossy(&ldd.stdout).contains("not a dynamic") {
        bail!("{BUSYBOX} is not static (apt-get install busybox-static)");
    }
    Ok(bb)
}

/// The module name `modules.dep` files are known by: `kernel/fs/xfs/xfs.ko.xz` is `xfs`,
/// dashes read as underscores.
fn module_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .split(".ko")
                .next()
                .unwrap_or("")
                .replace('-', "_")
        })
        .unwrap_or_default()
}

/// The modules named (dashes or underscores) and all they depend on, as paths relative to
/// `/lib/modules/VER`, in an order `insmod` accepts (dependencies first). Names that
/// `modules.dep` does not list are built into the kernel and left out.
pub fn module_closure(dep: &str, names: &[&str]) -> Vec<String> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for line in dep.lines() {
        let Some((m, d)) = line.split_once(':') else {
            continue;
        };
        by_name.insert(module_name(m), m.to_string());
        deps.insert(
            m.to_string(),
            d.split_whitespace().map(str::to_string).collect(),
        );
    }
    fn visit(
        m: &str,
        deps: &BTreeMap<String, Vec<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(m.to_string()) {
            return;
        }
        for d in deps.get(m).into_iter().flatten() {
            visit(d, deps, seen, order);
        }
        order.push(m.to_string());
    }
    let (mut seen, mut order) = (BTreeSet::new(), Vec::new());
    for name in names {
        if let Some(path) = by_name.get(&name.replace('-', "_")) {
            visit(path, &deps, &mut seen, &mut order);
        }
    }
    order
}

/// The files of an initramfs, by path inside it.
#[derive(Default)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// A file with these contents.
    pub fn data(&mut self, path: &str, perm: u32, data: impl Into<Vec<u8>>) {
        let e = Entry::file(path, perm, data.into());
        self.entries.insert(e.path.clone(), e);
    }

    /// A copy of the host file `src`.
    pub fn copy(&mut self, path: &str, perm: u32, src: &Path) -> Result<()> {
        let data = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
        self.data(path, perm, data);
        Ok(())
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        let e = Entry::symlink(path, target);
        self.entries.insert(e.path.clone(), e);
    }

    /// The modules named and their dependencies under `lib/modules/<path>`, and
    /// `modules.order` listing them in load order (one path per line, relative to
    /// `/lib/modules`), which the guest's init loads with `insmod`.
    pub fn modules(&mut self, ver: &str, names: &[&str]) -> Result<()> {
        let base = Path::new(MODULES_DIR).join(ver);
        let dep_file = base.join("modules.dep");
        let dep = std::fs::read_to_string(&dep_file)
            .with_context(|| format!("reading {}", dep_file.display()))?;
        let order = module_closure(&dep, names);
        for m in &order {
            self.copy(&format!("lib/modules/{m}"), 0o644, &base.join(m))?;
        }
        self.data("modules.order", 0o644, order.join("\n"));
        Ok(())
    }

    /// Writes the tree as one uncompressed newc archive, with every parent directory (0755).
    pub fn write(&self, out: &Path) -> Result<()> {
        let all = crate::cpio_cli::with_parents(self.entries.values().cloned().collect());
        let bytes = cpio::archive(&all).with_context(|| format!("writing {}", out.display()))?;
        std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz\n\
kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n\
kernel/drivers/virtio/virtio.ko.xz:\n\
kernel/fs/nls/nls-cp437.ko.xz:\n";

    #[test]
    fn closure_puts_dependencies_first_and_skips_built_ins() {
        assert_eq!(
            module_closure(DEP, &["virtio_blk", "nls_cp437", "ext4"]),
            [
                "kernel/drivers/virtio/virtio.ko.xz",
                "kernel/drivers/virtio/virtio_ring.ko.xz",
                "kernel/drivers/block/virtio_blk.ko.xz",
                "kernel/fs/nls/nls-cp437.ko.xz",
            ]
        );
        assert_eq!(
            module_closure(DEP, &["virtio", "virtio-blk"]),
            [
                "kernel/drivers/virtio/virtio.ko.xz",
                "kernel/drivers/virtio/virtio_ring.ko.xz",
                "kernel/drivers/block/virtio_blk.ko.xz",
            ]
        );
    }

    #[test]
    fn tree_is_written_with_its_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tree::new();
        t.data("/init", 0o755, "#!/bin/sh\n");
        t.data("a/b/c.txt", 0o644, "c");
        t.symlink("etc/mtab", "/proc/mounts");
        let out = dir.path().join("x.cpio");
        t.write(&out).unwrap();
        let read = cpio::read_entries(&std::fs::read(&out).unwrap()).unwrap();
        let listed: Vec<(String, u32)> = read.iter().map(|e| (e.path.clone(), e.mode)).collect();
        assert_eq!(
            listed,
            [
                ("a".to_string(), cpio::S_IFDIR | 0o755),
                ("a/b".to_string(), cpio::S_IFDIR | 0o755),
                ("a/b/c.txt".to_string(), cpio::S_IFREG | 0o644),
                ("etc".to_string(), cpio::S_IFDIR | 0o755),
                ("etc/mtab".to_string(), cpio::S_IFLNK | 0o777),
                ("init".to_string(), cpio::S_IFREG | 0o755),
            ]
        );
    }
}
