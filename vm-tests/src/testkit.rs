//! A tiny guest for the harness's own tests: this machine's kernel (`/boot/vmlinuz-*`, the
//! cloud flavour first) and a busybox initramfs built here (newc cpio) whose init loads the
//! virtio modules, starts the agent (`agent.sh`, the same script the scenarios install) and
//! prints [`READY`] on the console. No OS image needed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

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
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .context("reading /boot")?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
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
    if !Path::new("/bin/busybox").exists() {
        return Some("no /bin/busybox (apt-get install busybox-static)".into());
    }
    if let Err(e) = host_kernel() {
        return Some(format!("{e:#}"));
    }
    None
}

enum Entry {
    File(PathBuf, u32),
    Data(Vec<u8>, u32),
}

/// Builds the initramfs in `dir`.
pub fn build(dir: &Path) -> Result<Kit> {
    let (kernel, ver) = host_kernel()?;
    let bb = Path::new("/bin/busybox");
    let ldd = Command::new("ldd")
        .arg(bb)
        .output()
        .context("running ldd")?;
    if ldd.status.success() && !String::from_utf8_lossy(&ldd.stdout).contains("not a dynamic") {
        bail!("/bin/busybox is not static (apt-get install busybox-static)");
    }
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    files.insert("init".into(), Entry::Data(INIT.as_bytes().to_vec(), 0o755));
    files.insert(
        "agent.sh".into(),
        Entry::Data(crate::agent::SCRIPT.as_bytes().to_vec(), 0o755),
    );
    files.insert("bin/busybox".into(), Entry::File(bb.into(), 0o755));
    let order = modules(&ver, &mut files)?;
    files.insert(
        "modules.order".into(),
        Entry::Data(order.join("\n").into_bytes(), 0o644),
    );
    let initramfs = dir.join("selftest-initramfs.cpio");
    write_cpio(&files, &initramfs)?;
    Ok(Kit { kernel, initramfs })
}

/// Adds the modules and their dependencies (`modules.dep`); returns the load order.
fn modules(ver: &str, files: &mut BTreeMap<String, Entry>) -> Result<Vec<String>> {
    let base = Path::new("/lib/modules").join(ver);
    let dep_file = base.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_file)
        .with_context(|| format!("reading {}", dep_file.display()))?;
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for line in dep.lines() {
        let Some((m, d)) = line.split_once(':') else {
            continue;
        };
        let name = Path::new(m)
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .split(".ko")
                    .next()
                    .unwrap_or("")
                    .replace('-', "_")
            })
            .unwrap_or_default();
        by_name.insert(name, m.to_string());
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
    for m in MODULES {
        if let Some(path) = by_name.get(*m) {
            visit(path, &deps, &mut seen, &mut order);
        }
    }
    for m in &order {
        files.insert(format!("lib/modules/{m}"), Entry::File(base.join(m), 0o644));
    }
    Ok(order)
}

/// Writes a newc cpio archive with every parent directory.
fn write_cpio(files: &BTreeMap<String, Entry>, out: &Path) -> Result<()> {
    let mut dirs = BTreeSet::new();
    for p in files.keys() {
        let mut d = Path::new(p).parent();
        while let Some(x) = d.filter(|x| !x.as_os_str().is_empty()) {
            dirs.insert(x.to_string_lossy().into_owned());
            d = x.parent();
        }
    }
    let f = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let mut ino = 1u32;
    let mut put = |name: &str, mode: u32, data: &[u8]| -> std::io::Result<()> {
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        );
        ino += 1;
        let pad = |n: usize| vec![0u8; (4 - n % 4) % 4];
        w.write_all(header.as_bytes())?;
        w.write_all(name.as_bytes())?;
        w.write_all(&[0])?;
        w.write_all(&pad(110 + name.len() + 1))?;
        w.write_all(data)?;
        w.write_all(&pad(data.len()))
    };
    let io = |e: std::io::Error| anyhow!("writing {}: {e}", out.display());
    for d in &dirs {
        put(d, 0o040755, &[]).map_err(io)?;
    }
    for (name, e) in files {
        match e {
            Entry::File(src, mode) => {
                let data =
                    std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
                put(name, 0o100000 | mode, &data).map_err(io)?;
            }
            Entry::Data(data, mode) => put(name, 0o100000 | mode, data).map_err(io)?,
        }
    }
    put("TRAILER!!!", 0, &[]).map_err(io)?;
    w.flush().map_err(io)
}
