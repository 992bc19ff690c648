//! Reading and writing GPTs through `gptman` (no sgdisk): the disk's
//! [`Layout`], and writing a planned table (or zapping the old one).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use gptman::{GPTPartitionEntry, GPT};

use super::plan::{Layout, Part};

/// The GPT's mixed-endian GUID bytes as the usual upper-case string.
pub fn guid_to_string(b: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15]
    )
}

/// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` into GPT byte order.
pub fn guid_from_str(s: &str) -> Result<[u8; 16], String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let groups: Vec<usize> = s.split('-').map(str::len).collect();
    if hex.len() != 32 || groups != [8, 4, 4, 4, 12] {
        return Err(format!("invalid GUID {s:?}"));
    }
    let mut raw = [0u8; 16];
    for (i, byte) in raw.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("invalid GUID {s:?}"))?;
    }
    let mut b = raw;
    b[..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    b[4..6].copy_from_slice(&[raw[5], raw[4]]);
    b[6..8].copy_from_slice(&[raw[7], raw[6]]);
    Ok(b)
}

/// A random (version 4) GUID in GPT byte order.
pub fn random_guid() -> Result<[u8; 16], String> {
    let mut b = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    // Version 4 in the (little-endian) third group, variant 10xx.
    b[7] = (b[7] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b)
}

/// What [`read_layout`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    Gpt,
    /// No partition table at all.
    None,
    /// An MBR with partitions (not a protective one).
    Mbr,
}

/// Reads the disk's table. A disk without one gets an empty GPT's layout.
pub fn read_layout<D: Read + Seek>(
    dev: &mut D,
    sector_size: u64,
) -> Result<(Layout, TableKind), String> {
    let len = dev
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("finding its size: {e}"))?;
    let sectors = len / sector_size;
    if sectors < 68 {
        return Err(format!("too small for a GPT ({len} bytes)"));
    }
    match GPT::read_from(dev, sector_size) {
        Ok(gpt) => {
            let mut layout = Layout::empty(sector_size, sectors);
            layout.first_usable = gpt.header.first_usable_lba;
            // The backup header moves to the end if the disk grew (as it is
            // written back); the usable area follows it.
            layout.last_usable = layout.last_usable.max(gpt.header.last_usable_lba);
            layout.parts = gpt
                .iter()
                .filter(|(_, e)| e.is_used())
                .map(|(n, e)| Part {
                    number: n,
                    start: e.starting_lba,
                    size: e.ending_lba + 1 - e.starting_lba,
                    type_guid: guid_to_string(&e.partition_type_guid),
                    guid: guid_to_string(&e.unique_partition_guid),
                    label: e.partition_name.as_str().to_string(),
                })
                .collect();
            Ok((layout, TableKind::Gpt))
        }
        Err(gptman::Error::InvalidSignature) => {
            let mut mbr = [0u8; 512];
            dev.seek(SeekFrom::Start(0))
                .and_then(|_| dev.read_exact(&mut mbr))
                .map_err(|e| format!("reading sector 0: {e}"))?;
            let kind = if mbr[510] == 0x55
                && mbr[511] == 0xAA
                && (0..4).any(|i| {
                    let t = mbr[446 + 16 * i + 4];
                    t != 0 && t != 0xEE
                }) {
                TableKind::Mbr
            } else {
                TableKind::None
            };
            Ok((Layout::empty(sector_size, sectors), kind))
        }
        Err(e) => Err(format!("reading its GPT: {e}")),
    }
}

/// Zeroes the primary and backup table areas (sgdisk --zap-all's effect).
pub fn zap(dev: &mut File, sector_size: u64) -> Result<(), String> {
    let len = dev
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("finding its size: {e}"))?;
    let array = (16384u64).div_ceil(sector_size) * sector_size;
    let head = (2 * sector_size + array).min(len);
    let tail = (sector_size + array).min(len);
    let fail = |e: std::io::Error| format!("wiping its partition table: {e}");
    dev.seek(SeekFrom::Start(0)).map_err(fail)?;
    dev.write_all(&vec![0u8; head as usize]).map_err(fail)?;
    dev.seek(SeekFrom::Start(len - tail)).map_err(fail)?;
    dev.write_all(&vec![0u8; tail as usize]).map_err(fail)?;
    dev.sync_all().map_err(fail)
}

/// Writes `table` as the disk's GPT: the existing one updated (disk GUID
/// kept) or, with `fresh`, a new one; plus a protective MBR. Partitions
/// without a GUID get a random one.
pub fn write_table(
    dev: &mut File,
    sector_size: u64,
    table: &[Part],
    fresh: bool,
) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let mut gpt = if fresh {
        GPT::new_from(dev, sector_size, random_guid()?).map_err(|e| fail("creating a GPT", &e))?
    } else {
        let mut g = GPT::read_from(dev, sector_size).map_err(|e| fail("reading its GPT", &e))?;
        g.header
            .update_from(dev, sector_size)
            .map_err(|e| fail("sizing its GPT", &e))?;
        g
    };
    let entries = gpt.header.number_of_partition_entries;
    for n in 1..=entries {
        gpt[n] = GPTPartitionEntry::empty();
    }
    for p in table {
        if p.number == 0 || p.number > entries {
            return Err(format!("partition number {} is out of range", p.number));
        }
        let label_units = p.label.encode_utf16().count();
        if label_units > 36 {
            return Err(format!(
                "partition {}: label {:?} is longer than 36 UTF-16 code units",
                p.number, p.label
            ));
        }
        gpt[p.number] = GPTPartitionEntry {
            partition_type_guid: guid_from_str(&p.type_guid)?,
            unique_partition_guid: if p.guid.is_empty() {
                random_guid()?
            } else {
                guid_from_str(&p.guid)?
            },
            starting_lba: p.start,
            ending_lba: p.end(),
            attribute_bits: 0,
            partition_name: p.label.as_str().into(),
        };
    }
    gpt.write_into(dev)
        .map_err(|e| fail("writing its GPT", &e))?;
    GPT::write_protective_mbr_into(dev, sector_size)
        .map_err(|e| fail("writing its protective MBR", &e))?;
    dev.sync_all().map_err(|e| fail("syncing", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::disks::plan::LINUX_FS_TYPE;

    #[test]
    fn guids_round_trip_in_mixed_endian() {
        let b = guid_from_str(LINUX_FS_TYPE).unwrap();
        assert_eq!(&b[..4], &[0xAF, 0x3D, 0xC6, 0x0F]);
        assert_eq!(guid_to_string(&b), LINUX_FS_TYPE);
        assert_eq!(
            guid_to_string(&guid_from_str(&LINUX_FS_TYPE.to_lowercase()).unwrap()),
            LINUX_FS_TYPE
        );
        assert!(guid_from_str("0FC63DAF84834772-8E79-3D69D8477DE4").is_err());
        assert!(guid_from_str("ZZC63DAF-8483-4772-8E79-3D69D8477DE4").is_err());
        let r = guid_to_string(&random_guid().unwrap());
        assert_eq!(&r[14..15], "4");
    }

    #[test]
    fn writes_and_reads_back_a_table_on_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let f = File::create(&path).unwrap();
        f.set_len(64 << 20).unwrap();
        drop(f);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let (layout, kind) = read_layout(&mut f, 512).unwrap();
        assert_eq!(kind, TableKind::None);
        assert!(layout.parts.is_empty());
        let part = Part {
            number: 2,
            start: 2048,
            size: 4096,
            type_guid: LINUX_FS_TYPE.into(),
            guid: String::new(),
            label: "données".into(),
        };
        write_table(&mut f, 512, std::slice::from_ref(&part), true).unwrap();
        let (layout, kind) = read_layout(&mut f, 512).unwrap();
        assert_eq!(kind, TableKind::Gpt);
        assert_eq!(layout.parts.len(), 1);
        let got = &layout.parts[0];
        assert_eq!((got.number, got.start, got.size), (2, 2048, 4096));
        assert_eq!(got.label, "données");
        assert_eq!(got.guid.len(), 36);
        // grow the file: the backup header moves to the new end on rewrite
        f.set_len(128 << 20).unwrap();
        let (layout, _) = read_layout(&mut f, 512).unwrap();
        assert_eq!(layout.last_usable, (128 << 11) - 34);
        write_table(&mut f, 512, &layout.parts, false).unwrap();
        let (again, _) = read_layout(&mut f, 512).unwrap();
        assert_eq!(again.parts, layout.parts);
        zap(&mut f, 512).unwrap();
        assert_eq!(read_layout(&mut f, 512).unwrap().1, TableKind::None);
    }
}
