//! The `storage` section: nodes (files, directories, links), disks and
//! partitions, RAID, LUKS and filesystems.

use std::collections::HashSet;

use super::{paths, resource};
use crate::jpath;
use crate::model::{Disk, Filesystem, Luks, Partition, Raid, Storage};
use crate::path::JsonPath;
use crate::report::Report;
use crate::version::SpecVersion;

pub fn validate(s: &Storage, v: SpecVersion, r: &mut Report) {
    let at = jpath!["storage"];
    nodes(s, &at, v, r);
    links(s, &at, v, r);
    for (i, d) in s.disks.iter().enumerate() {
        disk(d, &at.key("disks").index(i), v, r);
    }
    for (i, f) in s.filesystems.iter().enumerate() {
        filesystem(f, &at.key("filesystems").index(i), v, r);
    }
    filesystems_on_disks(s, &at, r);
    for (i, raid_) in s.raid.iter().enumerate() {
        raid(raid_, &at.key("raid").index(i), v, r);
    }
    for (i, l) in s.luks.iter().enumerate() {
        luks(l, &at.key("luks").index(i), v, r);
    }
}

fn path_rule(p: &str, at: JsonPath, r: &mut Report) {
    if let Err(e) = paths::check(p) {
        r.error(at, e);
    }
}

fn mode(m: Option<i64>, at: JsonPath, v: SpecVersion, r: &mut Report) {
    let Some(m) = m else { return };
    if !(0..=0o7777).contains(&m) {
        r.error(at.clone(), "illegal file mode");
    }
    if !v.since(6) && (m as u32) & 0o7000 != 0 {
        r.warning(
            at,
            "setuid/setgid/sticky bits are not supported or functional in spec versions older than 3.6.0",
        );
    }
}

fn owner(id: Option<i64>, name: Option<&String>, at: JsonPath, r: &mut Report) {
    if id.is_some() && name.is_some_and(|n| !n.is_empty()) {
        r.error(at, "cannot set both id and name");
    }
}

/// Files, directories and links: paths, modes, owners, contents.
fn nodes(s: &Storage, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    for (i, f) in s.files.iter().enumerate() {
        let f_at = at.key("files").index(i);
        path_rule(&f.path, f_at.key("path"), r);
        owner(f.user.id, f.user.name.as_ref(), f_at.key("user"), r);
        owner(f.group.id, f.group.name.as_ref(), f_at.key("group"), r);
        mode(f.mode, f_at.key("mode"), v, r);
        if f.overwrite == Some(true) && f.contents.source.is_none() {
            r.error(
                f_at.key("overwrite"),
                "overwrite must be false if source is unspecified",
            );
        }
        resource::validate(&f.contents, &f_at.key("contents"), v, r);
        for (j, a) in f.append.iter().enumerate() {
            resource::validate(a, &f_at.key("append").index(j), v, r);
        }
    }
    for (i, d) in s.directories.iter().enumerate() {
        let d_at = at.key("directories").index(i);
        path_rule(&d.path, d_at.key("path"), r);
        owner(d.user.id, d.user.name.as_ref(), d_at.key("user"), r);
        owner(d.group.id, d.group.name.as_ref(), d_at.key("group"), r);
        mode(d.mode, d_at.key("mode"), v, r);
    }
    for (i, l) in s.links.iter().enumerate() {
        let l_at = at.key("links").index(i);
        path_rule(&l.path, l_at.key("path"), r);
        owner(l.user.id, l.user.name.as_ref(), l_at.key("user"), r);
        owner(l.group.id, l.group.name.as_ref(), l_at.key("group"), r);
    }
}

/// True when one of `p`'s proper ancestors is in `links`.
fn under_link(p: &str, links: &HashSet<&str>) -> bool {
    p.match_indices('/')
        .any(|(i, _)| i > 0 && links.contains(&p[..i]))
}

/// Nothing may be configured beneath a configured link; links need targets;
/// hard links may not point at configured directories.
fn links(s: &Storage, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    let link_paths: HashSet<&str> = s.links.iter().map(|l| l.path.as_str()).collect();
    if !link_paths.is_empty() {
        for (i, d) in s.directories.iter().enumerate() {
            if under_link(&d.path, &link_paths) {
                r.error(
                    at.key("directories").index(i),
                    "directory path includes link in config",
                );
            }
        }
        for (i, f) in s.files.iter().enumerate() {
            if under_link(&f.path, &link_paths) {
                r.error(
                    at.key("files").index(i),
                    "file path includes link in config",
                );
            }
        }
    }
    let dirs: HashSet<&str> = s.directories.iter().map(|d| d.path.as_str()).collect();
    for (i, l) in s.links.iter().enumerate() {
        let l_at = at.key("links").index(i);
        if under_link(&l.path, &link_paths) {
            r.error(l_at.clone(), "link path includes link in config");
        }
        let target = match l.target.as_deref() {
            Some(t) if !t.is_empty() => t,
            // Before 3.3 the target was a plain string that nothing checked.
            _ if !v.since(3) => "",
            _ => {
                r.error(l_at.key("target"), "link target is required");
                continue;
            }
        };
        if l.hard != Some(true) {
            continue;
        }
        for (field, set) in [("id", l.user.id.is_some()), ("name", l.user.name.is_some())] {
            if set {
                r.warning(
                    l_at.key("user").key(field),
                    "user/group ignored for hard link",
                );
            }
        }
        for (field, set) in [
            ("id", l.group.id.is_some()),
            ("name", l.group.name.is_some()),
        ] {
            if set {
                r.warning(
                    l_at.key("group").key(field),
                    "user/group ignored for hard link",
                );
            }
        }
        // Go Ignition resolves a relative hard-link target against the link's
        // own path (not its directory); kept for identical verdicts.
        let resolved = if target.starts_with('/') {
            paths::clean(target)
        } else {
            paths::clean(&format!("{}/{}", l.path, target))
        };
        if dirs.contains(resolved.as_str()) {
            r.error(l_at, "hard link target is a directory");
        }
    }
}

fn disk(d: &Disk, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    if d.device.is_empty() {
        r.error(at.key("device"), "disk device is required");
        return;
    }
    path_rule(&d.device, at.key("device"), r);
    let parts_at = at.key("partitions");
    let mut numbers = std::collections::HashMap::new();
    let mut collision = None;
    for (i, p) in d.partitions.iter().enumerate() {
        if p.number != 0 {
            if let Some(_first) = numbers.insert(p.number, i) {
                collision.get_or_insert(i);
            }
        }
    }
    if let Some(i) = collision {
        r.error(parts_at.index(i), "partition numbers collide");
    }
    if let Some(i) = overlap(&d.partitions) {
        r.error(parts_at.index(i), "partitions overlap");
    }
    if !v.since(4)
        && d.partitions.iter().any(|p| p.number == 0)
        && d.partitions.iter().any(|p| p.should_exist == Some(false))
    {
        r.error(
            parts_at.clone(),
            "shouldExist is false for a partition and other partition(s) has start or size 0",
        );
    }
    let mut labels = HashSet::new();
    if let Some(i) = d
        .partitions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.label.as_deref().map(|l| (i, l)))
        .find(|(_, l)| !labels.insert(*l))
        .map(|(i, _)| i)
    {
        r.error(
            parts_at.index(i),
            "cannot use the same partition label twice",
        );
    }
    for (i, p) in d.partitions.iter().enumerate() {
        partition(p, &parts_at.index(i), r);
    }
}

/// The index of a partition that overlaps another, both with explicit,
/// non-zero starts and explicit sizes (a zero size means "to the end" and
/// covers only its start here, as in Go Ignition).
fn overlap(parts: &[Partition]) -> Option<usize> {
    let span = |p: &Partition| match (p.start_mib, p.size_mib) {
        (Some(start), Some(size)) if start != 0 => Some((
            start,
            if size == 0 {
                start
            } else {
                start.saturating_add(size - 1)
            },
        )),
        _ => None,
    };
    for (pi, p) in parts.iter().enumerate() {
        let Some((ps, pe)) = span(p) else { continue };
        for (oi, o) in parts.iter().enumerate() {
            if oi == pi {
                continue;
            }
            let Some((os, oe)) = span(o) else { continue };
            if (ps >= os && ps <= oe) || (pe >= os && pe <= oe) || (ps < os && pe > oe) {
                return Some(oi);
            }
        }
    }
    None
}

fn partition(p: &Partition, at: &JsonPath, r: &mut Report) {
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if p.should_exist == Some(false)
        && (p.label.is_some()
            || set(&p.type_guid)
            || set(&p.guid)
            || p.start_mib.is_some()
            || p.size_mib.is_some())
    {
        r.error(
            at.clone(),
            "shouldExist specified false with other options also specified",
        );
    }
    if p.number == 0 && p.label.is_none() {
        r.error(
            at.clone(),
            "a partition number >= 1 or a label must be specified",
        );
    }
    if let Some(label) = &p.label {
        if label.len() > 36 {
            r.error(
                at.key("label"),
                "partition labels may not exceed 36 characters",
            );
        } else if label.contains(':') {
            r.error(
                at.key("label"),
                "partition label will be truncated to text before the colon",
            );
        }
    }
    for (field, value) in [("guid", &p.guid), ("typeGuid", &p.type_guid)] {
        if value.as_deref().is_some_and(|g| !is_guid_or_empty(g)) {
            r.error(
                at.key(field),
                "doesn't match the form \"01234567-89AB-CDEF-EDCB-A98765432101\"",
            );
        }
    }
}

fn is_guid_or_empty(g: &str) -> bool {
    let groups: Vec<&str> = g.split('-').collect();
    g.is_empty()
        || (groups.iter().map(|s| s.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|s| s.bytes().all(|b| b.is_ascii_hexdigit())))
}

fn filesystem(f: &Filesystem, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if let Some(p) = f.path.as_deref().filter(|p| !p.is_empty()) {
        path_rule(p, at.key("path"), r);
    }
    path_rule(&f.device, at.key("device"), r);
    let format = f.format.as_deref().filter(|s| !s.is_empty());
    match format {
        None => {
            if set(&f.path)
                || set(&f.label)
                || set(&f.uuid)
                || f.wipe_filesystem == Some(true)
                || !f.mount_options.is_empty()
                || !f.options.is_empty()
            {
                r.error(
                    at.key("format"),
                    "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified",
                );
            }
        }
        Some("ext4" | "btrfs" | "xfs" | "swap" | "vfat") => {}
        Some("none") if v.since(3) => {}
        Some(_) => r.error(at.key("format"), "invalid filesystem format"),
    }
    if let Some(label) = f.label.as_deref().filter(|l| !l.is_empty()) {
        let limit = match format {
            None => {
                r.error(
                    at.key("label"),
                    "filesystem must specify format if label is specified",
                );
                return;
            }
            Some("ext4") => Some(16),
            Some("btrfs") => Some(256),
            Some("xfs") => Some(12),
            Some("swap") => Some(15),
            Some("vfat") => Some(11),
            Some(_) => None,
        };
        if let (Some(limit), Some(fmt)) = (limit, format) {
            if label.len() > limit {
                r.error(
                    at.key("label"),
                    format!("filesystem labels cannot be longer than {limit} characters when using {fmt}"),
                );
            }
        }
    }
}

/// Warnings for filesystems placed on whole disks that the config also
/// partitions or wipes.
fn filesystems_on_disks(s: &Storage, at: &JsonPath, r: &mut Report) {
    for (i, f) in s.filesystems.iter().enumerate() {
        let Some(d) = s.disks.iter().rev().find(|d| d.device == f.device) else {
            continue;
        };
        let f_at = at.key("filesystems").index(i).key("device");
        if !d.partitions.is_empty() {
            r.warning(f_at, "filesystem overwrites partitioned device");
        } else if f.wipe_filesystem != Some(true) && d.wipe_table == Some(true) {
            r.warning(
                f_at,
                "device matches disk with wipeTable enabled; filesystem will be wiped",
            );
        }
    }
}

fn raid(a: &Raid, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    let level = a.level.as_deref().unwrap_or("");
    let level_at = at.key("level");
    match level {
        "" if v.since(3) => r.error(level_at, "raid level is required"),
        "linear" | "raid0" | "0" | "stripe" => {
            if a.spares.is_some_and(|s| s != 0) {
                r.error(level_at, "spares unsupported for linear and raid0 arrays");
            }
        }
        "raid1" | "1" | "mirror" | "raid4" | "4" | "raid5" | "5" | "raid6" | "6" | "raid10"
        | "10" => {}
        _ => r.error(level_at, "unrecognized raid level"),
    }
    if a.devices.is_empty() {
        r.error(at.key("devices"), "raid devices required");
    }
    for (i, dev) in a.devices.iter().enumerate() {
        path_rule(dev, at.key("devices").index(i), r);
    }
}

fn luks(l: &Luks, at: &JsonPath, v: SpecVersion, r: &mut Report) {
    if l.name.contains('/') {
        r.error(at.key("name"), "device names cannot contain slashes");
    }
    if l.label.as_deref().is_some_and(|s| s.len() > 47) {
        r.error(
            at.key("label"),
            "luks device labels cannot be longer than 47 characters",
        );
    }
    match l.device.as_deref() {
        None | Some("") => r.error(at.key("device"), "disk device is required"),
        Some(d) => path_rule(d, at.key("device"), r),
    }
    let c = &l.clevis;
    let custom_pin = c.custom.pin.as_deref().is_some_and(|p| !p.is_empty());
    let others = !c.tang.is_empty() || c.tpm2 == Some(true) || c.threshold.is_some_and(|t| t != 0);
    if custom_pin && others {
        r.error(
            at.key("clevis"),
            "cannot use custom clevis config with tpm2, tang, or threshold",
        );
    }
    if let Some(src) = l.key_file.source.as_deref().filter(|s| !s.is_empty()) {
        if resource::validate_url(src, v).is_err() {
            // Go Ignition reports this at `keys`, a path that does not exist.
            r.error(at.key("keys"), "invalid key-file source");
        }
    }
    resource::validate(&l.key_file, &at.key("keyFile"), v, r);

    let custom_at = at.key("clevis").key("custom");
    let cu = &c.custom;
    let empty = |s: &Option<String>| s.as_deref().unwrap_or("").is_empty();
    if !(empty(&cu.pin) && empty(&cu.config) && cu.needs_network != Some(true)) {
        match cu.pin.as_deref() {
            None | Some("") => r.error(custom_at.key("pin"), "missing required custom clevis pin"),
            Some("tpm2" | "tang" | "sss") => {}
            Some(_) if v.since(6) => {}
            Some(_) => r.error(custom_at.key("pin"), "unsupported clevis pin"),
        }
        if empty(&cu.config) {
            r.error(
                custom_at.key("config"),
                "missing required custom clevis config",
            );
        }
    }
    for (i, t) in c.tang.iter().enumerate() {
        let t_at = at.key("clevis").key("tang").index(i);
        match crate::url::parse(&t.url) {
            Err(_) => r.error(t_at.key("url"), "unable to parse url"),
            Ok(u) if u.scheme != "http" && u.scheme != "https" => {
                r.error(t_at.key("url"), "invalid url scheme")
            }
            Ok(_) => {}
        }
        if empty(&t.thumbprint) {
            r.error(t_at.key("thumbprint"), "thumbprint is required");
        }
        if let Some(adv) = t.advertisement.as_deref().filter(|a| !a.is_empty()) {
            if crate::json::parse(adv).is_err() {
                r.error(t_at.key("advertisement"), "advertisement is not valid JSON");
            }
        }
    }
    if l.cex.enabled == Some(true) {
        if custom_pin || others {
            r.error(at.key("cex"), "cannot use cex with clevis");
        }
        if l.key_file.source.as_deref().is_some_and(|s| !s.is_empty()) {
            r.error(at.key("cex"), "cannot use key file with cex");
        }
    }
}
