//! Partition planning, pure: given the table a disk has and the config's
//! `partitions`, the table it must get and what happens to each entry.
//!
//! The rules are Go Ignition's (its operator notes, "Partition Reuse
//! Semantics"), with sgdisk's placement arithmetic done here instead of by
//! `sgdisk --pretend`:
//! - partitions with number 0 are handled last and get the next free number;
//! - start and size are resolved as if every configured partition that
//!   exists were deleted and all were created again in order: an unset start
//!   or size of an existing partition keeps its value (unless
//!   `wipePartitionEntry`), 0 (or unset on a new one) means the start of the
//!   largest free block, aligned to 1 MiB, and its end (rounded down to a
//!   1 MiB boundary) respectively;
//! - an existing partition is kept when number, start, size, label, type
//!   GUID and GUID match what is given; otherwise it is resized (`resize`,
//!   everything but the size matches), recreated (`wipePartitionEntry`) or
//!   the stage fails;
//! - `shouldExist: false` deletes an existing partition only with
//!   `wipePartitionEntry`.

use std::collections::BTreeSet;

use crate::model::Partition;

/// The Linux filesystem data type, sgdisk's default (8300).
pub const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// One used entry of a partition table. Sectors are logical sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub start: u64,
    pub size: u64,
    /// Upper-case, canonical form.
    pub type_guid: String,
    /// Upper-case; empty in a plan means "generate one when writing".
    pub guid: String,
    pub label: String,
}

impl Part {
    pub fn end(&self) -> u64 {
        self.start + self.size - 1
    }
}

/// What a disk holds: its geometry and partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub sector_size: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub parts: Vec<Part>,
}

impl Layout {
    /// The layout of an empty GPT (128 entries) on a disk of `sectors` sectors.
    pub fn empty(sector_size: u64, sectors: u64) -> Layout {
        let array = (128u64 * 128).div_ceil(sector_size);
        Layout {
            sector_size,
            first_usable: 2 + array,
            last_usable: sectors.saturating_sub(array + 2),
            parts: Vec::new(),
        }
    }

    /// Sectors in one MiB: the alignment and the unit of `startMiB`/`sizeMiB`.
    pub fn mib(&self) -> u64 {
        (1024 * 1024 / self.sector_size).max(1)
    }

    fn get(&self, number: u32) -> Option<&Part> {
        self.parts.iter().find(|p| p.number == number)
    }
}

/// What happens to one configured partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Exists and matches.
    Keep(Part),
    /// Absent and created.
    Create(Part),
    /// Exists and did not match; its entry is replaced (wipePartitionEntry).
    Recreate {
        old: Part,
        new: Part,
        reason: String,
    },
    /// Exists, matches but for its size, and `resize` is set.
    Resize { old: Part, new: Part },
    /// Exists, `shouldExist: false` and `wipePartitionEntry`.
    Delete(Part),
    /// `shouldExist: false` and absent.
    Absent(u32),
}

impl Action {
    /// Whether this action changes the table.
    pub fn modifies(&self) -> bool {
        !matches!(self, Action::Keep(_) | Action::Absent(_))
    }

    /// The partition number concerned.
    pub fn number(&self) -> u32 {
        match self {
            Action::Keep(p) | Action::Create(p) | Action::Delete(p) => p.number,
            Action::Recreate { new, .. } | Action::Resize { new, .. } => new.number,
            Action::Absent(n) => *n,
        }
    }

    /// One line for logs and dry runs.
    pub fn describe(&self, mib: u64) -> String {
        let dims = |p: &Part| {
            format!(
                "sectors {}..{} ({} MiB), label {:?}, type {}{}",
                p.start,
                p.end(),
                p.size / mib,
                p.label,
                p.type_guid,
                if p.guid.is_empty() {
                    String::new()
                } else {
                    format!(", guid {}", p.guid)
                }
            )
        };
        match self {
            Action::Keep(p) => format!("keep partition {} ({})", p.number, dims(p)),
            Action::Create(p) => format!("create partition {}: {}", p.number, dims(p)),
            Action::Recreate { new, reason, .. } => format!(
                "recreate partition {} ({reason}): {}",
                new.number,
                dims(new)
            ),
            Action::Resize { old, new } => format!(
                "resize partition {} from {} to {} sectors",
                new.number, old.size, new.size
            ),
            Action::Delete(p) => format!("delete partition {}", p.number),
            Action::Absent(n) => format!("partition {n} is absent as asked"),
        }
    }
}

/// The plan for one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    pub wipe_table: bool,
    pub actions: Vec<Action>,
    /// The table the disk gets (sorted by number).
    pub table: Vec<Part>,
}

impl DiskPlan {
    /// Whether anything is written to the disk.
    pub fn writes(&self) -> bool {
        self.wipe_table || self.actions.iter().any(Action::modifies)
    }
}

fn mib_to_sectors(mib: Option<i64>, per_mib: u64) -> Result<Option<u64>, String> {
    match mib {
        None => Ok(None),
        Some(m) if m < 0 => Err(format!("negative size or start {m} MiB")),
        Some(m) => Ok(Some(m as u64 * per_mib)),
    }
}

fn canonical_guid(g: &Option<String>) -> Option<String> {
    g.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_uppercase())
}

fn should_exist(p: &Partition) -> bool {
    p.should_exist != Some(false)
}

/// The free blocks of a table: inclusive ranges of unused sectors.
pub fn free_blocks(layout_first: u64, layout_last: u64, parts: &[Part]) -> Vec<(u64, u64)> {
    let mut used: Vec<(u64, u64)> = parts.iter().map(|p| (p.start, p.end())).collect();
    used.sort_unstable();
    let mut free = Vec::new();
    let mut next = layout_first;
    for (s, e) in used {
        if s > next {
            free.push((next, s - 1));
        }
        next = next.max(e + 1);
    }
    if next <= layout_last {
        free.push((next, layout_last));
    }
    free
}

/// sgdisk's placement of a new partition (checked against sgdisk 1.0.9's
/// `--pretend`): start 0 is the start of the largest free block (aligned
/// up), size 0 runs to the last sector of that block.
fn place(
    layout: &Layout,
    parts: &[Part],
    number: u32,
    start: Option<u64>,
    size: Option<u64>,
) -> Result<(u64, u64), String> {
    let align = layout.mib();
    let free = free_blocks(layout.first_usable, layout.last_usable, parts);
    let largest = free
        .iter()
        .copied()
        .reduce(|best, b| if b.1 - b.0 > best.1 - best.0 { b } else { best });
    let block_start = largest.map(|b| b.0).unwrap_or(0);
    let (low, high) = match largest {
        Some((s, e)) => {
            let low = s.div_ceil(align) * align;
            let low = if low <= e { low } else { s };
            (low, e)
        }
        None => (0, 0),
    };
    let start = match start.filter(|s| *s != 0) {
        Some(s) => s,
        None if largest.is_some() => low,
        None => {
            return Err(format!(
                "partition {number}: no free space left on the disk"
            ))
        }
    };
    let end = match size.filter(|s| *s != 0) {
        Some(n) => start + n - 1,
        None if largest.is_some() && start >= block_start && start <= high => high,
        None => {
            return Err(format!(
                "partition {number}: size 0 fills the largest free block, but start sector {start} is not in it"
            ))
        }
    };
    if start < layout.first_usable || end > layout.last_usable {
        return Err(format!(
            "partition {number}: sectors {start}..{end} do not fit on the disk (usable sectors {}..{})",
            layout.first_usable, layout.last_usable
        ));
    }
    if let Some(o) = parts.iter().find(|p| p.start <= end && start <= p.end()) {
        return Err(format!(
            "partition {number}: sectors {start}..{end} overlap partition {} (sectors {}..{})",
            o.number,
            o.start,
            o.end()
        ));
    }
    Ok((start, end - start + 1))
}

/// A configured partition with sectors instead of MiB.
struct Spec<'a> {
    cfg: &'a Partition,
    number: u32,
    start: Option<u64>,
    size: Option<u64>,
}

/// Go's matching: every attribute that is given must be equal.
fn mismatch(existing: &Part, want: &Part, cfg: &Partition, with_size: bool) -> Option<String> {
    if want.start != existing.start {
        return Some(format!(
            "starting sector did not match (specified {}, got {})",
            want.start, existing.start
        ));
    }
    if let Some(g) = canonical_guid(&cfg.guid) {
        if g != existing.guid {
            return Some(format!(
                "GUID did not match (specified {g:?}, got {:?})",
                existing.guid
            ));
        }
    }
    if let Some(t) = canonical_guid(&cfg.type_guid) {
        if t != existing.type_guid {
            return Some(format!(
                "type GUID did not match (specified {t:?}, got {:?})",
                existing.type_guid
            ));
        }
    }
    if let Some(l) = &cfg.label {
        if *l != existing.label {
            return Some(format!(
                "label did not match (specified {l:?}, got {:?})",
                existing.label
            ));
        }
    }
    if with_size && want.size != existing.size {
        return Some(format!(
            "size did not match (specified {} sectors, got {})",
            want.size, existing.size
        ));
    }
    None
}

/// Plans one disk. `existing` is what the disk holds now; with `wipe_table`
/// it is ignored but for its geometry (pass a layout from [`Layout::empty`]
/// when the disk has no table).
pub fn plan(
    existing: &Layout,
    partitions: &[Partition],
    wipe_table: bool,
) -> Result<DiskPlan, String> {
    let base = if wipe_table {
        Layout {
            parts: Vec::new(),
            ..existing.clone()
        }
    } else {
        existing.clone()
    };
    let per_mib = base.mib();

    // Number 0 last, stable otherwise.
    let mut ordered: Vec<&Partition> = partitions.iter().filter(|p| p.number != 0).collect();
    ordered.extend(partitions.iter().filter(|p| p.number == 0));

    let mut specs = Vec::new();
    for p in ordered {
        let number = u32::try_from(p.number)
            .ok()
            .filter(|n| *n <= 128)
            .ok_or_else(|| format!("partition number {} is out of range", p.number))?;
        specs.push(Spec {
            cfg: p,
            number,
            start: mib_to_sectors(p.start_mib, per_mib)?,
            size: mib_to_sectors(p.size_mib, per_mib)?,
        });
    }

    // The "pretend" pass: delete every configured partition that exists,
    // then create the ones that should exist, in order.
    let mut used: BTreeSet<u32> = base.parts.iter().map(|p| p.number).collect();
    let mut sim: Vec<Part> = base
        .parts
        .iter()
        .filter(|p| !specs.iter().any(|s| s.number == p.number))
        .cloned()
        .collect();
    for s in specs.iter_mut() {
        if let Some(info) = base.get(s.number).filter(|_| s.number != 0) {
            if s.cfg.wipe_partition_entry != Some(true) {
                s.start = s.start.or(Some(info.start));
                s.size = s.size.or(Some(info.size));
            }
        }
        if s.number != 0 {
            if should_exist(s.cfg) {
                used.insert(s.number);
            } else {
                used.remove(&s.number);
            }
        }
    }
    let mut free_number = 1;
    for s in specs.iter_mut() {
        if !should_exist(s.cfg) {
            continue;
        }
        if s.number == 0 {
            while used.contains(&free_number) {
                free_number += 1;
            }
            if free_number > 128 {
                return Err("no free partition number left (128 entries)".into());
            }
            s.number = free_number;
            used.insert(free_number);
        }
        let (start, size) = place(&base, &sim, s.number, s.start, s.size)?;
        s.start = Some(start);
        s.size = Some(size);
        sim.push(Part {
            number: s.number,
            start,
            size,
            type_guid: String::new(),
            guid: String::new(),
            label: String::new(),
        });
    }

    // The matrix.
    let mut actions = Vec::new();
    let mut table = base.parts.clone();
    for s in &specs {
        let exists = base.get(s.number).filter(|_| s.number != 0);
        if !should_exist(s.cfg) {
            if specs
                .iter()
                .any(|o| o.number == s.number && should_exist(o.cfg))
            {
                continue;
            }
            match exists {
                None => actions.push(Action::Absent(s.number)),
                Some(old) if s.cfg.wipe_partition_entry == Some(true) => {
                    table.retain(|p| p.number != s.number);
                    actions.push(Action::Delete(old.clone()));
                }
                Some(_) => {
                    return Err(format!(
                        "partition {} exists but is specified as nonexistent and wipePartitionEntry is false",
                        s.number
                    ))
                }
            }
            continue;
        }
        let (start, size) = (s.start.unwrap_or(0), s.size.unwrap_or(0));
        let want = Part {
            number: s.number,
            start,
            size,
            type_guid: canonical_guid(&s.cfg.type_guid).unwrap_or_else(|| {
                exists
                    .map(|e| e.type_guid.clone())
                    .unwrap_or_else(|| LINUX_FS_TYPE.to_string())
            }),
            guid: canonical_guid(&s.cfg.guid).unwrap_or_default(),
            label: s.cfg.label.clone().unwrap_or_default(),
        };
        let Some(old) = exists else {
            let want = Part {
                type_guid: canonical_guid(&s.cfg.type_guid)
                    .unwrap_or_else(|| LINUX_FS_TYPE.to_string()),
                ..want
            };
            table.push(want.clone());
            actions.push(Action::Create(want));
            continue;
        };
        let Some(reason) = mismatch(old, &want, s.cfg, true) else {
            actions.push(Action::Keep(old.clone()));
            continue;
        };
        table.retain(|p| p.number != s.number);
        if s.cfg.resize == Some(true) && mismatch(old, &want, s.cfg, false).is_none() {
            let new = Part {
                size,
                ..old.clone()
            };
            table.push(new.clone());
            actions.push(Action::Resize {
                old: old.clone(),
                new,
            });
        } else if s.cfg.wipe_partition_entry == Some(true) {
            let new = Part {
                type_guid: canonical_guid(&s.cfg.type_guid)
                    .unwrap_or_else(|| LINUX_FS_TYPE.to_string()),
                ..want
            };
            table.push(new.clone());
            actions.push(Action::Recreate {
                old: old.clone(),
                new,
                reason,
            });
        } else {
            return Err(format!("partition {} didn't match: {reason}", s.number));
        }
    }
    table.sort_by_key(|p| p.number);
    // The final table must be consistent (it is, by construction, unless an
    // explicit start/size collides with a partition that is kept).
    for (i, a) in table.iter().enumerate() {
        for b in &table[i + 1..] {
            if a.start <= b.end() && b.start <= a.end() {
                return Err(format!(
                    "partition {} (sectors {}..{}) would overlap partition {} (sectors {}..{})",
                    a.number,
                    a.start,
                    a.end(),
                    b.number,
                    b.start,
                    b.end()
                ));
            }
        }
    }
    Ok(DiskPlan {
        wipe_table,
        actions,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 2048;
    /// The last usable sector of the 100 MiB test disk.
    const LAST: u64 = 100 * MIB - 34;

    /// A 100 MiB disk with 512-byte sectors.
    fn disk(parts: Vec<Part>) -> Layout {
        Layout {
            parts,
            ..Layout::empty(512, 100 * MIB)
        }
    }

    fn part(number: u32, start_mib: u64, size_mib: u64, label: &str) -> Part {
        Part {
            number,
            start: start_mib * MIB,
            size: size_mib * MIB,
            type_guid: LINUX_FS_TYPE.into(),
            guid: format!("00000000-0000-0000-0000-00000000000{number}"),
            label: label.into(),
        }
    }

    fn cfg(number: i64, start: Option<i64>, size: Option<i64>, label: Option<&str>) -> Partition {
        Partition {
            number,
            start_mib: start,
            size_mib: size,
            label: label.map(String::from),
            ..Default::default()
        }
    }

    fn dims(plan: &DiskPlan) -> Vec<(u32, u64, u64, String)> {
        plan.table
            .iter()
            .map(|p| (p.number, p.start, p.size, p.label.clone()))
            .collect()
    }

    #[test]
    fn empty_gpt_geometry_matches_sgdisk() {
        let l = Layout::empty(512, 100 * MIB);
        assert_eq!((l.first_usable, l.last_usable), (34, 100 * MIB - 34));
        let l = Layout::empty(4096, 25600);
        assert_eq!(
            (l.first_usable, l.last_usable, l.mib()),
            (6, 25600 - 6, 256)
        );
    }

    #[test]
    fn fresh_disk_start_aligned_fill_rounded_down() {
        let p = plan(
            &disk(vec![]),
            &[
                cfg(1, None, Some(10), Some("a")),
                cfg(0, None, Some(0), Some("fill")),
                cfg(2, Some(20), Some(5), Some("b")),
            ],
            false,
        )
        .unwrap();
        // 1 at 1 MiB; 2 at 20 MiB; number 0 becomes 3 and fills the largest
        // free block (25 MiB .. the last usable sector), as sgdisk --pretend
        // computes it for the same commands.
        assert_eq!(
            dims(&p),
            vec![
                (1, MIB, 10 * MIB, "a".into()),
                (2, 20 * MIB, 5 * MIB, "b".into()),
                (3, 25 * MIB, LAST - 25 * MIB + 1, "fill".into()),
            ]
        );
        assert!(p.actions.iter().all(|a| matches!(a, Action::Create(_))));
        assert!(p.writes());
    }

    #[test]
    fn start_zero_takes_the_largest_block_not_the_first() {
        // Free: 1..10 MiB (9 MiB) and 20..99 MiB; a 2 MiB partition with start 0
        // goes to 20 MiB, as sgdisk does.
        let d = disk(vec![part(1, 10, 10, "x")]);
        let p = plan(&d, &[cfg(2, Some(0), Some(2), None)], false).unwrap();
        assert_eq!(p.table[1].start, 20 * MIB);
    }

    #[test]
    fn size_zero_outside_the_largest_block_fails() {
        let d = disk(vec![part(1, 10, 10, "x")]);
        let e = plan(&d, &[cfg(2, Some(2), Some(0), None)], false).unwrap_err();
        assert!(e.contains("not in it"), "{e}");
    }

    #[test]
    fn matching_partitions_are_kept() {
        let mut fill = part(2, 11, 0, "b");
        fill.size = LAST - fill.start + 1;
        let d = disk(vec![part(1, 1, 10, "a"), fill]);
        let p = plan(
            &d,
            &[
                cfg(1, Some(1), Some(10), Some("a")),
                // unset start/size keep the existing values
                cfg(2, None, None, Some("b")),
            ],
            false,
        )
        .unwrap();
        assert!(p.actions.iter().all(|a| matches!(a, Action::Keep(_))));
        assert!(!p.writes());
        // size 0 matches what a fill would be if it were recreated
        let p = plan(&d, &[cfg(2, Some(0), Some(0), Some("b"))], false).unwrap();
        assert!(matches!(p.actions[0], Action::Keep(_)), "{p:?}");
    }

    #[test]
    fn mismatch_fails_without_wipe_and_recreates_with_it() {
        let d = disk(vec![part(1, 1, 10, "a")]);
        let e = plan(&d, &[cfg(1, None, Some(20), Some("a"))], false).unwrap_err();
        assert_eq!(
            e,
            "partition 1 didn't match: size did not match (specified 40960 sectors, got 20480)"
        );
        let e = plan(&d, &[cfg(1, None, None, Some("other"))], false).unwrap_err();
        assert!(e.contains("label did not match"), "{e}");
        let mut c = cfg(1, None, None, Some("other"));
        c.wipe_partition_entry = Some(true);
        let p = plan(&d, &[c], false).unwrap();
        assert!(
            matches!(&p.actions[0], Action::Recreate { reason, .. } if reason.contains("label"))
        );
        // with wipePartitionEntry, an unset size is the largest block
        assert_eq!(dims(&p), vec![(1, MIB, LAST - MIB + 1, "other".into())]);
    }

    #[test]
    fn type_and_guid_compare_case_insensitively() {
        let d = disk(vec![part(1, 1, 10, "a")]);
        let mut c = cfg(1, None, None, None);
        c.type_guid = Some(LINUX_FS_TYPE.to_ascii_lowercase());
        c.guid = Some("00000000-0000-0000-0000-000000000001".into());
        assert!(matches!(
            plan(&d, &[c.clone()], false).unwrap().actions[0],
            Action::Keep(_)
        ));
        c.type_guid = Some("C12A7328-F81F-11D2-BA4B-00A0C93EC93B".into());
        assert!(plan(&d, &[c], false)
            .unwrap_err()
            .contains("type GUID did not match"));
    }

    #[test]
    fn resize_grows_keeping_identity() {
        let d = disk(vec![part(1, 1, 10, "a")]);
        let mut c = cfg(1, None, Some(0), Some("a"));
        c.resize = Some(true);
        let p = plan(&d, &[c], false).unwrap();
        match &p.actions[0] {
            Action::Resize { old, new } => {
                assert_eq!((new.start, new.size), (MIB, LAST - MIB + 1));
                assert_eq!((&new.guid, &new.label), (&old.guid, &old.label));
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn should_exist_false() {
        let d = disk(vec![part(1, 1, 10, "a"), part(2, 11, 10, "b")]);
        let mut gone = cfg(2, None, None, None);
        gone.should_exist = Some(false);
        assert!(plan(&d, &[gone.clone()], false)
            .unwrap_err()
            .contains("wipePartitionEntry is false"));
        gone.wipe_partition_entry = Some(true);
        let p = plan(&d, &[gone.clone()], false).unwrap();
        assert_eq!(p.actions, vec![Action::Delete(part(2, 11, 10, "b"))]);
        assert_eq!(dims(&p), vec![(1, MIB, 10 * MIB, "a".into())]);
        let mut absent = cfg(5, None, None, None);
        absent.should_exist = Some(false);
        let p = plan(&d, &[absent], false).unwrap();
        assert_eq!(p.actions, vec![Action::Absent(5)]);
        assert!(!p.writes());
    }

    #[test]
    fn number_zero_skips_used_numbers() {
        let d = disk(vec![part(1, 1, 10, "a"), part(3, 11, 10, "c")]);
        let p = plan(
            &d,
            &[
                cfg(0, None, Some(5), Some("x")),
                cfg(0, None, Some(5), Some("y")),
            ],
            false,
        )
        .unwrap();
        let numbers: Vec<u32> = p.table.iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4]);
        assert_eq!(p.table[1].start, 21 * MIB);
        assert_eq!(p.table[3].start, 26 * MIB);
    }

    #[test]
    fn wipe_table_ignores_what_is_there() {
        let d = disk(vec![part(1, 1, 10, "a"), part(2, 50, 10, "b")]);
        let p = plan(&d, &[cfg(1, None, None, Some("new"))], true).unwrap();
        assert_eq!(dims(&p), vec![(1, MIB, LAST - MIB + 1, "new".into())]);
        assert!(matches!(p.actions[0], Action::Create(_)));
        let p = plan(&d, &[], true).unwrap();
        assert!(p.writes() && p.table.is_empty());
    }

    #[test]
    fn explicit_overlap_with_a_kept_partition_fails() {
        let d = disk(vec![part(1, 1, 10, "a")]);
        let e = plan(&d, &[cfg(2, Some(5), Some(10), None)], false).unwrap_err();
        assert!(e.contains("overlap partition 1"), "{e}");
        let e = plan(&d, &[cfg(2, Some(95), Some(10), None)], false).unwrap_err();
        assert!(e.contains("do not fit"), "{e}");
    }

    #[test]
    fn default_type_is_linux_and_kept_type_is_preserved() {
        let p = plan(&disk(vec![]), &[cfg(1, None, Some(1), None)], false).unwrap();
        assert_eq!(p.table[0].type_guid, LINUX_FS_TYPE);
        assert!(p.table[0].guid.is_empty()); // generated when written
    }
}
