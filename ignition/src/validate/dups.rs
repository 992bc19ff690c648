//! Duplicate entries: every list of keyed entries (and of plain strings) may
//! hold each key once. Some lists share one namespace: files, directories and
//! links by path; `shouldExist` and `shouldNotExist` kernel arguments.

use std::collections::HashSet;

use crate::jpath;
use crate::model::{Config, Partition, Resource};
use crate::path::JsonPath;
use crate::report::Report;

const DUPLICATE: &str = "duplicate entry defined";

/// One namespace of keys, filled list by list.
struct Namespace<'a> {
    seen: HashSet<&'a str>,
}

impl<'a> Namespace<'a> {
    fn new() -> Self {
        Namespace {
            seen: HashSet::new(),
        }
    }

    fn list(&mut self, r: &mut Report, at: JsonPath, keys: impl IntoIterator<Item = &'a str>) {
        for (i, key) in keys.into_iter().enumerate() {
            if !self.seen.insert(key) {
                r.error(at.index(i), DUPLICATE);
            }
        }
    }
}

/// A list with a namespace of its own.
fn unique<'a>(r: &mut Report, at: JsonPath, keys: impl IntoIterator<Item = &'a str>) {
    Namespace::new().list(r, at, keys);
}

fn source(res: &Resource) -> &str {
    res.source.as_deref().unwrap_or("")
}

fn partition_key(p: &Partition) -> String {
    match (&p.label, p.number) {
        (_, n) if n != 0 => format!("number:{n}"),
        (Some(l), _) => format!("label:{l}"),
        (None, _) => String::new(),
    }
}

pub fn validate(c: &Config, r: &mut Report) {
    let ign = &c.ignition;
    unique(
        r,
        jpath!["ignition", "config", "merge"],
        ign.config.merge.iter().map(source),
    );
    let cas = &ign.security.tls.certificate_authorities;
    unique(
        r,
        jpath!["ignition", "security", "tls", "certificateAuthorities"],
        cas.iter().map(source),
    );
    unique(
        r,
        jpath!["ignition", "proxy", "noProxy"],
        ign.proxy.no_proxy.iter().map(String::as_str),
    );
    headers(
        r,
        &ign.config.replace,
        jpath!["ignition", "config", "replace"],
    );
    for (i, res) in ign.config.merge.iter().enumerate() {
        headers(r, res, jpath!["ignition", "config", "merge", i]);
    }
    for (i, res) in cas.iter().enumerate() {
        headers(
            r,
            res,
            jpath!["ignition", "security", "tls", "certificateAuthorities", i],
        );
    }

    let mut kargs = Namespace::new();
    let k = &c.kernel_arguments;
    kargs.list(
        r,
        jpath!["kernelArguments", "shouldExist"],
        k.should_exist.iter().map(String::as_str),
    );
    kargs.list(
        r,
        jpath!["kernelArguments", "shouldNotExist"],
        k.should_not_exist.iter().map(String::as_str),
    );

    let p = &c.passwd;
    unique(
        r,
        jpath!["passwd", "groups"],
        p.groups.iter().map(|g| g.name.as_str()),
    );
    unique(
        r,
        jpath!["passwd", "users"],
        p.users.iter().map(|u| u.name.as_str()),
    );
    for (i, u) in p.users.iter().enumerate() {
        let at = jpath!["passwd", "users", i];
        unique(r, at.key("groups"), u.groups.iter().map(String::as_str));
        unique(
            r,
            at.key("sshAuthorizedKeys"),
            u.ssh_authorized_keys.iter().map(String::as_str),
        );
    }

    let s = &c.storage;
    let mut nodes = Namespace::new();
    nodes.list(
        r,
        jpath!["storage", "directories"],
        s.directories.iter().map(|d| d.path.as_str()),
    );
    unique(
        r,
        jpath!["storage", "disks"],
        s.disks.iter().map(|d| d.device.as_str()),
    );
    nodes.list(
        r,
        jpath!["storage", "files"],
        s.files.iter().map(|f| f.path.as_str()),
    );
    unique(
        r,
        jpath!["storage", "filesystems"],
        s.filesystems.iter().map(|f| f.device.as_str()),
    );
    nodes.list(
        r,
        jpath!["storage", "links"],
        s.links.iter().map(|l| l.path.as_str()),
    );
    unique(
        r,
        jpath!["storage", "luks"],
        s.luks.iter().map(|l| l.name.as_str()),
    );
    unique(
        r,
        jpath!["storage", "raid"],
        s.raid.iter().map(|a| a.name.as_str()),
    );
    for (i, f) in s.files.iter().enumerate() {
        let at = jpath!["storage", "files", i];
        headers(r, &f.contents, at.key("contents"));
        for (j, a) in f.append.iter().enumerate() {
            headers(r, a, at.key("append").index(j));
        }
    }
    for (i, d) in s.disks.iter().enumerate() {
        let keys: Vec<String> = d.partitions.iter().map(partition_key).collect();
        unique(
            r,
            jpath!["storage", "disks", i, "partitions"],
            keys.iter().map(String::as_str),
        );
    }
    for (i, a) in s.raid.iter().enumerate() {
        unique(
            r,
            jpath!["storage", "raid", i, "devices"],
            a.devices.iter().map(String::as_str),
        );
    }
    for (i, l) in s.luks.iter().enumerate() {
        let at = jpath!["storage", "luks", i];
        unique(
            r,
            at.key("openOptions"),
            l.open_options.iter().map(String::as_str),
        );
        unique(
            r,
            at.key("clevis").key("tang"),
            l.clevis.tang.iter().map(|t| t.url.as_str()),
        );
        headers(r, &l.key_file, at.key("keyFile"));
    }

    unique(
        r,
        jpath!["systemd", "units"],
        c.systemd.units.iter().map(|u| u.name.as_str()),
    );
    for (i, u) in c.systemd.units.iter().enumerate() {
        unique(
            r,
            jpath!["systemd", "units", i, "dropins"],
            u.dropins.iter().map(|d| d.name.as_str()),
        );
    }
}

fn headers(r: &mut Report, res: &Resource, at: JsonPath) {
    unique(
        r,
        at.key("httpHeaders"),
        res.http_headers.iter().map(|h| h.name.as_str()),
    );
}
