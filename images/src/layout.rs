//! The disk's partition plan: pure, so it can be printed and tested.
//!
//! ```text
//! 1  BIOS-BOOT     1 MiB    (GRUB's core image would go here; extlinux does not need it)
//! 2  EFI-SYSTEM    vfat     (empty for now)
//! 3  boot          ext4     legacy-BIOS-bootable, extlinux + ostree's loader entries
//! 4  root          ext4     the ostree sysroot
//! ```

use serde::{Deserialize, Serialize};

pub const SECTOR: u64 = 512;
pub const MIB: u64 = 1024 * 1024;

pub const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
pub const TYPE_EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// GPT attribute bit 2: legacy BIOS bootable (what syslinux's gptmbr.bin looks for).
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub number: u32,
    pub label: String,
    pub start_bytes: u64,
    pub size_bytes: u64,
    pub type_guid: String,
    #[serde(skip)]
    pub attributes: u64,
    /// The filesystem made on it (`None`: raw).
    #[serde(skip)]
    pub filesystem: Option<&'static str>,
}

impl Partition {
    pub fn start_lba(&self) -> u64 {
        self.start_bytes / SECTOR
    }
    /// Inclusive, as GPT stores it.
    pub fn end_lba(&self) -> u64 {
        (self.start_bytes + self.size_bytes) / SECTOR - 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub disk_bytes: u64,
    pub partitions: Vec<Partition>,
}

/// Backup GPT: 32 sectors of entries and the header at the end of the disk.
const GPT_TAIL: u64 = 33 * SECTOR;

/// Plans the disk: 1 MiB alignment, the root takes what is left up to the last MiB boundary
/// before the backup table.
pub fn plan(size_mib: u64, efi_mib: u64, boot_mib: u64) -> Result<Layout, String> {
    let disk_bytes = size_mib * MIB;
    let fixed_end = MIB + MIB + efi_mib * MIB + boot_mib * MIB;
    let root_end = (disk_bytes.saturating_sub(GPT_TAIL)) / MIB * MIB;
    if root_end <= fixed_end + 512 * MIB {
        return Err(format!(
            "a {size_mib} MiB disk leaves less than 512 MiB for the root"
        ));
    }
    let part = |number, label: &str, size, type_guid: &str, attributes, filesystem| Partition {
        number,
        label: label.to_string(),
        start_bytes: 0,
        size_bytes: size,
        type_guid: type_guid.to_string(),
        attributes,
        filesystem,
    };
    let mut parts = vec![
        part(1, "BIOS-BOOT", MIB, TYPE_BIOS_BOOT, 0, None),
        part(
            2,
            "EFI-SYSTEM",
            efi_mib * MIB,
            TYPE_EFI_SYSTEM,
            0,
            Some("vfat"),
        ),
        part(
            3,
            "boot",
            boot_mib * MIB,
            TYPE_LINUX,
            ATTR_LEGACY_BIOS_BOOTABLE,
            Some("ext4"),
        ),
        part(4, "root", root_end - fixed_end, TYPE_LINUX, 0, Some("ext4")),
    ];
    // One after the other from 1 MiB.
    let mut start = MIB;
    for p in &mut parts {
        p.start_bytes = start;
        start += p.size_bytes;
    }
    Ok(Layout {
        disk_bytes,
        partitions: parts,
    })
}

impl Layout {
    pub fn by_label(&self, label: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.label == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout() {
        let l = plan(4096, 64, 384).unwrap();
        let p = &l.partitions;
        assert_eq!(
            p.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(),
            ["BIOS-BOOT", "EFI-SYSTEM", "boot", "root"]
        );
        assert_eq!(p[0].start_bytes, MIB);
        assert_eq!(p[0].size_bytes, MIB);
        assert_eq!(p[1].start_bytes, 2 * MIB);
        assert_eq!(p[2].start_bytes, 66 * MIB);
        assert_eq!(p[2].attributes, ATTR_LEGACY_BIOS_BOOTABLE);
        assert_eq!(p[3].start_bytes, 450 * MIB);
        // The root ends at the last MiB boundary before the backup GPT.
        assert_eq!(p[3].start_bytes + p[3].size_bytes, 4095 * MIB);
        for w in p.windows(2) {
            assert_eq!(
                w[0].start_bytes + w[0].size_bytes,
                w[1].start_bytes,
                "contiguous, no overlap"
            );
        }
        for x in p {
            assert_eq!(x.start_bytes % MIB, 0);
            assert_eq!(x.end_lba() + 1, (x.start_bytes + x.size_bytes) / SECTOR);
        }
        assert_eq!(l.by_label("root").unwrap().number, 4);
    }

    #[test]
    fn too_small() {
        assert!(plan(700, 64, 384).is_err());
    }

    #[test]
    fn guid_round_trip_and_byte_order() {
        // GUIDs go through the executor's GPT functions, as for its own tables.
        use ignition::exec::disks::gpt::{guid_from_str, guid_to_string};
        let b = guid_from_str(TYPE_EFI_SYSTEM).unwrap();
        assert_eq!(&b[..4], &[0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(guid_to_string(&b), TYPE_EFI_SYSTEM);
        assert!(guid_from_str("nope").is_err());
    }
}
