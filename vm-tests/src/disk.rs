//! Disks: qcow2 overlays over a cached base image, blank disks, and reading a disk offline
//! after the guest shut down (`qemu-img convert` to raw, the GPT read with `gptman`, ext4
//! read with `debugfs` at the partition's offset: the host kernel has no partition tables).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::cmd;

/// A qcow2 overlay at `dest` over `base` (qcow2), which is never written.
pub fn overlay(base: &Path, dest: &Path) -> Result<()> {
    let base = std::fs::canonicalize(base).with_context(|| format!("{}", base.display()))?;
    cmd::run(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(dest),
    )?;
    Ok(())
}

/// An empty qcow2 disk of `mib` MiB.
pub fn blank_qcow2(dest: &Path, mib: u64) -> Result<()> {
    cmd::run(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(dest)
            .arg(format!("{mib}M")),
    )?;
    Ok(())
}

/// An empty sparse raw disk of `mib` MiB.
pub fn blank_raw(dest: &Path, mib: u64) -> Result<()> {
    let f = std::fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    f.set_len(mib << 20)
        .with_context(|| format!("sizing {}", dest.display()))
}

/// A raw copy of any disk image QEMU reads (a qcow2 overlay included).
pub fn to_raw(src: &Path, dest: &Path) -> Result<()> {
    cmd::run(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(src)
            .arg(dest),
    )?;
    Ok(())
}

/// The SHA-256 of a file, as hex (to show that a disk did not change).
pub fn sha256(path: &Path) -> Result<String> {
    let out = cmd::stdout(Command::new("sha256sum").arg(path))?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("sha256sum {}: no output", path.display()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub label: String,
    pub start_bytes: u64,
    pub size_bytes: u64,
}

/// The partitions of a raw disk image's GPT.
pub fn partitions(raw: &Path) -> Result<Vec<Partition>> {
    let mut f = std::fs::File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let gpt =
        gptman::GPT::find_from(&mut f).map_err(|e| anyhow!("{}: no GPT: {e}", raw.display()))?;
    Ok(gpt
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(n, p)| Partition {
            number: n,
            label: p.partition_name.as_str().to_string(),
            start_bytes: p.starting_lba * gpt.sector_size,
            size_bytes: (p.ending_lba + 1 - p.starting_lba) * gpt.sector_size,
        })
        .collect())
}

/// Writes a GPT with one partition (1 MiB aligned, to the end) on a raw image; returns it.
pub fn write_single_partition_gpt(raw: &Path, label: &str) -> Result<Partition> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(raw)
        .with_context(|| format!("opening {}", raw.display()))?;
    let guid: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
    let mut gpt =
        gptman::GPT::new_from(&mut f, 512, guid).map_err(|e| anyhow!("{}: {e}", raw.display()))?;
    gpt.align = 2048;
    let start = 2048;
    let end = gpt.header.last_usable_lba;
    gpt[1] = gptman::GPTPartitionEntry {
        // Linux filesystem data.
        partition_type_guid: [
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47,
            0x7D, 0xE4,
        ],
        unique_partition_guid: std::array::from_fn(|i| i as u8 + 1),
        starting_lba: start,
        ending_lba: end,
        attribute_bits: 0,
        partition_name: label.into(),
    };
    gpt.write_into(&mut f)
        .map_err(|e| anyhow!("{}: writing the GPT: {e}", raw.display()))?;
    gptman::GPT::write_protective_mbr_into(&mut f, 512)
        .map_err(|e| anyhow!("{}: writing the protective MBR: {e}", raw.display()))?;
    Ok(Partition {
        number: 1,
        label: label.to_string(),
        start_bytes: start * 512,
        size_bytes: (end + 1 - start) * 512,
    })
}

/// `mkfs.ext4` inside a partition of a raw image (no loop device needed).
pub fn mkfs_ext4(raw: &Path, part: &Partition, fs_label: &str) -> Result<()> {
    cmd::run(
        Command::new("mkfs.ext4")
            .args(["-F", "-q", "-L", fs_label, "-E"])
            .arg(format!("offset={}", part.start_bytes))
            .arg(raw)
            .arg(format!("{}k", part.size_bytes / 1024)),
    )?;
    Ok(())
}

/// An ext4 filesystem inside a raw image, read with `debugfs` (read-only).
pub struct Ext4 {
    pub image: PathBuf,
    pub offset: u64,
}

impl Ext4 {
    pub fn at(image: &Path, part: &Partition) -> Ext4 {
        Ext4 {
            image: image.to_path_buf(),
            offset: part.start_bytes,
        }
    }

    fn debugfs(&self, request: &str) -> Result<Vec<u8>> {
        let dev = format!("{}?offset={}", self.image.display(), self.offset);
        let out = cmd::run(Command::new("debugfs").args(["-R", request, &dev]))?;
        // debugfs reports lookup errors on stderr with status 0; its banner is the only
        // other stderr line.
        let err: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        if !err.is_empty() {
            bail!("debugfs -R {request:?} {dev}: {}", err.join("; "));
        }
        Ok(out.stdout)
    }

    /// A file's contents.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.debugfs(&format!("cat \"{path}\""))
    }

    pub fn read_string(&self, path: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read(path)?).into_owned())
    }

    /// The names in a directory (without `.` and `..`).
    pub fn list(&self, dir: &str) -> Result<Vec<String>> {
        let out = self.debugfs(&format!("ls -p \"{dir}\""))?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.split('/').nth(5).map(str::to_string))
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect())
    }

    /// The filesystem's label (`dumpe2fs -h`).
    pub fn label(&self) -> Result<String> {
        let dev = format!("{}?offset={}", self.image.display(), self.offset);
        let out = cmd::stdout(Command::new("dumpe2fs").args(["-h", &dev]))?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_prefix("Filesystem volume name:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default())
    }
}

/// A disk converted to raw after the guest shut down, with its partition table.
pub struct OfflineDisk {
    pub raw: PathBuf,
    pub partitions: Vec<Partition>,
}

impl OfflineDisk {
    /// Converts `image` to `raw` and reads its GPT.
    pub fn open(image: &Path, raw: &Path) -> Result<OfflineDisk> {
        to_raw(image, raw)?;
        let partitions = partitions(raw)?;
        Ok(OfflineDisk {
            raw: raw.to_path_buf(),
            partitions,
        })
    }

    pub fn partition(&self, label: &str) -> Result<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.label == label)
            .ok_or_else(|| {
                anyhow!(
                    "{}: no partition labelled {label:?} (have: {:?})",
                    self.raw.display(),
                    self.partitions.iter().map(|p| &p.label).collect::<Vec<_>>()
                )
            })
    }

    pub fn ext4(&self, label: &str) -> Result<Ext4> {
        Ok(Ext4::at(&self.raw, self.partition(label)?))
    }
}

/// A qcow2 copy of a raw image.
pub fn to_qcow2(raw: &Path, dest: &Path) -> Result<()> {
    cmd::run(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(raw)
            .arg(dest),
    )?;
    Ok(())
}
