//! A rendered MachineConfig as the daemon needs it: OS fields, kernel arguments split as the kernel
//! splits them, and the Ignition config parsed, with file contents fetched and decoded.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use ignition::fetch::{fetch_resource, Fetcher};
use ignition::model::{Config, NodeGroup, NodeUser};
use machine_config::MachineConfig;
use serde_json::value::RawValue;
use sha2::Digest;

use crate::kargs;

/// Who owns a file: an id, a name looked up in the root, or root (0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Id(u32),
    Name(String),
}

impl Owner {
    fn user(u: &NodeUser) -> Owner {
        match (&u.id, &u.name) {
            (Some(id), _) => Owner::Id(*id as u32),
            (None, Some(n)) if !n.is_empty() => Owner::Name(n.clone()),
            _ => Owner::Id(0),
        }
    }
    fn group(g: &NodeGroup) -> Owner {
        match (&g.id, &g.name) {
            (Some(id), _) => Owner::Id(*id as u32),
            (None, Some(n)) if !n.is_empty() => Owner::Name(n.clone()),
            _ => Owner::Id(0),
        }
    }
}

/// A file's contents: the bytes, or, in a config kept only to diff against and validate (the
/// node's current config, see [`Desired::lighten`]), their length and SHA-256.
#[derive(Debug, Clone)]
pub enum Contents {
    Data(Vec<u8>),
    Digest { len: usize, sha256: [u8; 32] },
}

impl Contents {
    pub fn len(&self) -> usize {
        match self {
            Contents::Data(d) => d.len(),
            Contents::Digest { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, unless only the digest was kept.
    pub fn data(&self) -> Option<&[u8]> {
        match self {
            Contents::Data(d) => Some(d),
            Contents::Digest { .. } => None,
        }
    }

    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Contents::Data(d) => sha2::Sha256::digest(d).into(),
            Contents::Digest { sha256, .. } => *sha256,
        }
    }

    /// Whether `bytes` are these contents.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            Contents::Data(d) => d == bytes,
            Contents::Digest { len, sha256 } => {
                *len == bytes.len() && <[u8; 32]>::from(sha2::Sha256::digest(bytes)) == *sha256
            }
        }
    }

    /// The length and digest only.
    pub fn digest_only(&self) -> Contents {
        Contents::Digest {
            len: self.len(),
            sha256: self.sha256(),
        }
    }
}

impl PartialEq for Contents {
    fn eq(&self, other: &Contents) -> bool {
        match (self, other) {
            (Contents::Data(a), Contents::Data(b)) => a == b,
            (a, b) => a.len() == b.len() && a.sha256() == b.sha256(),
        }
    }
}

impl Eq for Contents {}

/// One file of the config, contents decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub contents: Contents,
    /// Permission bits (default 0644).
    pub mode: u32,
    pub user: Owner,
    pub group: Owner,
}

/// One systemd unit of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitSpec {
    pub name: String,
    /// `None` or empty: the config does not write the unit file.
    pub contents: Option<String>,
    pub enabled: Option<bool>,
    pub mask: bool,
    /// Drop-in name → contents (drop-ins without contents are not written).
    pub dropins: BTreeMap<String, String>,
}

/// The `core` user's part of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreUser {
    pub ssh_keys: Vec<String>,
    pub password_hash: Option<String>,
}

/// A rendered MachineConfig, ready to diff and apply.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The MachineConfig with `spec.config` null: the Ignition config is `config_json`, parsed
    /// in `ign`, `files` and `units`.
    pub mc: MachineConfig,
    /// `spec.config` as compact JSON text (what `currentconfig` is written from); `None` in a
    /// config [lightened](Desired::lighten) or that has none.
    pub config_json: Option<Box<RawValue>>,
    /// `spec.config` holds nothing but `ignition.version` (the encapsulated first-boot config).
    pub config_empty: bool,
    /// Set by [`Desired::lighten`].
    light: bool,
    /// The Ignition config without its files and units (those are `files` and `units`).
    pub ign: Config,
    /// Paths of the Ignition config's files that have `append` entries.
    pub appends: Vec<String>,
    /// Kernel arguments, each entry split as the kernel does.
    pub kargs: Vec<String>,
    pub files: BTreeMap<String, FileSpec>,
    pub units: BTreeMap<String, UnitSpec>,
    pub core: CoreUser,
}

/// `""` and `default` are the same kernel.
pub fn canonical_kernel_type(t: &str) -> &str {
    if t.is_empty() {
        "default"
    } else {
        t
    }
}

impl Desired {
    /// The empty config (a node that no MachineConfig touched yet).
    pub fn empty() -> Desired {
        let mut mc = MachineConfig::default();
        mc.metadata.name = "mcd-empty".into();
        Desired::from_mc(mc, &ignition::fetch::Fetchers::new()).expect("the empty config is valid")
    }

    pub fn name(&self) -> &str {
        self.mc.name()
    }

    /// Parses the Ignition config of `mc` and fetches every file's contents.
    pub fn from_mc(mut mc: MachineConfig, fetcher: &dyn Fetcher) -> Result<Desired> {
        let config = if mc.spec.config.is_null() {
            None
        } else {
            let text = serde_json::to_string(&mc.spec.config)?;
            Some(RawValue::from_string(text)?)
        };
        mc.spec.config = serde_json::Value::Null;
        Desired::from_parts(mc, config, fetcher)
    }

    /// As [`Desired::from_mc`], with `spec.config` (null in `mc`) given as JSON text.
    pub fn from_parts(
        mc: MachineConfig,
        config: Option<Box<RawValue>>,
        fetcher: &dyn Fetcher,
    ) -> Result<Desired> {
        let config = config.filter(|c| c.get().trim() != "null");
        let config_empty = only_version(config.as_deref());
        let mut ign = match &config {
            None => Config::default(),
            Some(raw) => match ignition::parse(raw.get().as_bytes()) {
                Ok(p) => p.config,
                Err(e) => {
                    let detail = e.report().map(|r| r.to_string()).unwrap_or_default();
                    bail!(
                        "MachineConfig {}: spec.config: {e}{}{detail}",
                        mc.name(),
                        if detail.is_empty() { "" } else { ": " }
                    );
                }
            },
        };
        let mut files = BTreeMap::new();
        for (i, f) in ign.storage.files.iter().enumerate() {
            let contents = match f.contents.source.as_deref() {
                None | Some("") => Vec::new(),
                Some(_) => fetch_resource(fetcher, &f.contents).with_context(|| {
                    format!("spec.config.storage.files.{i} ({}): contents", f.path)
                })?,
            };
            if f.mode.is_some_and(|m| m & 0o7000 != 0) {
                bail!("spec.config.storage.files.{i} ({}): mode {:o} has setuid, setgid or sticky bits", f.path, f.mode.unwrap_or(0));
            }
            let path = ignition::exec::root::clean(&f.path);
            files.insert(
                path.clone(),
                FileSpec {
                    path,
                    contents: Contents::Data(contents),
                    mode: f.mode.map(|m| m as u32 & 0o7777).unwrap_or(0o644),
                    user: Owner::user(&f.user),
                    group: Owner::group(&f.group),
                },
            );
        }
        // Decoded into `files`: the Ignition entries (their data URLs are the bulk of a large
        // config) go, rather than being held twice for the whole update.
        let appends = ign
            .storage
            .files
            .iter()
            .filter(|f| !f.append.is_empty())
            .map(|f| f.path.clone())
            .collect();
        ign.storage.files = Vec::new();
        let mut units = BTreeMap::new();
        for u in &ign.systemd.units {
            units.insert(
                u.name.clone(),
                UnitSpec {
                    name: u.name.clone(),
                    contents: u.contents.clone().filter(|c| !c.is_empty()),
                    enabled: u.enabled,
                    mask: u.mask == Some(true),
                    dropins: u
                        .dropins
                        .iter()
                        .filter_map(|d| d.contents.clone().map(|c| (d.name.clone(), c)))
                        .collect(),
                },
            );
        }
        let core = ign
            .passwd
            .users
            .iter()
            .find(|u| u.name == crate::paths::CORE_USER)
            .map(|u| CoreUser {
                ssh_keys: u.ssh_authorized_keys.clone(),
                password_hash: u.password_hash.clone(),
            })
            .unwrap_or_default();
        ign.systemd.units = Vec::new();
        Ok(Desired {
            kargs: kargs::parse_list(&mc.spec.kernel_arguments),
            mc,
            config_json: config,
            config_empty,
            light: false,
            ign,
            appends,
            files,
            units,
            core,
        })
    }
}

impl Desired {
    /// Keeps only what diffing against this config and validating it need: file contents
    /// become their length and SHA-256 (but `registries.conf`'s, which the plan reads), the
    /// config text goes. For the node's current config while it is replaced, or held by the
    /// daemon. A lightened config cannot be applied or written as `currentconfig`.
    pub fn lighten(&mut self) {
        self.light = true;
        self.config_json = None;
        for (path, f) in self.files.iter_mut() {
            if path != crate::policy::REGISTRIES_CONF {
                f.contents = f.contents.digest_only();
            }
        }
    }

    /// Whether [`Desired::lighten`] dropped the config text.
    pub fn is_light(&self) -> bool {
        self.light
    }
}

/// `spec.config` holds nothing but `ignition.version` (or nothing at all). Reads only the keys.
fn only_version(config: Option<&RawValue>) -> bool {
    let Some(c) = config else { return true };
    let Ok(top) = serde_json::from_str::<BTreeMap<&str, &RawValue>>(c.get()) else {
        return false;
    };
    top.iter().all(|(k, v)| {
        *k == "ignition"
            && serde_json::from_str::<BTreeMap<&str, &RawValue>>(v.get())
                .is_ok_and(|i| i.keys().all(|k| *k == "version"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_compare_by_digest() {
        let a = Contents::Data(b"hello".to_vec());
        let d = a.digest_only();
        assert_eq!(a, d);
        assert_eq!(d, a);
        assert!(d.matches(b"hello") && !d.matches(b"hellp") && !d.matches(b"hell"));
        assert_ne!(d, Contents::Data(b"hellp".to_vec()));
        assert_eq!(d.len(), 5);
        assert!(d.data().is_none());
    }

    #[test]
    fn only_version_reads_keys() {
        let r = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert!(only_version(None));
        assert!(only_version(Some(&r(
            r#"{"ignition":{"version":"3.2.0"}}"#
        ))));
        assert!(!only_version(Some(&r(
            r#"{"ignition":{"version":"3.2.0"},"storage":{}}"#
        ))));
        assert!(!only_version(Some(&r(
            r#"{"ignition":{"version":"3.2.0","config":{}}}"#
        ))));
    }
}
