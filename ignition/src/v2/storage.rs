//! 2.x → 3.x: the `storage` section. Nodes on named filesystems become
//! absolute paths, filesystems lose their names, partitions move from
//! sectors to MiB.

use std::collections::HashMap;

use super::translate::{combine, either, no_merge, some_str, some_true, strip};
use super::types as old;
use crate::jpath;
use crate::model::{
    Directory, Disk, File, Filesystem, Link, NodeGroup, NodeUser, Partition, Raid, Resource,
    Storage, Verification,
};
use crate::path::JsonPath;
use crate::report::Report;
use crate::validate::paths::clean;
use crate::version::SpecVersion;

/// Sectors (of 512 bytes) in a MiB.
const SECTORS_PER_MIB: i64 = 2048;

pub fn storage(
    s: &old::Storage,
    version: SpecVersion,
    mount_paths: &HashMap<String, String>,
    r: &mut Report,
) -> Storage {
    let mounts = Mounts(mount_paths);
    let filesystems = filesystems(&s.filesystems, mount_paths, r);
    let (files, directories, links) = nodes(s, &mounts, r);
    let disks = s.disks.iter().enumerate().map(|(i, d)| {
        let at = jpath!["storage", "disks", i];
        (at.clone(), d.device.clone(), disk(d, version, &at, r))
    });
    let disks = strip(combine(disks.collect(), "disk", r, no_merge));
    let raid = s.raid.iter().enumerate().map(|(i, a)| {
        let raid = Raid {
            devices: a.devices.clone(),
            level: some_str(&a.level),
            name: a.name.clone(),
            options: a.options.clone(),
            spares: (a.spares != 0).then_some(a.spares),
        };
        (jpath!["storage", "raid", i], a.name.clone(), raid)
    });
    Storage {
        directories,
        disks,
        files,
        filesystems,
        links,
        raid: strip(combine(raid.collect(), "raid", r, no_merge)),
        luks: Vec::new(),
    }
}

/// Where each named filesystem is mounted in 3.x.
struct Mounts<'a>(&'a HashMap<String, String>);

impl Mounts<'_> {
    /// The 3.x path of a node: its 2.x path beneath its filesystem's mount path.
    fn resolve(&self, fs: &str, path: &str, at: &JsonPath, r: &mut Report) -> Option<String> {
        if fs.is_empty() {
            r.error(at.key("filesystem"), "no filesystem specified");
            return None;
        }
        if !path.starts_with('/') {
            r.error(at.key("path"), "path not absolute");
            return None;
        }
        let mount = match (fs, self.0.get(fs)) {
            ("root", _) => "/",
            (_, Some(m)) => m.as_str(),
            (_, None) => {
                r.error(
                    at.key("filesystem"),
                    format!(
                        "filesystem {fs:?} has no known mount path; cannot translate to spec 3"
                    ),
                );
                return None;
            }
        };
        Some(clean(&format!("{mount}/{path}")))
    }
}

fn filesystems(
    list: &[old::Filesystem],
    mount_paths: &HashMap<String, String>,
    r: &mut Report,
) -> Vec<Filesystem> {
    let mut entries = Vec::new();
    for (i, fs) in list.iter().enumerate() {
        let at = jpath!["storage", "filesystems", i];
        let name = &fs.name;
        let m = match (&fs.mount, &fs.path) {
            (Some(m), None) => m,
            (Some(_), Some(_)) => {
                r.error(at, format!("filesystem {name:?} has both mount and path"));
                continue;
            }
            (None, Some(_)) => {
                r.error(
                    at.key("path"),
                    format!("filesystem {name:?} uses path instead of mount; a filesystem mounted outside Ignition cannot be translated to spec 3"),
                );
                continue;
            }
            (None, None) => {
                r.error(
                    at,
                    format!("filesystem {name:?} has neither mount nor path"),
                );
                continue;
            }
        };
        if m.create.is_some() {
            r.error(
                at.key("mount").key("create"),
                "create is deprecated and cannot be translated to spec 3; use wipeFilesystem and options instead",
            );
            continue;
        }
        // The root filesystem is already mounted at `/` in 3.x: no path.
        let path = match name.as_str() {
            "root" => None,
            _ => mount_paths.get(name).cloned(),
        };
        let translated = Filesystem {
            device: m.device.clone(),
            format: some_str(&m.format),
            label: m.label.clone(),
            options: m.options.clone(),
            path,
            uuid: m.uuid.clone(),
            wipe_filesystem: some_true(m.wipe_filesystem),
            mount_options: Vec::new(),
        };
        entries.push((at, name.clone(), translated));
    }
    strip(combine(entries, "filesystem", r, no_merge))
}

fn user(o: &Option<old::NodeOwner>) -> NodeUser {
    let o = o.clone().unwrap_or_default();
    NodeUser {
        id: o.id,
        name: some_str(&o.name),
    }
}

fn group(o: &Option<old::NodeOwner>) -> NodeGroup {
    let o = o.clone().unwrap_or_default();
    NodeGroup {
        id: o.id,
        name: some_str(&o.name),
    }
}

type Nodes = (Vec<File>, Vec<Directory>, Vec<Link>);

/// Files, directories and links, which share one namespace of paths.
fn nodes(s: &old::Storage, mounts: &Mounts<'_>, r: &mut Report) -> Nodes {
    let mut files = Vec::new();
    for (i, f) in s.files.iter().enumerate() {
        let at = jpath!["storage", "files", i];
        let Some(path) = mounts.resolve(&f.filesystem, &f.path, &at, r) else {
            continue;
        };
        if f.append && f.overwrite == Some(true) {
            r.error(at.key("overwrite"), "cannot use append with overwrite");
            continue;
        }
        let contents = Resource {
            compression: some_str(&f.contents.compression),
            source: Some(f.contents.source.clone()),
            verification: Verification {
                hash: f.contents.verification.hash.clone(),
            },
            ..Resource::default()
        };
        // 2.x files replace what is there unless told not to; 3.x's do not.
        let (overwrite, contents, append) = match f.append {
            true => (Some(false), Resource::default(), vec![contents]),
            false => (Some(f.overwrite.unwrap_or(true)), contents, Vec::new()),
        };
        let file = File {
            group: group(&f.group),
            overwrite,
            path: path.clone(),
            user: user(&f.user),
            append,
            contents,
            mode: f.mode,
        };
        files.push((at, path, file));
    }
    let mut dirs = Vec::new();
    for (i, d) in s.directories.iter().enumerate() {
        let at = jpath!["storage", "directories", i];
        let Some(path) = mounts.resolve(&d.filesystem, &d.path, &at, r) else {
            continue;
        };
        let dir = Directory {
            group: group(&d.group),
            overwrite: d.overwrite,
            path: path.clone(),
            user: user(&d.user),
            mode: d.mode,
        };
        dirs.push((at, path, dir));
    }
    let mut links = Vec::new();
    for (i, l) in s.links.iter().enumerate() {
        let at = jpath!["storage", "links", i];
        let Some(path) = mounts.resolve(&l.filesystem, &l.path, &at, r) else {
            continue;
        };
        let link = Link {
            group: group(&l.group),
            overwrite: l.overwrite,
            path: path.clone(),
            user: user(&l.user),
            hard: some_true(l.hard),
            target: Some(l.target.clone()),
        };
        links.push((at, path, link));
    }
    let files = combine(files, "file", r, merge_file);
    let dirs = combine(dirs, "directory", r, no_merge);
    let links = combine(links, "link", r, no_merge);
    across_kinds(&files, &dirs, &links, r);
    (strip(files), strip(dirs), strip(links))
}

/// A later 2.x entry that appends to a file already in the config adds its
/// contents to the 3.x file's `append` list.
fn merge_file(a: &File, b: &File) -> Option<File> {
    if b.append.is_empty() {
        return None;
    }
    let mut m = a.clone();
    m.mode = either(&a.mode, &b.mode)?;
    m.user = either(&a.user, &b.user)?;
    m.group = either(&a.group, &b.group)?;
    m.append.extend(b.append.iter().cloned());
    Some(m)
}

/// A path may be a file, a directory or a link, not two of them.
fn across_kinds(
    files: &[(JsonPath, File)],
    dirs: &[(JsonPath, Directory)],
    links: &[(JsonPath, Link)],
    r: &mut Report,
) {
    let mut seen: HashMap<&str, &JsonPath> = HashMap::new();
    let all = files
        .iter()
        .map(|(at, f)| (at, f.path.as_str()))
        .chain(dirs.iter().map(|(at, d)| (at, d.path.as_str())))
        .chain(links.iter().map(|(at, l)| (at, l.path.as_str())));
    for (at, path) in all {
        if let Some(first) = seen.insert(path, at) {
            r.error(
                at.clone(),
                format!("path {path:?} is also used by the entry at {first}; cannot translate to spec 3"),
            );
        }
    }
}

fn disk(d: &old::Disk, version: SpecVersion, at: &JsonPath, r: &mut Report) -> Disk {
    let partitions = d.partitions.iter().enumerate().map(|(j, p)| {
        let at = at.key("partitions").index(j);
        partition(p, version, &at, r)
    });
    Disk {
        device: d.device.clone(),
        partitions: partitions.collect(),
        wipe_table: some_true(d.wipe_table),
    }
}

fn partition(p: &old::Partition, version: SpecVersion, at: &JsonPath, r: &mut Report) -> Partition {
    let sectors = p.start.is_some() || p.size.is_some();
    if sectors && (p.start_mib.is_some() || p.size_mib.is_some()) {
        r.error(
            at.clone(),
            "cannot use both sectors (start, size) and MiB (startMiB, sizeMiB)",
        );
    }
    // 2.2's label is a plain string: empty means none.
    let label = match version < SpecVersion::new(2, 3) {
        true => p.label.as_deref().and_then(some_str),
        false => p.label.clone(),
    };
    Partition {
        guid: some_str(&p.guid),
        label,
        number: p.number,
        resize: None,
        should_exist: p.should_exist,
        size_mib: p.size_mib.or(to_mib(p.size, "size", at, r)),
        start_mib: p.start_mib.or(to_mib(p.start, "start", at, r)),
        type_guid: some_str(&p.type_guid),
        wipe_partition_entry: some_true(p.wipe_partition_entry),
    }
}

/// Sectors to MiB, when the sectors make whole MiB (2.x sectors are 512 bytes).
fn to_mib(sectors: Option<i64>, field: &str, at: &JsonPath, r: &mut Report) -> Option<i64> {
    let s = sectors?;
    if s % SECTORS_PER_MIB != 0 {
        r.error(
            at.key(field),
            format!(
                "{field} {s} is not a multiple of 2048 sectors (1 MiB); cannot translate to spec 3"
            ),
        );
    }
    Some(s / SECTORS_PER_MIB)
}
