//! A rendered MachineConfig as the daemon needs it: OS fields, kernel arguments split as the kernel
//! splits them, and the Ignition config parsed, with file contents fetched and decoded.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use ignition::fetch::{fetch_resource, Fetcher};
use ignition::model::{Config, NodeGroup, NodeUser};
use machine_config::MachineConfig;

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

/// One file of the config, contents decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub contents: Vec<u8>,
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
    pub mc: MachineConfig,
    /// The Ignition config, file contents' sources removed (decoded in `files`).
    pub ign: Config,
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
    pub fn from_mc(mc: MachineConfig, fetcher: &dyn Fetcher) -> Result<Desired> {
        let mut ign = if mc.spec.config.is_null() {
            Config::default()
        } else {
            let raw = serde_json::to_vec(&mc.spec.config)?;
            match ignition::parse(&raw) {
                Ok(p) => p.config,
                Err(e) => {
                    let detail = e.report().map(|r| r.to_string()).unwrap_or_default();
                    bail!(
                        "MachineConfig {}: spec.config: {e}{}{detail}",
                        mc.name(),
                        if detail.is_empty() { "" } else { ": " }
                    );
                }
            }
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
                    contents,
                    mode: f.mode.map(|m| m as u32 & 0o7777).unwrap_or(0o644),
                    user: Owner::user(&f.user),
                    group: Owner::group(&f.group),
                },
            );
        }
        // Decoded into `files`: the sources (data URLs: the bulk of a large config) go, rather
        // than being held twice for the whole update.
        for f in &mut ign.storage.files {
            f.contents.source = None;
        }
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
        Ok(Desired {
            kargs: kargs::parse_list(&mc.spec.kernel_arguments),
            mc,
            ign,
            files,
            units,
            core,
        })
    }
}
