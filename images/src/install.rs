//! `images install --ignition CFG [--image disk.raw] DEVICE`: writes the disk image to a block
//! device (or a file) and puts the config at `/ignition/config.ign` (mode 0600) in the image's
//! `boot` filesystem, where the initramfs of the first boot picks it up as the system `user.ign`.
//!
//! No partition devices are needed (the host kernel here has no partition-table support): the
//! GPT is read back with gptman and the ext4 filesystem is written with `debugfs -w` at the
//! partition's byte offset (`DEVICE?offset=N`). When the device is larger than the image, the
//! backup GPT is moved to the device's end.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The config's place in the boot filesystem (read by the initramfs on first boot).
pub const BOOT_CONFIG: &str = "ignition/config.ign";
/// The label of the boot partition (GPT name and ext4 label).
pub const BOOT_LABEL: &str = "boot";
const CHUNK: usize = 1 << 20;

/// `images install` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// The Ignition config for the first boot (validated first; an invalid one is refused)
    #[arg(long, value_name = "CFG.ign")]
    pub ignition: PathBuf,
    /// The raw disk image to write (DIR/disk.raw from `images build`, or a block device holding it)
    #[arg(long, value_name = "disk.raw", default_value = "disk.raw")]
    pub image: PathBuf,
    /// The target: a whole-disk block device (not mounted, at least as large as the image) or a file
    #[arg(value_name = "DEVICE")]
    pub device: PathBuf,
}

/// What the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    BlockDevice,
    File,
}

/// `images install`.
pub fn run(args: &InstallArgs) -> Result<()> {
    let config = crate::embed::validate_config(&args.ignition)?;
    let boot = install(&args.image, &args.device, &config)?;
    eprintln!(
        "install: wrote {} to {} and the config to {}:/{BOOT_CONFIG} (partition {} at byte {})",
        args.image.display(),
        args.device.display(),
        args.device.display(),
        boot.number,
        boot.offset
    );
    Ok(())
}

/// The boot partition found in the written image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPartition {
    pub number: u32,
    pub offset: u64,
    pub size: u64,
}

fn size_of(f: &mut File, path: &Path) -> Result<u64> {
    f.seek(SeekFrom::End(0))
        .with_context(|| format!("finding the size of {}", path.display()))
}

/// Checks the target: exists, is a block device or a regular file, is not mounted or in use,
/// is not the image itself, is at least `image_len` bytes. Returns its kind and size.
pub fn check_target(device: &Path, image: &Path, image_len: u64) -> Result<(TargetKind, u64)> {
    let meta = fs::metadata(device).with_context(|| format!("target {}", device.display()))?;
    let img_meta = fs::metadata(image).with_context(|| format!("image {}", image.display()))?;
    if meta.dev() == img_meta.dev() && meta.ino() == img_meta.ino() {
        bail!("target {} is the image itself", device.display());
    }
    let kind = if meta.file_type().is_block_device() {
        TargetKind::BlockDevice
    } else if meta.is_file() {
        TargetKind::File
    } else {
        bail!(
            "target {} is neither a block device nor a file",
            device.display()
        );
    };
    if let Some(why) = in_use(device, &meta, kind)? {
        bail!("target {} is in use: {why}", device.display());
    }
    let mut f = File::open(device).with_context(|| format!("opening {}", device.display()))?;
    let len = size_of(&mut f, device)?;
    if len < image_len {
        bail!(
            "target {} ({len} bytes) is smaller than the image {} ({image_len} bytes)",
            device.display(),
            image.display()
        );
    }
    Ok((kind, len))
}

/// Why `device` is in use (mounted, or a partition of it mounted, or used as swap, or a file
/// attached to a loop device), if it is.
fn in_use(device: &Path, meta: &fs::Metadata, kind: TargetKind) -> Result<Option<String>> {
    match kind {
        TargetKind::BlockDevice => {
            let rdev = meta.rdev();
            let (maj, min) = (libc::major(rdev), libc::minor(rdev));
            let sys = fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")).ok();
            let mountinfo = fs::read_to_string("/proc/self/mountinfo")
                .context("reading /proc/self/mountinfo")?;
            let mut users: Vec<(String, String)> = mounted_devices(&mountinfo)
                .into_iter()
                .map(|(devno, mp)| (devno, format!("mounted on {mp}")))
                .collect();
            let swaps = fs::read_to_string("/proc/swaps").unwrap_or_default();
            for dev in swaps
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
            {
                if let Ok(m) = fs::metadata(dev) {
                    let r = m.rdev();
                    users.push((
                        format!("{}:{}", libc::major(r), libc::minor(r)),
                        "used as swap".into(),
                    ));
                }
            }
            for (devno, what) in users {
                if devno == format!("{maj}:{min}") {
                    return Ok(Some(what));
                }
                // A partition of the disk: its sysfs directory is under the disk's.
                if let (Some(sys), Ok(part)) =
                    (&sys, fs::canonicalize(format!("/sys/dev/block/{devno}")))
                {
                    if part.starts_with(sys) && &part != sys {
                        return Ok(Some(format!("its partition {devno} is {what}")));
                    }
                }
            }
            Ok(None)
        }
        TargetKind::File => {
            let canon = fs::canonicalize(device)
                .with_context(|| format!("resolving {}", device.display()))?;
            let Ok(blocks) = fs::read_dir("/sys/block") else {
                return Ok(None);
            };
            for b in blocks.flatten() {
                let name = b.file_name();
                let Some(name) = name.to_str().filter(|n| n.starts_with("loop")) else {
                    continue;
                };
                let backing =
                    fs::read_to_string(b.path().join("loop/backing_file")).unwrap_or_default();
                if Path::new(backing.trim_end()) == canon {
                    return Ok(Some(format!("attached to /dev/{name}")));
                }
            }
            Ok(None)
        }
    }
}

/// `(major:minor, mount point)` of every mount in a mountinfo text. Pure.
pub fn mounted_devices(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let devno = f.nth(2)?.to_string();
            let mount_point = f.nth(1)?.to_string();
            Some((devno, mount_point))
        })
        .collect()
}

/// Writes `image` to `device` (checked with [`check_target`]), moves the backup GPT to the end
/// of a larger target, and writes `config` into the boot filesystem.
pub fn install(image: &Path, device: &Path, config: &[u8]) -> Result<BootPartition> {
    let mut src =
        File::open(image).with_context(|| format!("opening image {}", image.display()))?;
    let image_len = size_of(&mut src, image)?;
    let (kind, target_len) = check_target(device, image, image_len)?;
    write_image(&mut src, image, image_len, device, kind, target_len)?;
    if target_len > image_len {
        relocate_backup_gpt(device)?;
    }
    let boot = find_boot_partition(device)?;
    write_boot_config(device, &boot, config)?;
    Ok(boot)
}

fn is_zero(buf: &[u8]) -> bool {
    // Slice equality is a memcmp: fast even in a debug build, which matters under emulation.
    const ZEROS: [u8; 4096] = [0; 4096];
    buf.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

/// The data ranges of `f` (`SEEK_DATA`/`SEEK_HOLE`); the whole range when holes are unknown.
fn data_ranges(f: &File, len: u64) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        // SAFETY: lseek on an open descriptor has no memory effects.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            if out.is_empty() && pos == 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ENXIO) {
                    return vec![(0, len)]; // no hole support: all data
                }
            }
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let end = if hole < 0 { len as i64 } else { hole };
        out.push((data as u64, (end as u64).min(len)));
        pos = end;
    }
    out
}

/// Clears `[start, end)` of a block device (BLKZEROOUT, else written zeros).
fn zero_range(dst: &mut File, device: &Path, start: u64, end: u64) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    use std::os::fd::AsRawFd;
    const BLKZEROOUT: libc::c_ulong = 0x127f; // _IO(0x12, 127)
    let range: [u64; 2] = [start, end - start];
    // SAFETY: BLKZEROOUT reads two u64 from the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), BLKZEROOUT as _, range.as_ptr()) };
    if rc == 0 {
        return Ok(());
    }
    let zeros = vec![0u8; CHUNK];
    dst.seek(SeekFrom::Start(start))?;
    let mut at = start;
    while at < end {
        let n = ((end - at) as usize).min(CHUNK);
        dst.write_all(&zeros[..n])
            .with_context(|| format!("writing zeros to {} at {at}", device.display()))?;
        at += n as u64;
    }
    Ok(())
}

/// Copies the image: data chunks are written, zero chunks skipped (a file target is emptied
/// first, so they read as zeros) or cleared (a block device), then everything is synced.
fn write_image(
    src: &mut File,
    image: &Path,
    image_len: u64,
    device: &Path,
    kind: TargetKind,
    target_len: u64,
) -> Result<()> {
    let mut dst = OpenOptions::new()
        .write(true)
        .open(device)
        .with_context(|| format!("opening {} for writing", device.display()))?;
    if kind == TargetKind::File {
        dst.set_len(0)
            .and_then(|_| dst.set_len(target_len))
            .with_context(|| format!("emptying {}", device.display()))?;
    }
    let mut buf = vec![0u8; CHUNK];
    let mut zero_from = 0u64; // start of the zero run not yet cleared on a block device
    let mut copied = 0u64;
    for (start, end) in data_ranges(src, image_len) {
        let mut at = start;
        src.seek(SeekFrom::Start(at))?;
        while at < end {
            let n = ((end - at) as usize).min(CHUNK);
            src.read_exact(&mut buf[..n])
                .with_context(|| format!("reading {} at {at}", image.display()))?;
            if !is_zero(&buf[..n]) {
                if kind == TargetKind::BlockDevice {
                    zero_range(&mut dst, device, zero_from, at)?;
                }
                dst.seek(SeekFrom::Start(at))
                    .and_then(|_| dst.write_all(&buf[..n]))
                    .with_context(|| format!("writing {} at {at}", device.display()))?;
                zero_from = at + n as u64;
                copied += n as u64;
            }
            at += n as u64;
        }
    }
    if kind == TargetKind::BlockDevice {
        zero_range(&mut dst, device, zero_from, image_len)?;
    }
    dst.sync_all()
        .with_context(|| format!("syncing {}", device.display()))?;
    eprintln!(
        "install: {} of {} MiB of {} held data",
        copied >> 20,
        image_len >> 20,
        image.display()
    );
    Ok(())
}

/// Moves the backup GPT header and entries to the end of a target larger than the image.
fn relocate_backup_gpt(device: &Path) -> Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .with_context(|| format!("opening {}", device.display()))?;
    let mut gpt = gptman::GPT::find_from(&mut f)
        .with_context(|| format!("reading the GPT of {}", device.display()))?;
    let ss = gpt.sector_size;
    gpt.header
        .update_from(&mut f, ss)
        .and_then(|_| gpt.write_into(&mut f).map(|_| ()))
        .with_context(|| format!("moving the backup GPT to the end of {}", device.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", device.display()))
}

/// The ext4 volume label at `offset`, if an ext4 (ext2/3) superblock is there.
fn ext_label(f: &mut File, offset: u64) -> Option<String> {
    let mut sb = [0u8; 1024];
    f.seek(SeekFrom::Start(offset + 1024)).ok()?;
    f.read_exact(&mut sb).ok()?;
    if sb[56..58] != [0x53, 0xef] {
        return None;
    }
    let raw = &sb[120..136];
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// Finds the partition named `boot` (GPT name), or else the ext4 filesystem labelled `boot`.
pub fn find_boot_partition(device: &Path) -> Result<BootPartition> {
    let mut f = File::open(device).with_context(|| format!("opening {}", device.display()))?;
    let gpt = gptman::GPT::find_from(&mut f)
        .with_context(|| format!("reading the GPT of {}", device.display()))?;
    let ss = gpt.sector_size;
    let parts: Vec<BootPartition> = gpt
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(n, p)| BootPartition {
            number: n,
            offset: p.starting_lba * ss,
            size: (p.ending_lba + 1 - p.starting_lba) * ss,
        })
        .collect();
    let by_name = gpt
        .iter()
        .find(|(_, p)| p.is_used() && p.partition_name.as_str() == BOOT_LABEL)
        .map(|(n, _)| n);
    let boot = match by_name {
        Some(n) => parts.into_iter().find(|p| p.number == n),
        None => parts
            .into_iter()
            .find(|p| ext_label(&mut f, p.offset).as_deref() == Some(BOOT_LABEL)),
    }
    .with_context(|| {
        format!(
            "{}: no partition named or labelled '{BOOT_LABEL}'",
            device.display()
        )
    })?;
    if ext_label(&mut f, boot.offset).is_none() {
        bail!(
            "{}: partition {} ('{BOOT_LABEL}') holds no ext4 filesystem",
            device.display(),
            boot.number
        );
    }
    Ok(boot)
}

/// `DEVICE?offset=N`, the way e2fsprogs opens a filesystem inside a disk.
fn fs_spec(device: &Path, boot: &BootPartition) -> Result<String> {
    let d = device
        .to_str()
        .with_context(|| format!("{} is not UTF-8", device.display()))?;
    Ok(format!("{d}?offset={}", boot.offset))
}

/// Writes `config` to `/ignition/config.ign` (0600, root) in the boot filesystem with debugfs,
/// then reads it back to check contents and mode (debugfs exits 0 even when a request fails).
pub fn write_boot_config(device: &Path, boot: &BootPartition, config: &[u8]) -> Result<()> {
    let spec = fs_spec(device, boot)?;
    let tmp = tempfile::Builder::new()
        .prefix("config-")
        .suffix(".ign")
        .tempfile()?;
    fs::write(tmp.path(), config).context("writing the config to a temporary file")?;
    let src = tmp.path().to_str().context("temporary path is not UTF-8")?;
    let dir = BOOT_CONFIG.split('/').next().unwrap_or("ignition");
    let script = format!(
        "mkdir {dir}\nrm {BOOT_CONFIG}\nwrite {src} {BOOT_CONFIG}\n\
         set_inode_field {BOOT_CONFIG} mode 0100600\n\
         set_inode_field {BOOT_CONFIG} uid 0\nset_inode_field {BOOT_CONFIG} gid 0\n"
    );
    let cmds = tempfile::Builder::new().prefix("debugfs-").tempfile()?;
    fs::write(cmds.path(), script).context("writing the debugfs script")?;
    let cmds_s = cmds
        .path()
        .to_str()
        .context("temporary path is not UTF-8")?;
    crate::run::run("debugfs", &["-w", "-f", cmds_s, &spec])?;
    let back = crate::run::run("debugfs", &["-R", &format!("cat {BOOT_CONFIG}"), &spec])?;
    if back != config {
        bail!("{spec}: /{BOOT_CONFIG} does not hold the config after writing it with debugfs");
    }
    let stat = crate::run::run("debugfs", &["-R", &format!("stat {BOOT_CONFIG}"), &spec])?;
    let stat = String::from_utf8_lossy(&stat);
    if !stat.contains("Mode:  0600") {
        bail!(
            "{spec}: /{BOOT_CONFIG} has not mode 0600 after writing: {}",
            stat.lines().next().unwrap_or("")
        );
    }
    Ok(())
}

/// Reads `/ignition/config.ign` from the boot filesystem of an installed disk (for checks).
pub fn read_boot_config(device: &Path) -> Result<Option<Vec<u8>>> {
    let boot = find_boot_partition(device)?;
    let spec = fs_spec(device, &boot)?;
    let stat = crate::run::run("debugfs", &["-R", &format!("stat {BOOT_CONFIG}"), &spec])?;
    if stat.is_empty() {
        return Ok(None);
    }
    Ok(Some(crate::run::run(
        "debugfs",
        &["-R", &format!("cat {BOOT_CONFIG}"), &spec],
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields() {
        let mi = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                  30 22 0:25 / /run rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mounted_devices(mi),
            [
                ("8:1".to_string(), "/".to_string()),
                ("0:25".to_string(), "/run".to_string())
            ]
        );
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0; 10]));
        assert!(!is_zero(&[0, 0, 1]));
        let mut big = vec![0u8; 10_000];
        assert!(is_zero(&big));
        big[9_999] = 1;
        assert!(!is_zero(&big));
    }
}
