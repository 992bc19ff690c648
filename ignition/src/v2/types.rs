//! The 2.x config as written: specs 2.2.0 and 2.3.0 in one set of types.
//!
//! 2.3 only added partition fields (`shouldExist`, `sizeMiB`, `startMiB`,
//! `wipePartitionEntry`); [`Spec2Fields`] hides them from 2.2 configs, where
//! they are unknown keys. Fields whose zero value Ignition 2.x does not tell
//! apart from "unset" are plain values here, as in Go.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::json::decode::{FieldFilter, PathLink};
use crate::version::SpecVersion;

/// The fields a 2.x version has.
pub struct Spec2Fields(pub SpecVersion);

impl FieldFilter for Spec2Fields {
    fn allows(&self, strukt: &'static str, field: &str, _: &PathLink<'_>) -> bool {
        let added_in_23 = strukt == "Partition"
            && matches!(
                field,
                "shouldExist" | "sizeMiB" | "startMiB" | "wipePartitionEntry"
            );
        !added_in_23 || self.0 >= SpecVersion::new(2, 3)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    pub ignition: Ignition,
    pub networkd: Networkd,
    pub passwd: Passwd,
    pub storage: Storage,
    pub systemd: Systemd,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ignition {
    pub config: IgnitionConfig,
    pub security: Security,
    pub timeouts: Timeouts,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IgnitionConfig {
    pub append: Vec<Reference>,
    pub replace: Option<Reference>,
}

/// A config reference or a CA reference (the same shape in 2.x).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Reference {
    pub source: String,
    pub verification: Verification,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Verification {
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Security {
    pub tls: Tls,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tls {
    pub certificate_authorities: Vec<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timeouts {
    pub http_response_headers: Option<i64>,
    pub http_total: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Networkd {
    pub units: Vec<NetworkdUnit>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkdUnit {
    pub contents: String,
    pub dropins: Vec<Dropin>,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Passwd {
    pub groups: Vec<PasswdGroup>,
    pub users: Vec<PasswdUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswdGroup {
    pub gid: Option<i64>,
    pub name: String,
    pub password_hash: String,
    pub system: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswdUser {
    /// Deprecated; only its presence matters (it cannot be translated).
    pub create: Option<IgnoredAny>,
    pub gecos: String,
    pub groups: Vec<String>,
    pub home_dir: String,
    pub name: String,
    pub no_create_home: bool,
    pub no_log_init: bool,
    pub no_user_group: bool,
    pub password_hash: Option<String>,
    pub primary_group: String,
    pub ssh_authorized_keys: Vec<String>,
    pub shell: String,
    pub system: bool,
    pub uid: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Storage {
    pub directories: Vec<Directory>,
    pub disks: Vec<Disk>,
    pub files: Vec<File>,
    pub filesystems: Vec<Filesystem>,
    pub links: Vec<Link>,
    pub raid: Vec<Raid>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeOwner {
    pub id: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct File {
    pub filesystem: String,
    pub path: String,
    pub user: Option<NodeOwner>,
    pub group: Option<NodeOwner>,
    pub overwrite: Option<bool>,
    pub append: bool,
    pub contents: FileContents,
    pub mode: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileContents {
    pub compression: String,
    pub source: String,
    pub verification: Verification,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Directory {
    pub filesystem: String,
    pub path: String,
    pub user: Option<NodeOwner>,
    pub group: Option<NodeOwner>,
    pub overwrite: Option<bool>,
    pub mode: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Link {
    pub filesystem: String,
    pub path: String,
    pub user: Option<NodeOwner>,
    pub group: Option<NodeOwner>,
    pub overwrite: Option<bool>,
    pub hard: bool,
    pub target: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Disk {
    pub device: String,
    pub partitions: Vec<Partition>,
    pub wipe_table: bool,
}

/// In 2.2 `label`, `start` and `size` are plain values (zero = unset); in 2.3
/// they are optional, and `start`/`size` (in sectors) are deprecated in favour
/// of `startMiB`/`sizeMiB`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Partition {
    pub guid: String,
    pub label: Option<String>,
    pub number: i64,
    pub should_exist: Option<bool>,
    pub size: Option<i64>,
    #[serde(rename = "sizeMiB")]
    pub size_mib: Option<i64>,
    pub start: Option<i64>,
    #[serde(rename = "startMiB")]
    pub start_mib: Option<i64>,
    pub type_guid: String,
    pub wipe_partition_entry: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Filesystem {
    pub mount: Option<Mount>,
    pub name: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mount {
    /// Deprecated; only its presence matters (it cannot be translated).
    pub create: Option<IgnoredAny>,
    pub device: String,
    pub format: String,
    pub label: Option<String>,
    pub options: Vec<String>,
    pub uuid: Option<String>,
    pub wipe_filesystem: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Raid {
    pub devices: Vec<String>,
    pub level: String,
    pub name: String,
    pub options: Vec<String>,
    pub spares: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Systemd {
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Unit {
    pub contents: String,
    pub dropins: Vec<Dropin>,
    /// Deprecated in 2.x in favour of `enabled`.
    pub enable: bool,
    pub enabled: Option<bool>,
    pub mask: bool,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Dropin {
    pub contents: String,
    pub name: String,
}
