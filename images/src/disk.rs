//! The disk image: filesystems filled with `mkfs.ext4 -d` at their offsets (no mount), the GPT
//! written with gptman, extlinux installed into the boot filesystem (an offset loop mount) and
//! syslinux's gptmbr.bin in the MBR's boot code area.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use gptman::{GPTPartitionEntry, GPT};

use ignition::exec::disks::gpt::{guid_from_str, guid_to_string};

use crate::layout::{Layout, Partition, SECTOR};
use crate::run;

/// Where Debian's syslinux keeps the GPT-aware MBR code.
pub const GPTMBR: &[&str] = &[
    "/usr/lib/syslinux/mbr/gptmbr.bin",
    "/usr/lib/SYSLINUX/gptmbr.bin",
];

/// ext4 features extlinux 6.04 cannot read on the boot filesystem.
pub const BOOT_EXT4_FEATURES: &str = "^64bit,^metadata_csum";

/// Bump when the disk step's code changes what it writes (part of the disk step's key).
pub const FORMAT: &str = "disk-2";

pub fn build(layout: &Layout, boot_dir: &Path, root_dir: &Path, raw: &Path) -> Result<()> {
    let f = File::create(raw).with_context(|| format!("creating {}", raw.display()))?;
    f.set_len(layout.disk_bytes)
        .with_context(|| format!("sizing {}", raw.display()))?;
    drop(f);
    for p in &layout.partitions {
        match p.label.as_str() {
            "boot" => mkfs_ext4(raw, p, boot_dir, Some(BOOT_EXT4_FEATURES))?,
            "root" => mkfs_ext4(raw, p, root_dir, None)?,
            "EFI-SYSTEM" => mkfs_vfat(raw, p)?,
            _ => {}
        }
    }
    write_gpt(raw, layout)?;
    let boot = layout
        .by_label("boot")
        .context("layout has no boot partition")?;
    install_extlinux(raw, boot)?;
    write_mbr_code(raw)?;
    Ok(())
}

fn mkfs_ext4(raw: &Path, p: &Partition, dir: &Path, features: Option<&str>) -> Result<()> {
    let offset = format!("offset={},nodiscard", p.start_bytes);
    let size = format!("{}k", p.size_bytes / 1024);
    let (d, r) = (dir.to_string_lossy(), raw.to_string_lossy());
    // 4 KiB blocks also on the small boot filesystem (mke2fs would pick 1 KiB ones, which
    // extlinux fails to load the kernel from: "I/O error").
    let mut args = vec![
        "-q", "-F", "-t", "ext4", "-b", "4096", "-L", &p.label, "-d", &d, "-E", &offset,
    ];
    if let Some(f) = features {
        args.extend(["-O", f]);
    }
    args.extend([r.as_ref(), size.as_str()]);
    run::quiet("mke2fs", &args)?;
    Ok(())
}

fn mkfs_vfat(raw: &Path, p: &Partition) -> Result<()> {
    let offset = (p.start_bytes / SECTOR).to_string();
    let blocks = (p.size_bytes / 1024).to_string();
    // FAT32 with 512-byte clusters: mkfs.vfat's own choice fails on a small ESP in a big image.
    run::quiet(
        "mkfs.vfat",
        &[
            "-F",
            "32",
            "-S",
            "512",
            "-s",
            "1",
            "--offset",
            &offset,
            "-n",
            "EFI-SYSTEM",
            &raw.to_string_lossy(),
            &blocks,
        ],
    )?;
    Ok(())
}

/// A fresh GPT with the layout's partitions, and a protective MBR.
pub fn write_gpt(raw: &Path, layout: &Layout) -> Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(raw)
        .with_context(|| format!("opening {}", raw.display()))?;
    let disk_guid = random_guid()?;
    let mut gpt = GPT::new_from(&mut f, SECTOR, disk_guid)
        .with_context(|| format!("{}: creating a GPT", raw.display()))?;
    for p in &layout.partitions {
        gpt[p.number] = GPTPartitionEntry {
            partition_type_guid: guid_from_str(&p.type_guid).map_err(anyhow::Error::msg)?,
            unique_partition_guid: random_guid()?,
            starting_lba: p.start_lba(),
            ending_lba: p.end_lba(),
            attribute_bits: p.attributes,
            partition_name: p.label.as_str().into(),
        };
    }
    gpt.write_into(&mut f)
        .with_context(|| format!("{}: writing the GPT", raw.display()))?;
    GPT::write_protective_mbr_into(&mut f, SECTOR)
        .with_context(|| format!("{}: writing the protective MBR", raw.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", raw.display()))?;
    Ok(())
}

fn random_guid() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    b[7] = (b[7] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b)
}

/// extlinux into `/syslinux` of the boot filesystem (where ostree keeps syslinux.cfg).
fn install_extlinux(raw: &Path, boot: &Partition) -> Result<()> {
    let mnt = tempfile::Builder::new()
        .prefix("mooring-boot-")
        .tempdir()
        .context("creating a mount point")?;
    let m = initramfs::mounts::PartitionMount::new(
        raw,
        boot.start_bytes,
        boot.size_bytes,
        mnt.path(),
        None,
    )?;
    let dir = m.target().join("syslinux");
    run::quiet("extlinux", &["--install", &dir.to_string_lossy()])?;
    drop(m);
    Ok(())
}

/// syslinux's gptmbr.bin into the first 440 bytes (it boots the legacy-BIOS-bootable partition).
fn write_mbr_code(raw: &Path) -> Result<()> {
    let Some(src) = GPTMBR.iter().map(Path::new).find(|p| p.exists()) else {
        bail!(
            "no gptmbr.bin in {} (install the syslinux-common package)",
            GPTMBR.join(" or ")
        );
    };
    let code = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    if code.len() != 440 {
        bail!("{}: {} bytes, expected 440", src.display(), code.len());
    }
    let mut f = OpenOptions::new()
        .write(true)
        .open(raw)
        .with_context(|| format!("opening {}", raw.display()))?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&code)
        .with_context(|| format!("writing the MBR code into {}", raw.display()))?;
    f.sync_all()?;
    Ok(())
}

/// `qemu-img convert -O qcow2`.
pub fn to_qcow2(raw: &Path, qcow2: &Path) -> Result<()> {
    run::quiet(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            &raw.to_string_lossy(),
            &qcow2.to_string_lossy(),
        ],
    )?;
    Ok(())
}

/// Reads the GPT of an image (for checks and tests): its used entries as partitions (the
/// filesystem is not read: `None`).
pub fn read_gpt(raw: &Path) -> Result<Vec<crate::layout::Partition>> {
    let mut f = File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let gpt = GPT::read_from(&mut f, SECTOR)
        .with_context(|| format!("{}: reading the GPT", raw.display()))?;
    Ok(gpt
        .iter()
        .filter(|(_, e)| e.is_used())
        .map(|(n, e)| crate::layout::Partition {
            number: n,
            label: e.partition_name.as_str().to_string(),
            start_bytes: e.starting_lba * SECTOR,
            size_bytes: (e.ending_lba + 1 - e.starting_lba) * SECTOR,
            type_guid: guid_to_string(&e.partition_type_guid),
            attributes: e.attribute_bits,
            filesystem: None,
        })
        .collect())
}
