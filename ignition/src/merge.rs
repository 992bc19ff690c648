//! Merging configs (child over parent), with Go Ignition's rules
//! (`config/merge`):
//!
//! - Structs merge field by field. A child's `Some` replaces the parent's
//!   value, `None` keeps it; a non-empty plain string (`ignition.version`)
//!   replaces the parent's. Resources (`contents`, `replace`, `keyFile`...)
//!   are structs and merge field by field too.
//! - Keyed lists merge entry by entry: a parent entry whose key the child
//!   also has (in the same list) is merged with the child's entry and keeps
//!   the parent's position; the other parent entries stay; child entries
//!   whose key the parent's list lacks are appended in the child's order.
//! - Lists sharing a key namespace (`storage.files`/`directories`/`links` by
//!   path, `kernelArguments.shouldExist`/`shouldNotExist` by argument): a
//!   child entry in one list removes the parent's entry with the same key
//!   from the others.
//! - Plain string lists are keyed by the string itself (so a value both
//!   configs list appears once, at the parent's position), except the ones Go
//!   marks "ignore duplicates", which are concatenated: `files[].append`,
//!   `filesystems[].options`, `filesystems[].mountOptions`, `raid[].options`,
//!   `luks[].options`.
//! - An HTTP header in the child with no `value` removes the parent's header
//!   of that name.
//!
//! `ignition.config.merge` is a list of resources keyed by `source`, and
//! `ignition.config.replace` a resource: they merge like any other field, as
//! in Go; rendering them (fetching and merging what they point to) is
//! [`crate::fetch::resolve`]'s job.

use std::collections::{HashMap, HashSet};

use crate::model::*;
use crate::report::Report;
use crate::validate;
use crate::version::SpecVersion;

/// Merges `child` over `parent`. Merging two valid configs may give an
/// invalid one; [`merge_and_validate`] checks the result.
pub fn merge(parent: &Config, child: &Config) -> Config {
    Config {
        ignition: ignition(&parent.ignition, &child.ignition),
        kernel_arguments: kernel_arguments(&parent.kernel_arguments, &child.kernel_arguments),
        passwd: Passwd {
            groups: keyed(
                &parent.passwd.groups,
                &child.passwd.groups,
                |g| g.name.clone(),
                |p, c| Some(group(p, c)),
            ),
            users: keyed(
                &parent.passwd.users,
                &child.passwd.users,
                |u| u.name.clone(),
                |p, c| Some(user(p, c)),
            ),
        },
        storage: storage(&parent.storage, &child.storage),
        systemd: Systemd {
            units: keyed(
                &parent.systemd.units,
                &child.systemd.units,
                |u| u.name.clone(),
                |p, c| Some(unit(p, c)),
            ),
        },
    }
}

/// Merges, then checks the result with the latest spec's rules; the error is
/// the findings when the result has errors.
pub fn merge_and_validate(parent: &Config, child: &Config) -> Result<Config, Report> {
    let merged = merge(parent, child);
    let report = validate::validate(&merged, SpecVersion::LATEST);
    if report.has_errors() {
        Err(report)
    } else {
        Ok(merged)
    }
}

/// Child's value when set, else the parent's.
fn opt<T: Clone>(parent: &Option<T>, child: &Option<T>) -> Option<T> {
    child.clone().or_else(|| parent.clone())
}

/// Child's string when not empty, else the parent's.
fn string(parent: &str, child: &str) -> String {
    if child.is_empty() { parent } else { child }.to_string()
}

/// Concatenation: lists Go merges with "ignore duplicates".
fn append<T: Clone>(parent: &[T], child: &[T]) -> Vec<T> {
    parent.iter().chain(child).cloned().collect()
}

/// A list of plain strings keyed by value.
fn strings(parent: &[String], child: &[String]) -> Vec<String> {
    keyed(parent, child, String::clone, |_, c| Some(c.clone()))
}

/// One keyed list that shares its keys with no other list.
fn keyed<T: Clone>(
    parent: &[T],
    child: &[T],
    key: impl Fn(&T) -> String,
    merge_entry: impl Fn(&T, &T) -> Option<T>,
) -> Vec<T> {
    let owners = KeyOwners::new([child.iter().map(&key).collect()]);
    owners.merge(0, parent, child, key, merge_entry)
}

/// For lists that share one key namespace: which of the child's lists (and
/// where in it) holds each key. A later entry wins when a key repeats, as
/// Go's map does.
struct KeyOwners(HashMap<String, (usize, usize)>);

impl KeyOwners {
    fn new<const N: usize>(child_keys: [Vec<String>; N]) -> Self {
        let mut map = HashMap::new();
        for (list, keys) in child_keys.into_iter().enumerate() {
            for (i, k) in keys.into_iter().enumerate() {
                map.insert(k, (list, i));
            }
        }
        KeyOwners(map)
    }

    /// Merges the parent's and child's versions of list number `list`.
    /// `merge_entry` returns `None` to drop the entry (a header without value).
    fn merge<T: Clone>(
        &self,
        list: usize,
        parent: &[T],
        child: &[T],
        key: impl Fn(&T) -> String,
        merge_entry: impl Fn(&T, &T) -> Option<T>,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(parent.len() + child.len());
        for p in parent {
            match self.0.get(&key(p)) {
                // The child has it in this list: merge, at the parent's place.
                Some(&(l, i)) if l == list => out.extend(merge_entry(p, &child[i])),
                // The child has it in another list: that list takes it.
                Some(_) => {}
                None => out.push(p.clone()),
            }
        }
        let parent_keys: HashSet<String> = parent.iter().map(&key).collect();
        out.extend(
            child
                .iter()
                .filter(|c| !parent_keys.contains(&key(c)))
                .cloned(),
        );
        out
    }
}

fn ignition(p: &Ignition, c: &Ignition) -> Ignition {
    Ignition {
        config: IgnitionConfig {
            merge: resources(&p.config.merge, &c.config.merge),
            replace: resource(&p.config.replace, &c.config.replace),
        },
        proxy: Proxy {
            http_proxy: opt(&p.proxy.http_proxy, &c.proxy.http_proxy),
            https_proxy: opt(&p.proxy.https_proxy, &c.proxy.https_proxy),
            no_proxy: strings(&p.proxy.no_proxy, &c.proxy.no_proxy),
        },
        security: Security {
            tls: Tls {
                certificate_authorities: resources(
                    &p.security.tls.certificate_authorities,
                    &c.security.tls.certificate_authorities,
                ),
            },
        },
        timeouts: Timeouts {
            http_response_headers: opt(
                &p.timeouts.http_response_headers,
                &c.timeouts.http_response_headers,
            ),
            http_total: opt(&p.timeouts.http_total, &c.timeouts.http_total),
        },
        version: string(&p.version, &c.version),
    }
}

/// Resources keyed by source (config references, CAs).
fn resources(p: &[Resource], c: &[Resource]) -> Vec<Resource> {
    keyed(
        p,
        c,
        |r| r.source.clone().unwrap_or_default(),
        |p, c| Some(resource(p, c)),
    )
}

fn resource(p: &Resource, c: &Resource) -> Resource {
    Resource {
        compression: opt(&p.compression, &c.compression),
        http_headers: keyed(
            &p.http_headers,
            &c.http_headers,
            |h| h.name.clone(),
            |p, c| {
                // A header without a value in the child removes the parent's.
                c.value.as_ref().map(|_| HttpHeader {
                    name: string(&p.name, &c.name),
                    value: opt(&p.value, &c.value),
                })
            },
        ),
        source: opt(&p.source, &c.source),
        verification: Verification {
            hash: opt(&p.verification.hash, &c.verification.hash),
        },
    }
}

fn kernel_arguments(p: &KernelArguments, c: &KernelArguments) -> KernelArguments {
    let owners = KeyOwners::new([c.should_exist.clone(), c.should_not_exist.clone()]);
    let same = |_: &String, c: &String| Some(c.clone());
    KernelArguments {
        should_exist: owners.merge(0, &p.should_exist, &c.should_exist, String::clone, same),
        should_not_exist: owners.merge(
            1,
            &p.should_not_exist,
            &c.should_not_exist,
            String::clone,
            same,
        ),
    }
}

fn group(p: &PasswdGroup, c: &PasswdGroup) -> PasswdGroup {
    PasswdGroup {
        gid: opt(&p.gid, &c.gid),
        name: string(&p.name, &c.name),
        password_hash: opt(&p.password_hash, &c.password_hash),
        should_exist: opt(&p.should_exist, &c.should_exist),
        system: opt(&p.system, &c.system),
    }
}

fn user(p: &PasswdUser, c: &PasswdUser) -> PasswdUser {
    PasswdUser {
        gecos: opt(&p.gecos, &c.gecos),
        groups: strings(&p.groups, &c.groups),
        home_dir: opt(&p.home_dir, &c.home_dir),
        name: string(&p.name, &c.name),
        no_create_home: opt(&p.no_create_home, &c.no_create_home),
        no_log_init: opt(&p.no_log_init, &c.no_log_init),
        no_user_group: opt(&p.no_user_group, &c.no_user_group),
        password_hash: opt(&p.password_hash, &c.password_hash),
        primary_group: opt(&p.primary_group, &c.primary_group),
        ssh_authorized_keys: strings(&p.ssh_authorized_keys, &c.ssh_authorized_keys),
        shell: opt(&p.shell, &c.shell),
        should_exist: opt(&p.should_exist, &c.should_exist),
        system: opt(&p.system, &c.system),
        uid: opt(&p.uid, &c.uid),
    }
}

fn storage(p: &Storage, c: &Storage) -> Storage {
    // Directories, files and links share the path namespace.
    let nodes = KeyOwners::new([
        c.directories.iter().map(|d| d.path.clone()).collect(),
        c.files.iter().map(|f| f.path.clone()).collect(),
        c.links.iter().map(|l| l.path.clone()).collect(),
    ]);
    Storage {
        directories: nodes.merge(
            0,
            &p.directories,
            &c.directories,
            |d| d.path.clone(),
            |p, c| Some(directory(p, c)),
        ),
        disks: keyed(
            &p.disks,
            &c.disks,
            |d| d.device.clone(),
            |p, c| Some(disk(p, c)),
        ),
        files: nodes.merge(
            1,
            &p.files,
            &c.files,
            |f| f.path.clone(),
            |p, c| Some(file(p, c)),
        ),
        filesystems: keyed(
            &p.filesystems,
            &c.filesystems,
            |f| f.device.clone(),
            |p, c| Some(filesystem(p, c)),
        ),
        links: nodes.merge(
            2,
            &p.links,
            &c.links,
            |l| l.path.clone(),
            |p, c| Some(link(p, c)),
        ),
        luks: keyed(
            &p.luks,
            &c.luks,
            |l| l.name.clone(),
            |p, c| Some(luks(p, c)),
        ),
        raid: keyed(
            &p.raid,
            &c.raid,
            |r| r.name.clone(),
            |p, c| Some(raid(p, c)),
        ),
    }
}

fn node_user(p: &NodeUser, c: &NodeUser) -> NodeUser {
    NodeUser {
        id: opt(&p.id, &c.id),
        name: opt(&p.name, &c.name),
    }
}

fn node_group(p: &NodeGroup, c: &NodeGroup) -> NodeGroup {
    NodeGroup {
        id: opt(&p.id, &c.id),
        name: opt(&p.name, &c.name),
    }
}

fn file(p: &File, c: &File) -> File {
    File {
        group: node_group(&p.group, &c.group),
        overwrite: opt(&p.overwrite, &c.overwrite),
        path: string(&p.path, &c.path),
        user: node_user(&p.user, &c.user),
        append: append(&p.append, &c.append),
        contents: resource(&p.contents, &c.contents),
        mode: opt(&p.mode, &c.mode),
    }
}

fn directory(p: &Directory, c: &Directory) -> Directory {
    Directory {
        group: node_group(&p.group, &c.group),
        overwrite: opt(&p.overwrite, &c.overwrite),
        path: string(&p.path, &c.path),
        user: node_user(&p.user, &c.user),
        mode: opt(&p.mode, &c.mode),
    }
}

fn link(p: &Link, c: &Link) -> Link {
    Link {
        group: node_group(&p.group, &c.group),
        overwrite: opt(&p.overwrite, &c.overwrite),
        path: string(&p.path, &c.path),
        user: node_user(&p.user, &c.user),
        hard: opt(&p.hard, &c.hard),
        target: opt(&p.target, &c.target),
    }
}

/// Go's `Partition.Key`: the number when not 0, else the label.
fn partition_key(p: &Partition) -> String {
    match (p.number, &p.label) {
        (0, Some(label)) => format!("label:{label}"),
        (0, None) => String::new(),
        (n, _) => format!("number:{n}"),
    }
}

fn disk(p: &Disk, c: &Disk) -> Disk {
    Disk {
        device: string(&p.device, &c.device),
        partitions: keyed(&p.partitions, &c.partitions, partition_key, |p, c| {
            Some(partition(p, c))
        }),
        wipe_table: opt(&p.wipe_table, &c.wipe_table),
    }
}

fn partition(p: &Partition, c: &Partition) -> Partition {
    Partition {
        guid: opt(&p.guid, &c.guid),
        label: opt(&p.label, &c.label),
        // Entries merge only when their keys match, so the numbers are equal.
        number: c.number,
        resize: opt(&p.resize, &c.resize),
        should_exist: opt(&p.should_exist, &c.should_exist),
        size_mib: opt(&p.size_mib, &c.size_mib),
        start_mib: opt(&p.start_mib, &c.start_mib),
        type_guid: opt(&p.type_guid, &c.type_guid),
        wipe_partition_entry: opt(&p.wipe_partition_entry, &c.wipe_partition_entry),
    }
}

fn filesystem(p: &Filesystem, c: &Filesystem) -> Filesystem {
    Filesystem {
        device: string(&p.device, &c.device),
        format: opt(&p.format, &c.format),
        label: opt(&p.label, &c.label),
        mount_options: append(&p.mount_options, &c.mount_options),
        options: append(&p.options, &c.options),
        path: opt(&p.path, &c.path),
        uuid: opt(&p.uuid, &c.uuid),
        wipe_filesystem: opt(&p.wipe_filesystem, &c.wipe_filesystem),
    }
}

fn raid(p: &Raid, c: &Raid) -> Raid {
    Raid {
        devices: strings(&p.devices, &c.devices),
        level: opt(&p.level, &c.level),
        name: string(&p.name, &c.name),
        options: append(&p.options, &c.options),
        spares: opt(&p.spares, &c.spares),
    }
}

fn luks(p: &Luks, c: &Luks) -> Luks {
    Luks {
        cex: Cex {
            enabled: opt(&p.cex.enabled, &c.cex.enabled),
        },
        clevis: Clevis {
            custom: ClevisCustom {
                config: opt(&p.clevis.custom.config, &c.clevis.custom.config),
                needs_network: opt(
                    &p.clevis.custom.needs_network,
                    &c.clevis.custom.needs_network,
                ),
                pin: opt(&p.clevis.custom.pin, &c.clevis.custom.pin),
            },
            tang: keyed(
                &p.clevis.tang,
                &c.clevis.tang,
                |t| t.url.clone(),
                |p, c| {
                    Some(Tang {
                        advertisement: opt(&p.advertisement, &c.advertisement),
                        thumbprint: opt(&p.thumbprint, &c.thumbprint),
                        url: string(&p.url, &c.url),
                    })
                },
            ),
            threshold: opt(&p.clevis.threshold, &c.clevis.threshold),
            tpm2: opt(&p.clevis.tpm2, &c.clevis.tpm2),
        },
        device: opt(&p.device, &c.device),
        discard: opt(&p.discard, &c.discard),
        key_file: resource(&p.key_file, &c.key_file),
        label: opt(&p.label, &c.label),
        name: string(&p.name, &c.name),
        open_options: strings(&p.open_options, &c.open_options),
        options: append(&p.options, &c.options),
        uuid: opt(&p.uuid, &c.uuid),
        wipe_volume: opt(&p.wipe_volume, &c.wipe_volume),
    }
}

fn unit(p: &Unit, c: &Unit) -> Unit {
    Unit {
        contents: opt(&p.contents, &c.contents),
        dropins: keyed(
            &p.dropins,
            &c.dropins,
            |d| d.name.clone(),
            |p, c| {
                Some(Dropin {
                    contents: opt(&p.contents, &c.contents),
                    name: string(&p.name, &c.name),
                })
            },
        ),
        enabled: opt(&p.enabled, &c.enabled),
        mask: opt(&p.mask, &c.mask),
        name: string(&p.name, &c.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn cfg(v: Value) -> Config {
        serde_json::from_value(v).expect("test config")
    }

    /// (rule, parent, child, expected result)
    fn check(cases: &[(&str, Value, Value, Value)]) {
        for (rule, parent, child, want) in cases {
            let got = merge(&cfg(parent.clone()), &cfg(child.clone()));
            assert_eq!(
                serde_json::to_value(&got).unwrap(),
                serde_json::to_value(cfg(want.clone())).unwrap(),
                "rule: {rule}"
            );
        }
    }

    #[test]
    fn scalars_and_structs() {
        check(&[
            (
                "empty configs merge to empty",
                json!({}),
                json!({}),
                json!({}),
            ),
            (
                "child's non-empty version wins",
                json!({"ignition": {"version": "3.0.0"}}),
                json!({"ignition": {"version": "3.6.0"}}),
                json!({"ignition": {"version": "3.6.0"}}),
            ),
            (
                "an empty version keeps the parent's",
                json!({"ignition": {"version": "3.6.0"}}),
                json!({}),
                json!({"ignition": {"version": "3.6.0"}}),
            ),
            (
                "set options override, unset ones keep the parent's",
                json!({"ignition": {"timeouts": {"httpTotal": 5, "httpResponseHeaders": 7},
                                    "proxy": {"httpProxy": "http://a", "httpsProxy": "http://b"}}}),
                json!({"ignition": {"timeouts": {"httpTotal": 9}, "proxy": {"httpsProxy": "http://c"}}}),
                json!({"ignition": {"timeouts": {"httpTotal": 9, "httpResponseHeaders": 7},
                                    "proxy": {"httpProxy": "http://a", "httpsProxy": "http://c"}}}),
            ),
            (
                "noProxy is keyed by value",
                json!({"ignition": {"proxy": {"noProxy": ["a", "b"]}}}),
                json!({"ignition": {"proxy": {"noProxy": ["c", "a"]}}}),
                json!({"ignition": {"proxy": {"noProxy": ["a", "b", "c"]}}}),
            ),
            (
                "resources merge field by field (file contents)",
                json!({"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "compression": "gzip"}}]}}),
                json!({"storage": {"files": [{"path": "/a", "contents": {"verification": {"hash": "sha512-00"}}}]}}),
                json!({"storage": {"files": [{"path": "/a", "contents": {"source": "data:,x", "compression": "gzip",
                                               "verification": {"hash": "sha512-00"}}}]}}),
            ),
        ]);
    }

    #[test]
    fn config_references_and_cas() {
        check(&[
            (
                "config.merge is keyed by source",
                json!({"ignition": {"config": {"merge": [{"source": "http://a"}, {"source": "http://b"}]}}}),
                json!({"ignition": {"config": {"merge": [
                    {"source": "http://c"},
                    {"source": "http://b", "verification": {"hash": "sha512-00"}}]}}}),
                json!({"ignition": {"config": {"merge": [
                    {"source": "http://a"},
                    {"source": "http://b", "verification": {"hash": "sha512-00"}},
                    {"source": "http://c"}]}}}),
            ),
            (
                "config.replace merges as a resource",
                json!({"ignition": {"config": {"replace": {"source": "http://a", "compression": "gzip"}}}}),
                json!({"ignition": {"config": {"replace": {"source": "http://b"}}}}),
                json!({"ignition": {"config": {"replace": {"source": "http://b", "compression": "gzip"}}}}),
            ),
            (
                "CAs are keyed by source",
                json!({"ignition": {"security": {"tls": {"certificateAuthorities": [{"source": "http://a"}]}}}}),
                json!({"ignition": {"security": {"tls": {"certificateAuthorities": [{"source": "http://b"}, {"source": "http://a"}]}}}}),
                json!({"ignition": {"security": {"tls": {"certificateAuthorities": [{"source": "http://a"}, {"source": "http://b"}]}}}}),
            ),
            (
                "headers by name; a child header without value removes the parent's",
                json!({"ignition": {"config": {"merge": [{"source": "http://a", "httpHeaders": [
                    {"name": "old", "value": "1"}, {"name": "same", "value": "1"}, {"name": "gone", "value": "1"}]}]}}}),
                json!({"ignition": {"config": {"merge": [{"source": "http://a", "httpHeaders": [
                    {"name": "gone"}, {"name": "new", "value": "2"}, {"name": "same", "value": "2"}]}]}}}),
                json!({"ignition": {"config": {"merge": [{"source": "http://a", "httpHeaders": [
                    {"name": "old", "value": "1"}, {"name": "same", "value": "2"}, {"name": "new", "value": "2"}]}]}}}),
            ),
        ]);
    }

    #[test]
    fn kernel_arguments_share_a_namespace() {
        check(&[
            (
                "child shouldNotExist removes parent shouldExist",
                json!({"kernelArguments": {"shouldExist": ["foo", "bar baz", "test"], "shouldNotExist": ["brown fox"]}}),
                json!({"kernelArguments": {"shouldNotExist": ["test"]}}),
                json!({"kernelArguments": {"shouldExist": ["foo", "bar baz"], "shouldNotExist": ["brown fox", "test"]}}),
            ),
            (
                "child shouldExist removes parent shouldNotExist",
                json!({"kernelArguments": {"shouldNotExist": ["quiet", "x"]}}),
                json!({"kernelArguments": {"shouldExist": ["quiet", "x"]}}),
                json!({"kernelArguments": {"shouldExist": ["quiet", "x"]}}),
            ),
            (
                "the same argument in the same list appears once",
                json!({"kernelArguments": {"shouldExist": ["a", "b"]}}),
                json!({"kernelArguments": {"shouldExist": ["b", "c"]}}),
                json!({"kernelArguments": {"shouldExist": ["a", "b", "c"]}}),
            ),
        ]);
    }

    #[test]
    fn files_directories_and_links() {
        check(&[
            (
                "files by path: merged in place, new ones appended",
                json!({"storage": {"files": [{"path": "/a", "mode": 420}, {"path": "/b"}]}}),
                json!({"storage": {"files": [{"path": "/c"}, {"path": "/a", "overwrite": true}]}}),
                json!({"storage": {"files": [{"path": "/a", "mode": 420, "overwrite": true}, {"path": "/b"}, {"path": "/c"}]}}),
            ),
            (
                "a child link replaces the parent's file at its path",
                json!({"storage": {"files": [{"path": "/a", "mode": 420}, {"path": "/keep"}]}}),
                json!({"storage": {"links": [{"path": "/a", "target": "/t"}]}}),
                json!({"storage": {"files": [{"path": "/keep"}], "links": [{"path": "/a", "target": "/t"}]}}),
            ),
            (
                "a child file replaces the parent's directory, a child directory the parent's link",
                json!({"storage": {"directories": [{"path": "/d", "mode": 493}], "links": [{"path": "/l", "target": "/t"}]}}),
                json!({"storage": {"files": [{"path": "/d"}], "directories": [{"path": "/l"}]}}),
                json!({"storage": {"files": [{"path": "/d"}], "directories": [{"path": "/l"}]}}),
            ),
            (
                "node owners merge field by field",
                json!({"storage": {"directories": [{"path": "/d", "user": {"id": 1}, "group": {"name": "g"}}]}}),
                json!({"storage": {"directories": [{"path": "/d", "user": {"name": "u"}}]}}),
                json!({"storage": {"directories": [{"path": "/d", "user": {"id": 1, "name": "u"}, "group": {"name": "g"}}]}}),
            ),
            (
                "file append lists concatenate, duplicates included",
                json!({"storage": {"files": [{"path": "/a", "append": [{"source": "data:,1"}]}]}}),
                json!({"storage": {"files": [{"path": "/a", "append": [{"source": "data:,1"}, {"source": "data:,2"}]}]}}),
                json!({"storage": {"files": [{"path": "/a", "append": [
                    {"source": "data:,1"}, {"source": "data:,1"}, {"source": "data:,2"}]}]}}),
            ),
        ]);
    }

    #[test]
    fn disks_filesystems_raid_luks() {
        check(&[
            (
                "disks by device, partitions by number",
                json!({"storage": {"disks": [
                    {"device": "/dev/foo", "wipeTable": true, "partitions": [{"number": 1, "label": "label", "startMiB": 4}]},
                    {"device": "/dev/bar", "wipeTable": true}]}}),
                json!({"storage": {"disks": [
                    {"device": "/dev/foo", "wipeTable": false, "partitions": [
                        {"number": 1, "label": "changed"}, {"number": 2, "label": "two"}]},
                    {"device": "/dev/bar"},
                    {"device": "/dev/baz", "wipeTable": true}]}}),
                json!({"storage": {"disks": [
                    {"device": "/dev/foo", "wipeTable": false, "partitions": [
                        {"number": 1, "label": "changed", "startMiB": 4}, {"number": 2, "label": "two"}]},
                    {"device": "/dev/bar", "wipeTable": true},
                    {"device": "/dev/baz", "wipeTable": true}]}}),
            ),
            (
                "partitions without number by label; a numbered one is another key",
                json!({"storage": {"disks": [{"device": "/dev/d", "partitions": [
                    {"label": "root", "sizeMiB": 10}, {"label": "var"}]}]}}),
                json!({"storage": {"disks": [{"device": "/dev/d", "partitions": [
                    {"label": "root", "resize": true}, {"number": 3, "label": "var"}]}]}}),
                json!({"storage": {"disks": [{"device": "/dev/d", "partitions": [
                    {"label": "root", "sizeMiB": 10, "resize": true}, {"label": "var"}, {"number": 3, "label": "var"}]}]}}),
            ),
            (
                "filesystems by device; options and mountOptions concatenate",
                json!({"storage": {"filesystems": [{"device": "/dev/a", "format": "ext4", "options": ["-F"], "mountOptions": ["ro"]}]}}),
                json!({"storage": {"filesystems": [{"device": "/dev/a", "format": "xfs", "options": ["-F"], "mountOptions": ["noatime"]},
                                                   {"device": "/dev/b"}]}}),
                json!({"storage": {"filesystems": [
                    {"device": "/dev/a", "format": "xfs", "options": ["-F", "-F"], "mountOptions": ["ro", "noatime"]},
                    {"device": "/dev/b"}]}}),
            ),
            (
                "raid by name; devices keyed by value, options concatenate",
                json!({"storage": {"raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/a", "/dev/b"], "options": ["x"]}]}}),
                json!({"storage": {"raid": [{"name": "md0", "spares": 1, "devices": ["/dev/b", "/dev/c"], "options": ["x"]}]}}),
                json!({"storage": {"raid": [{"name": "md0", "level": "raid1", "spares": 1,
                    "devices": ["/dev/a", "/dev/b", "/dev/c"], "options": ["x", "x"]}]}}),
            ),
            (
                "luks by name; tang by url; options concatenate, openOptions keyed",
                json!({"storage": {"luks": [{"name": "root", "device": "/dev/a", "options": ["--a"], "openOptions": ["--o"],
                    "keyFile": {"source": "data:,k"},
                    "clevis": {"tpm2": true, "tang": [{"url": "http://t1", "thumbprint": "x"}]}}]}}),
                json!({"storage": {"luks": [{"name": "root", "options": ["--a"], "openOptions": ["--o", "--p"],
                    "keyFile": {"compression": "gzip"},
                    "clevis": {"threshold": 2, "tang": [{"url": "http://t2"}, {"url": "http://t1", "advertisement": "{}"}]}},
                    {"name": "data", "device": "/dev/b"}]}}),
                json!({"storage": {"luks": [{"name": "root", "device": "/dev/a", "options": ["--a", "--a"], "openOptions": ["--o", "--p"],
                    "keyFile": {"source": "data:,k", "compression": "gzip"},
                    "clevis": {"tpm2": true, "threshold": 2, "tang": [
                        {"url": "http://t1", "thumbprint": "x", "advertisement": "{}"}, {"url": "http://t2"}]}},
                    {"name": "data", "device": "/dev/b"}]}}),
            ),
        ]);
    }

    #[test]
    fn passwd_and_systemd() {
        check(&[
            (
                "users by name; sshAuthorizedKeys and groups keyed by value",
                json!({"passwd": {"users": [{"name": "core", "uid": 1000, "sshAuthorizedKeys": ["one", "two"], "groups": ["wheel"]}]}}),
                json!({"passwd": {"users": [{"name": "core", "shell": "/bin/sh", "sshAuthorizedKeys": ["three", "two"], "groups": ["adm", "wheel"]},
                                            {"name": "new"}]}}),
                json!({"passwd": {"users": [
                    {"name": "core", "uid": 1000, "shell": "/bin/sh", "sshAuthorizedKeys": ["one", "two", "three"], "groups": ["wheel", "adm"]},
                    {"name": "new"}]}}),
            ),
            (
                "groups by name",
                json!({"passwd": {"groups": [{"name": "g", "gid": 5}, {"name": "h"}]}}),
                json!({"passwd": {"groups": [{"name": "g", "system": true}]}}),
                json!({"passwd": {"groups": [{"name": "g", "gid": 5, "system": true}, {"name": "h"}]}}),
            ),
            (
                "units by name, dropins by name",
                json!({"systemd": {"units": [{"name": "a.service", "enabled": true, "contents": "[Unit]",
                    "dropins": [{"name": "10.conf", "contents": "x"}, {"name": "20.conf", "contents": "y"}]}]}}),
                json!({"systemd": {"units": [{"name": "a.service", "mask": true,
                    "dropins": [{"name": "30.conf", "contents": "z"}, {"name": "10.conf", "contents": "w"}]},
                    {"name": "b.service"}]}}),
                json!({"systemd": {"units": [{"name": "a.service", "enabled": true, "mask": true, "contents": "[Unit]",
                    "dropins": [{"name": "10.conf", "contents": "w"}, {"name": "20.conf", "contents": "y"}, {"name": "30.conf", "contents": "z"}]},
                    {"name": "b.service"}]}}),
            ),
        ]);
    }

    #[test]
    fn merge_and_validate_reports_conflicts_of_the_result() {
        let parent = cfg(json!({"ignition": {"version": "3.6.0"},
            "systemd": {"units": [{"name": "a.service", "contents": "[Unit]"}]}}));
        let child = cfg(json!({"ignition": {"version": "3.6.0"},
            "storage": {"files": [{"path": "/etc/systemd/system/a.service"}]}}));
        assert!(validate::validate(&parent, SpecVersion::LATEST)
            .findings
            .is_empty());
        assert!(validate::validate(&child, SpecVersion::LATEST)
            .findings
            .is_empty());
        let report = merge_and_validate(&parent, &child).unwrap_err();
        let first = report.errors().next().unwrap();
        assert_eq!(first.path.to_string(), "$.storage.files.0.path");

        let ok = cfg(
            json!({"ignition": {"version": "3.6.0"}, "storage": {"files": [{"path": "/etc/b"}]}}),
        );
        let merged = merge_and_validate(&parent, &ok).unwrap();
        assert_eq!(merged.storage.files.len(), 1);
        assert_eq!(merged.systemd.units.len(), 1);
    }
}
