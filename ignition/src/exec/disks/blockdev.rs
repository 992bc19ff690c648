//! Block devices without udev or systemd: resolving `/dev/disk/by-*` names
//! by scanning, checking that a disk is not in use, telling the kernel about
//! a new partition table (BLKPG, per partition) and waiting for the
//! partition nodes (creating them with mknod when no devtmpfs does).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::gpt;
use super::plan::Part;

/// Where sysfs and /proc are (tests of the pure parts do not need them).
pub const SYS_CLASS_BLOCK: &str = "/sys/class/block";

/// Undoes udev's escaping of names in `/dev/disk/by-*` (`\x2f` for `/`, `\x20` for space).
pub fn udev_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kinds of `/dev/disk/by-*` names we resolve ourselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByName {
    PartLabel(String),
    PartUuid(String),
    Label(String),
    Uuid(String),
}

/// Parses a `/dev/disk/by-{partlabel,partuuid,label,uuid}/X` path.
pub fn by_name(path: &str) -> Option<ByName> {
    let rest = path.strip_prefix("/dev/disk/")?;
    let (kind, name) = rest.split_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let name = udev_unescape(name);
    Some(match kind {
        "by-partlabel" => ByName::PartLabel(name),
        "by-partuuid" => ByName::PartUuid(name.to_ascii_uppercase()),
        "by-label" => ByName::Label(name),
        "by-uuid" => ByName::Uuid(name.to_ascii_lowercase()),
        _ => return None,
    })
}

/// A block device known to sysfs.
#[derive(Debug, Clone)]
pub struct SysBlock {
    pub name: String,
    /// For a partition: its disk and number.
    pub parent: Option<(String, u32)>,
}

/// The block devices in sysfs.
pub fn sys_blocks() -> Vec<SysBlock> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(SYS_CLASS_BLOCK) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        let parent = std::fs::read_to_string(dir.join("partition"))
            .ok()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .and_then(|n| {
                let real = std::fs::canonicalize(&dir).ok()?;
                let disk = real.parent()?.file_name()?.to_string_lossy().into_owned();
                Some((disk, n))
            });
        out.push(SysBlock { name, parent });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Makes sure `/dev/NAME` exists for a block device sysfs knows, creating
/// the node when there is no devtmpfs to do it.
pub fn ensure_node(name: &str) -> Result<PathBuf, String> {
    let node = PathBuf::from("/dev").join(name);
    if node.exists() {
        return Ok(node);
    }
    let dev = std::fs::read_to_string(Path::new(SYS_CLASS_BLOCK).join(name).join("dev"))
        .map_err(|e| format!("{name}: reading its device number from sysfs: {e}"))?;
    let (maj, min) = dev
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("{name}: bad device number {dev:?} in sysfs"))?;
    let c = std::ffi::CString::new(node.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("bad node name {name}"))?;
    // SAFETY: plain syscall on a NUL-terminated path.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o660, libc::makedev(maj, min)) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(format!("creating {}: {e}", node.display()));
        }
    }
    tracing::info!("created device node {} ({maj}:{min})", node.display());
    Ok(node)
}

/// Resolves a device path the way udev's links would: an existing path is
/// canonicalized; a missing `/dev/disk/by-partlabel|by-partuuid/X` is found
/// by reading the GPT of every disk in sysfs, a missing `by-label|by-uuid/X`
/// by one `blkid` probe of all devices. `Ok(None)`: not found (yet).
pub fn resolve(path: &str) -> Result<Option<PathBuf>, String> {
    let p = Path::new(path);
    if p.exists() {
        return std::fs::canonicalize(p)
            .map(Some)
            .map_err(|e| format!("resolving {path}: {e}"));
    }
    let Some(by) = by_name(path) else {
        return Ok(None);
    };
    match &by {
        ByName::PartLabel(_) | ByName::PartUuid(_) => {
            let blocks = sys_blocks();
            let mut tables: BTreeMap<String, Vec<Part>> = BTreeMap::new();
            let mut found = Vec::new();
            for b in &blocks {
                let Some((disk, number)) = &b.parent else {
                    continue;
                };
                if !tables.contains_key(disk) {
                    tables.insert(disk.clone(), read_table(disk).unwrap_or_default());
                }
                let hit = tables[disk].iter().any(|p| {
                    p.number == *number
                        && match &by {
                            ByName::PartLabel(l) => p.label == *l,
                            ByName::PartUuid(u) => p.guid == *u,
                            _ => false,
                        }
                });
                if hit {
                    found.push(b.name.clone());
                }
            }
            pick(path, found)
        }
        ByName::Label(_) | ByName::Uuid(_) => {
            let out = match super::super::cmd::run(
                "blkid",
                &[
                    "-c".into(),
                    "/dev/null".into(),
                    "-o".into(),
                    "export".into(),
                ],
                None,
            ) {
                Ok(o) => o,
                // exit 2: nothing found anywhere
                Err(e) if e.reason.starts_with("exit status 2") => Vec::new(),
                Err(e) => return Err(e.to_string()),
            };
            let mut found = Vec::new();
            for dev in parse_blkid_export(&String::from_utf8_lossy(&out)) {
                let hit = match &by {
                    ByName::Label(l) => dev.get("LABEL") == Some(l),
                    ByName::Uuid(u) => {
                        dev.get("UUID").map(|x| x.to_ascii_lowercase()) == Some(u.clone())
                    }
                    _ => false,
                };
                if let (true, Some(name)) = (hit, dev.get("DEVNAME")) {
                    found.push(name.trim_start_matches("/dev/").to_string());
                }
            }
            pick(path, found)
        }
    }
}

fn pick(path: &str, found: Vec<String>) -> Result<Option<PathBuf>, String> {
    match found.len() {
        0 => Ok(None),
        1 => ensure_node(&found[0]).map(Some),
        _ => Err(format!(
            "{path} is ambiguous without udev: it matches {}",
            found.join(", ")
        )),
    }
}

/// Parses `blkid -o export` output: blocks of KEY=value lines separated by
/// blank lines.
pub fn parse_blkid_export(s: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur = BTreeMap::new();
    for line in s.lines() {
        match line.split_once('=') {
            Some((k, v)) => {
                cur.insert(k.to_string(), v.to_string());
            }
            None if line.trim().is_empty() && !cur.is_empty() => {
                out.push(std::mem::take(&mut cur));
            }
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The GPT of disk `name` (by its kernel name).
pub fn read_table(name: &str) -> Result<Vec<Part>, String> {
    let node = ensure_node(name)?;
    let mut f = File::open(&node).map_err(|e| format!("opening {}: {e}", node.display()))?;
    let ss = sector_size(&f);
    Ok(gpt::read_layout(&mut f, ss)?.0.parts)
}

/// The logical sector size of a block device (512 for a regular file).
pub fn sector_size(f: &File) -> u64 {
    const BLKSSZGET: libc::c_ulong = 0x1268;
    let is_block = f
        .metadata()
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    if !is_block {
        return 512;
    }
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKSSZGET as _, &mut size) };
    if rc == 0 && size > 0 {
        size as u64
    } else {
        512
    }
}

/// The kernel name (`vda`, `nvme0n1p2`) of a resolved `/dev` path.
pub fn kernel_name(dev: &Path) -> String {
    dev.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The path of partition `n` of disk `disk` (`/dev/vda1`, `/dev/nvme0n1p1`).
pub fn partition_path(disk: &Path, n: u32) -> PathBuf {
    let s = disk.display().to_string();
    let sep = if s.ends_with(|c: char| c.is_ascii_digit()) {
        "p"
    } else {
        ""
    };
    PathBuf::from(format!("{s}{sep}{n}"))
}

fn rdev(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.file_type().is_block_device())
        .map(|m| m.rdev())
}

/// Why a device is busy, if it is: mounted (`/proc/mounts`), used as swap
/// (`/proc/swaps`) or held by another device (md, dm: sysfs `holders`).
pub fn busy(dev: &Path) -> Option<String> {
    let name = kernel_name(dev);
    if let Ok(rd) = std::fs::read_dir(Path::new(SYS_CLASS_BLOCK).join(&name).join("holders")) {
        let holders: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !holders.is_empty() {
            return Some(format!("held by {}", holders.join(", ")));
        }
    }
    let me = rdev(dev)?;
    for (file, what) in [
        ("/proc/mounts", "mounted at"),
        ("/proc/swaps", "used as swap"),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(src), second) = (fields.next(), fields.next()) else {
                continue;
            };
            if src.starts_with('/') && rdev(Path::new(src)) == Some(me) {
                return Some(if file == "/proc/swaps" {
                    what.to_string()
                } else {
                    format!("{what} {}", second.unwrap_or("?"))
                });
            }
        }
    }
    None
}

/// The partitions the kernel knows on `disk`: number → (kernel name, start, size in 512-byte units).
pub fn kernel_partitions(disk: &str) -> BTreeMap<u32, (String, u64, u64)> {
    let mut out = BTreeMap::new();
    let dir = Path::new(SYS_CLASS_BLOCK).join(disk);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return out;
    };
    let num = |p: PathBuf| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(disk) {
            continue;
        }
        let p = e.path();
        if let (Some(n), Some(start), Some(size)) = (
            num(p.join("partition")),
            num(p.join("start")),
            num(p.join("size")),
        ) {
            out.insert(n as u32, (name, start, size));
        }
    }
    out
}

#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [u8; 64],
    volname: [u8; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

fn blkpg(f: &File, op: libc::c_int, pno: u32, start: u64, length: u64) -> std::io::Result<()> {
    const BLKPG: libc::c_ulong = 0x1269;
    let mut part = BlkpgPartition {
        start: start as libc::c_longlong,
        length: length as libc::c_longlong,
        pno: pno as libc::c_int,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: &mut part as *mut BlkpgPartition as *mut libc::c_void,
    };
    // SAFETY: BLKPG reads the argument struct and the partition it points to, both alive here.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKPG as _, &mut arg) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Brings the kernel's view of `disk`'s partitions in line with `table`:
/// partitions that are gone or changed are deleted, new or changed ones
/// added (BLKPG, one partition at a time, so that unrelated mounted
/// partitions do not get in the way as they do with BLKRRPART). Then waits
/// for the nodes and checks that the kernel's start and size are ours.
pub fn sync_kernel(f: &File, disk: &Path, table: &[Part], sector_size: u64) -> Result<(), String> {
    const ADD: libc::c_int = 1;
    const DEL: libc::c_int = 2;
    let name = kernel_name(disk);
    let factor = sector_size / 512;
    let current = kernel_partitions(&name);
    let want: BTreeMap<u32, (u64, u64)> = table
        .iter()
        .map(|p| (p.number, (p.start * factor, p.size * factor)))
        .collect();
    for (n, (pname, start, size)) in &current {
        if want.get(n) != Some(&(*start, *size)) {
            tracing::info!(
                "telling the kernel: delete partition {n} of {}",
                disk.display()
            );
            blkpg(f, DEL, *n, 0, 0).map_err(|e| {
                format!(
                    "{}: removing partition {n} ({pname}) from the kernel: {e}",
                    disk.display()
                )
            })?;
        }
    }
    for (n, (start, size)) in &want {
        if current.get(n).map(|c| (c.1, c.2)) != Some((*start, *size)) {
            tracing::info!(
                "telling the kernel: add partition {n} of {}",
                disk.display()
            );
            blkpg(f, ADD, *n, start * 512, size * 512).map_err(|e| {
                format!(
                    "{}: adding partition {n} to the kernel: {e}",
                    disk.display()
                )
            })?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = kernel_partitions(&name);
        let seen: BTreeMap<u32, (u64, u64)> = now.iter().map(|(n, v)| (*n, (v.1, v.2))).collect();
        if seen == want {
            for (pname, _, _) in now.values() {
                let node = PathBuf::from("/dev").join(pname);
                let wait_until = Instant::now() + Duration::from_secs(2);
                while !node.exists() && Instant::now() < wait_until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                ensure_node(pname)?;
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{}: the kernel's partitions {:?} do not match the table written {:?} (number: start, size in 512-byte sectors)",
                disk.display(),
                seen,
                want
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a device node to appear (after mdadm or cryptsetup), up to `timeout`.
pub fn wait_for(path: &Path, timeout: Duration) -> Result<PathBuf, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(p) = resolve(&path.display().to_string())? {
            return Ok(p);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not appear within {timeout:?}",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_names_and_udev_escapes() {
        assert_eq!(
            by_name("/dev/disk/by-partlabel/my\\x20root"),
            Some(ByName::PartLabel("my root".into()))
        );
        assert_eq!(
            by_name("/dev/disk/by-label/a\\x2fb"),
            Some(ByName::Label("a/b".into()))
        );
        assert_eq!(
            by_name("/dev/disk/by-uuid/ABCD-1234"),
            Some(ByName::Uuid("abcd-1234".into()))
        );
        assert_eq!(
            by_name("/dev/disk/by-partuuid/abc"),
            Some(ByName::PartUuid("ABC".into()))
        );
        assert_eq!(by_name("/dev/disk/by-id/virtio-x"), None);
        assert_eq!(by_name("/dev/vda"), None);
        assert_eq!(udev_unescape("x\\x4"), "x\\x4");
    }

    #[test]
    fn partition_paths() {
        assert_eq!(
            partition_path(Path::new("/dev/vda"), 2),
            PathBuf::from("/dev/vda2")
        );
        assert_eq!(
            partition_path(Path::new("/dev/nvme0n1"), 2),
            PathBuf::from("/dev/nvme0n1p2")
        );
        assert_eq!(
            partition_path(Path::new("/dev/loop0"), 1),
            PathBuf::from("/dev/loop0p1")
        );
    }

    #[test]
    fn parses_blkid_export_blocks() {
        let devs = parse_blkid_export(
            "DEVNAME=/dev/vda1\nLABEL=root\nTYPE=ext4\n\nDEVNAME=/dev/vda2\nTYPE=swap\n",
        );
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0]["LABEL"], "root");
        assert_eq!(devs[1]["TYPE"], "swap");
    }
}
