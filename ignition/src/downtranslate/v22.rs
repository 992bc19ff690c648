//! 3.x → 2.2.0, field by field as ign-converter's `v32tov22` does (the
//! translation OpenShift's MCO serves to 2.x clients), with these rules:
//!
//! - Everything spec 3.0 lacks is an error (it is checked with 3.0's fields
//!   and rules), and so are the 3.0 fields that 2.2 lacks:
//!   partition `shouldExist: false` and `wipePartitionEntry: true` (2.3).
//! - Files, directories and links name a filesystem: the filesystem whose
//!   `path` is the longest one containing the node (its path becomes relative
//!   to that mount point), otherwise `root`. Filesystems are named by their
//!   `path` (ign-converter's choice; the caller may choose names), and
//!   filesystems without a path `1`, `2`, … in order.
//! - Files: 2.x overwrites by default and 3.x does not, so `overwrite` is
//!   always written (unset → `false`). A file's `contents` is one entry
//!   (`append: false`); each `append` resource is a further entry for the same
//!   path with `append: true` and `overwrite: false`, in order.
//! - Partitions: `startMiB`/`sizeMiB` become `start`/`size` in 512-byte
//!   sectors (× 2048). ign-converter refuses MiB here; the conversion is exact.
//!
//! Reading the output back (with the names as mount paths,
//! [`crate::v2::translate_with_paths`]) gives the same model except for
//! defaults that 2.x writes differently: unset file `overwrite` comes back
//! `false`, a file without contents comes back with source `""`, false
//! booleans and empty strings come back unset, `spares: 0` unset.

use std::collections::HashMap;

use serde::Serialize;

use super::{check, DownError, Problem};
use crate::jpath;
use crate::model::{self, Config};
use crate::path::JsonPath;
use crate::version::SpecVersion;

const V22: SpecVersion = SpecVersion::new(2, 2);

/// Sectors (of 512 bytes) in a MiB.
const SECTORS_PER_MIB: i64 = 2048;

/// [`super::to_spec`] to 2.2.0, naming each filesystem that has a `path`
/// by `names[path]` (by the path itself when it is not in the map). Names
/// must be unique and not `root`, the name 2.x gives the root filesystem.
pub fn to_spec_2_2_with_fs_names(
    config: &Config,
    names: &HashMap<String, String>,
) -> Result<serde_json::Value, DownError> {
    let c = check::normalize(config, SpecVersion::new(3, 0), V22)?;
    let mut problems = Vec::new();
    let out = translate(&c, names, &mut problems);
    if !problems.is_empty() {
        return Err(DownError::NotExpressible(problems));
    }
    serde_json::to_value(&out).map_err(|e| {
        DownError::NotExpressible(vec![Problem {
            path: JsonPath::root(),
            target: V22,
            detail: format!("cannot serialize: {e}"),
        }])
    })
}

fn problem(problems: &mut Vec<Problem>, path: JsonPath, detail: impl Into<String>) {
    problems.push(Problem {
        path,
        target: V22,
        detail: detail.into(),
    });
}

fn translate(c: &Config, names: &HashMap<String, String>, p: &mut Vec<Problem>) -> Out {
    let fs = filesystems(&c.storage.filesystems, names, p);
    let named: Vec<(String, String)> = c
        .storage
        .filesystems
        .iter()
        .zip(&fs)
        .filter_map(|(f, o)| f.path.clone().map(|path| (path, o.name.clone())))
        .collect();
    let mounts: Vec<(&str, &str)> = named
        .iter()
        .map(|(m, n)| (m.as_str(), n.as_str()))
        .collect();
    let s = &c.storage;
    Out {
        ignition: ignition(&c.ignition),
        passwd: Passwd {
            users: c.passwd.users.iter().map(user).collect(),
            groups: c.passwd.groups.iter().map(group).collect(),
        },
        storage: Storage {
            disks: s
                .disks
                .iter()
                .enumerate()
                .map(|(i, d)| disk(d, &jpath!["storage", "disks", i], p))
                .collect(),
            raid: s.raid.iter().map(raid).collect(),
            filesystems: fs,
            files: s.files.iter().flat_map(|f| files(f, &mounts)).collect(),
            directories: s
                .directories
                .iter()
                .map(|d| Directory {
                    node: node(&d.path, &d.user, &d.group, d.overwrite, &mounts),
                    mode: d.mode,
                })
                .collect(),
            links: s
                .links
                .iter()
                .map(|l| Link {
                    node: node(&l.path, &l.user, &l.group, l.overwrite, &mounts),
                    hard: l.hard.unwrap_or(false),
                    target: l.target.clone().unwrap_or_default(),
                })
                .collect(),
        },
        systemd: Systemd {
            units: c.systemd.units.iter().map(unit).collect(),
        },
    }
}

fn reference(r: &model::Resource) -> Reference {
    Reference {
        source: r.source.clone().unwrap_or_default(),
        verification: Verification {
            hash: r.verification.hash.clone(),
        },
    }
}

fn ignition(i: &model::Ignition) -> Ignition {
    let replace = &i.config.replace;
    Ignition {
        version: V22.to_string(),
        config: IgnitionConfig {
            append: i.config.merge.iter().map(reference).collect(),
            replace: (!replace.is_empty()).then(|| reference(replace)),
        },
        security: Security {
            tls: Tls {
                certificate_authorities: i
                    .security
                    .tls
                    .certificate_authorities
                    .iter()
                    .map(reference)
                    .collect(),
            },
        },
        timeouts: Timeouts {
            http_response_headers: i.timeouts.http_response_headers,
            http_total: i.timeouts.http_total,
        },
    }
}

fn user(u: &model::PasswdUser) -> User {
    User {
        name: u.name.clone(),
        password_hash: u.password_hash.clone(),
        ssh_authorized_keys: u.ssh_authorized_keys.clone(),
        uid: u.uid,
        gecos: u.gecos.clone().unwrap_or_default(),
        home_dir: u.home_dir.clone().unwrap_or_default(),
        no_create_home: u.no_create_home.unwrap_or(false),
        primary_group: u.primary_group.clone().unwrap_or_default(),
        groups: u.groups.clone(),
        no_user_group: u.no_user_group.unwrap_or(false),
        no_log_init: u.no_log_init.unwrap_or(false),
        shell: u.shell.clone().unwrap_or_default(),
        system: u.system.unwrap_or(false),
    }
}

fn group(g: &model::PasswdGroup) -> Group {
    Group {
        name: g.name.clone(),
        gid: g.gid,
        password_hash: g.password_hash.clone().unwrap_or_default(),
        system: g.system.unwrap_or(false),
    }
}

fn unit(u: &model::Unit) -> Unit {
    Unit {
        name: u.name.clone(),
        enabled: u.enabled,
        mask: u.mask.unwrap_or(false),
        contents: u.contents.clone().unwrap_or_default(),
        dropins: u
            .dropins
            .iter()
            .map(|d| Dropin {
                name: d.name.clone(),
                contents: d.contents.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn disk(d: &model::Disk, at: &JsonPath, p: &mut Vec<Problem>) -> Disk {
    let partitions = d.partitions.iter().enumerate().map(|(j, part)| {
        let at = at.key("partitions").index(j);
        if part.should_exist == Some(false) {
            problem(p, at.key("shouldExist"), "shouldExist needs 2.3.0 or 3.0.0");
        }
        if part.wipe_partition_entry == Some(true) {
            let what = "wipePartitionEntry needs 2.3.0 or 3.0.0";
            problem(p, at.key("wipePartitionEntry"), what);
        }
        Partition {
            label: part.label.clone().unwrap_or_default(),
            number: part.number,
            size: sectors(part.size_mib, &at.key("sizeMiB"), p),
            start: sectors(part.start_mib, &at.key("startMiB"), p),
            type_guid: part.type_guid.clone().unwrap_or_default(),
            guid: part.guid.clone().unwrap_or_default(),
        }
    });
    Disk {
        device: d.device.clone(),
        wipe_table: d.wipe_table.unwrap_or(false),
        partitions: partitions.collect(),
    }
}

fn sectors(mib: Option<i64>, at: &JsonPath, p: &mut Vec<Problem>) -> Option<i64> {
    let mib = mib?;
    let s = mib.checked_mul(SECTORS_PER_MIB);
    if s.is_none() {
        problem(
            p,
            at.clone(),
            format!("{mib} MiB overflows 512-byte sectors"),
        );
    }
    s
}

fn raid(r: &model::Raid) -> Raid {
    Raid {
        name: r.name.clone(),
        level: r.level.clone().unwrap_or_default(),
        devices: r.devices.clone(),
        spares: r.spares.unwrap_or(0),
        options: r.options.clone(),
    }
}

fn filesystems(
    list: &[model::Filesystem],
    names: &HashMap<String, String>,
    p: &mut Vec<Problem>,
) -> Vec<Filesystem> {
    let mut out: Vec<Filesystem> = Vec::new();
    let mut unnamed = 0;
    for (i, f) in list.iter().enumerate() {
        let name = match &f.path {
            Some(path) => names.get(path).unwrap_or(path).clone(),
            None => {
                unnamed += 1;
                unnamed.to_string()
            }
        };
        let at = jpath!["storage", "filesystems", i, "path"];
        if name == "root" || name.is_empty() {
            problem(
                p,
                at.clone(),
                format!("filesystem name {name:?} is reserved or empty in 2.x"),
            );
        }
        if out.iter().any(|o| o.name == name) {
            problem(p, at, format!("2.x filesystem name {name:?} is used twice"));
        }
        out.push(Filesystem {
            name,
            mount: Mount {
                device: f.device.clone(),
                format: f.format.clone().unwrap_or_default(),
                wipe_filesystem: f.wipe_filesystem.unwrap_or(false),
                label: f.label.clone(),
                uuid: f.uuid.clone(),
                options: f.options.clone(),
            },
        });
    }
    out
}

/// The filesystem a node is on and its path there: the longest mount path
/// that contains it (component-wise), otherwise `root`.
fn locate(path: &str, mounts: &[(&str, &str)]) -> (String, String) {
    let mut best: Option<(&str, &str)> = None;
    for &(mount, name) in mounts {
        let m = mount.trim_end_matches('/');
        let inside = path == mount || m.is_empty() || path.starts_with(&format!("{m}/"));
        if inside && best.map_or(true, |(b, _)| b.len() < mount.len()) {
            best = Some((mount, name));
        }
    }
    match best {
        None => ("root".to_string(), path.to_string()),
        Some((mount, name)) => {
            let rest = path[mount.trim_end_matches('/').len()..].to_string();
            let rest = if rest.is_empty() {
                "/".to_string()
            } else {
                rest
            };
            (name.to_string(), rest)
        }
    }
}

fn node(
    path: &str,
    u: &model::NodeUser,
    g: &model::NodeGroup,
    overwrite: Option<bool>,
    mounts: &[(&str, &str)],
) -> Node {
    let (filesystem, path) = locate(path, mounts);
    Node {
        filesystem,
        path,
        user: (!u.is_empty()).then(|| Owner {
            id: u.id,
            name: u.name.clone().unwrap_or_default(),
        }),
        group: (!g.is_empty()).then(|| Owner {
            id: g.id,
            name: g.name.clone().unwrap_or_default(),
        }),
        overwrite,
    }
}

fn contents(r: &model::Resource) -> Contents {
    Contents {
        compression: r.compression.clone().unwrap_or_default(),
        source: r.source.clone().unwrap_or_default(),
        verification: Verification {
            hash: r.verification.hash.clone(),
        },
    }
}

/// One 2.x entry for the contents (or for a file without appends), then one
/// `append: true` entry per appended resource.
fn files(f: &model::File, mounts: &[(&str, &str)]) -> Vec<File> {
    let base = node(&f.path, &f.user, &f.group, None, mounts);
    let mut out = Vec::new();
    if !f.contents.is_empty() || f.append.is_empty() {
        out.push(File {
            node: Node {
                overwrite: Some(f.overwrite.unwrap_or(false)),
                ..base.clone()
            },
            append: false,
            contents: contents(&f.contents),
            mode: f.mode,
        });
    }
    for a in &f.append {
        out.push(File {
            node: Node {
                overwrite: Some(false),
                ..base.clone()
            },
            append: true,
            contents: contents(a),
            mode: f.mode,
        });
    }
    out
}

// The 2.2.0 types as written. Go leaves out nil pointers and empty lists,
// and writes zero values of plain fields; so do these (plain fields are
// left out when zero too, which Go reads the same).

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Out {
    ignition: Ignition,
    #[serde(skip_serializing_if = "is_default")]
    passwd: Passwd,
    #[serde(skip_serializing_if = "is_default")]
    storage: Storage,
    #[serde(skip_serializing_if = "is_default")]
    systemd: Systemd,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Ignition {
    #[serde(skip_serializing_if = "is_default")]
    config: IgnitionConfig,
    #[serde(skip_serializing_if = "is_default")]
    security: Security,
    #[serde(skip_serializing_if = "is_default")]
    timeouts: Timeouts,
    version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct IgnitionConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    append: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replace: Option<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    source: String,
    #[serde(skip_serializing_if = "is_default")]
    verification: Verification,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Security {
    #[serde(skip_serializing_if = "is_default")]
    tls: Tls,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Tls {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    certificate_authorities: Vec<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Timeouts {
    #[serde(skip_serializing_if = "Option::is_none")]
    http_response_headers: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_total: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Passwd {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<User>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<Group>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ssh_authorized_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<i64>,
    #[serde(skip_serializing_if = "is_default")]
    gecos: String,
    #[serde(skip_serializing_if = "is_default")]
    home_dir: String,
    #[serde(skip_serializing_if = "is_default")]
    no_create_home: bool,
    #[serde(skip_serializing_if = "is_default")]
    primary_group: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    no_user_group: bool,
    #[serde(skip_serializing_if = "is_default")]
    no_log_init: bool,
    #[serde(skip_serializing_if = "is_default")]
    shell: String,
    #[serde(skip_serializing_if = "is_default")]
    system: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<i64>,
    #[serde(skip_serializing_if = "is_default")]
    password_hash: String,
    #[serde(skip_serializing_if = "is_default")]
    system: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Storage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disks: Vec<Disk>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    raid: Vec<Raid>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    filesystems: Vec<Filesystem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    directories: Vec<Directory>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Disk {
    device: String,
    #[serde(skip_serializing_if = "is_default")]
    wipe_table: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    partitions: Vec<Partition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Partition {
    #[serde(skip_serializing_if = "is_default")]
    label: String,
    #[serde(skip_serializing_if = "is_default")]
    number: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    #[serde(skip_serializing_if = "is_default")]
    type_guid: String,
    #[serde(skip_serializing_if = "is_default")]
    guid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Raid {
    name: String,
    level: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    spares: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Filesystem {
    name: String,
    mount: Mount,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Mount {
    device: String,
    format: String,
    #[serde(skip_serializing_if = "is_default")]
    wipe_filesystem: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    filesystem: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Owner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<Owner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overwrite: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Owner {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "is_default")]
    name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(flatten)]
    node: Node,
    #[serde(skip_serializing_if = "is_default")]
    append: bool,
    #[serde(skip_serializing_if = "is_default")]
    contents: Contents,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Contents {
    #[serde(skip_serializing_if = "is_default")]
    compression: String,
    source: String,
    #[serde(skip_serializing_if = "is_default")]
    verification: Verification,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Directory {
    #[serde(flatten)]
    node: Node,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    #[serde(flatten)]
    node: Node,
    #[serde(skip_serializing_if = "is_default")]
    hard: bool,
    target: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Systemd {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    units: Vec<Unit>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Unit {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "is_default")]
    mask: bool,
    #[serde(skip_serializing_if = "is_default")]
    contents: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dropins: Vec<Dropin>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dropin {
    name: String,
    #[serde(skip_serializing_if = "is_default")]
    contents: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_land_on_the_longest_containing_mount() {
        let mounts = [
            ("/var", "/var"),
            ("/var/lib/data", "data"),
            ("/srv/", "srv"),
        ];
        let at = |p| locate(p, &mounts);
        assert_eq!(at("/etc/a"), ("root".into(), "/etc/a".into()));
        assert_eq!(at("/var/log/x"), ("/var".into(), "/log/x".into()));
        assert_eq!(at("/variable"), ("root".into(), "/variable".into()));
        assert_eq!(at("/var/lib/data/f"), ("data".into(), "/f".into()));
        assert_eq!(at("/var"), ("/var".into(), "/".into()));
        assert_eq!(at("/srv/x"), ("srv".into(), "/x".into()));
        assert_eq!(locate("/a", &[("/", "r")]), ("r".into(), "/a".into()));
    }
}
