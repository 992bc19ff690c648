//! The files stage's plan: every entry resolved inside the root, ordered as
//! Go orders them, and every resource fetched and verified, before anything
//! is written ("fetch before you cut").

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::fetch::{fetch_resource, Fetcher};
use crate::model::{Config, NodeGroup, NodeUser, Resource};

use super::super::root::{clean, depth, Root};
use super::super::rootcache::CachedRoot;
use super::passwd::Db;

#[derive(Debug, Clone)]
pub enum Kind {
    /// `contents: None` keeps an existing file's contents (or creates it empty).
    File {
        contents: Option<Vec<u8>>,
        appends: Vec<Vec<u8>>,
        mode: Option<u32>,
    },
    Dir {
        mode: Option<u32>,
    },
    Link {
        target: String,
        hard: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Where the entry is in the config (`$.storage.files.3`).
    pub at: String,
    /// The path as the config gives it.
    pub config_path: String,
    /// The path resolved inside the root.
    pub path: String,
    pub overwrite: bool,
    pub user: NodeUser,
    pub group: NodeGroup,
    pub kind: Kind,
}

impl Entry {
    pub fn describe(&self) -> String {
        let owner = match (
            &self.user.id,
            &self.user.name,
            &self.group.id,
            &self.group.name,
        ) {
            (None, None, None, None) => String::new(),
            (uid, uname, gid, gname) => format!(
                ", owner {}:{}",
                uid.map(|i| i.to_string())
                    .or(uname.clone())
                    .unwrap_or_default(),
                gid.map(|i| i.to_string())
                    .or(gname.clone())
                    .unwrap_or_default()
            ),
        };
        let ow = if self.overwrite { " (overwrite)" } else { "" };
        match &self.kind {
            Kind::File {
                contents,
                appends,
                mode,
            } => {
                let what = match contents {
                    Some(c) => format!("write file {} ({} bytes", self.path, c.len()),
                    None => format!("keep or create file {} (", self.path),
                };
                let app: usize = appends.iter().map(Vec::len).sum();
                let app = if appends.is_empty() {
                    String::new()
                } else {
                    format!(", append {app} bytes")
                };
                format!("{what}{app}, mode {}{owner}){ow}", show_mode(*mode, 0o644))
            }
            Kind::Dir { mode } => format!(
                "create directory {} (mode {}{owner}){ow}",
                self.path,
                show_mode(*mode, 0o755)
            ),
            Kind::Link { target, hard: true } => format!("hard link {} to {target}{ow}", self.path),
            Kind::Link {
                target,
                hard: false,
            } => format!("symlink {} -> {target}{owner}{ow}", self.path),
        }
    }
}

fn show_mode(m: Option<u32>, default: u32) -> String {
    format!("{:04o}", m.unwrap_or(default))
}

/// Fetches one resource for `at`; an empty source is empty contents, as in Go.
fn fetch(f: &dyn Fetcher, res: &Resource, at: &str, path: &str) -> Result<Vec<u8>, String> {
    if res.source.as_deref() == Some("") {
        return Ok(Vec::new());
    }
    fetch_resource(f, res).map_err(|e| format!("{at} ({path}): {e}"))
}

/// Resolves, orders and fetches the storage entries of `config`.
pub fn entries(
    config: &Config,
    root: &CachedRoot,
    fetchers: &dyn Fetcher,
) -> Result<Vec<Entry>, String> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut resolve = |kind: &str, p: &str, at: &str| -> Result<String, String> {
        let r = root
            .resolve(p)
            .map_err(|e| format!("{at}: resolving {p} in the root: {e}"))?;
        if let Some(other) = seen.get(&r) {
            return Err(format!(
                "{at}: {kind} at {p} resolved to {r} after symlink chasing, but another entry with path {other} also resolves there"
            ));
        }
        seen.insert(r.clone(), p.to_string());
        Ok(r)
    };
    let s = &config.storage;
    let mut list = Vec::new();
    for (i, d) in s.directories.iter().enumerate() {
        let at = format!("$.storage.directories.{i}");
        list.push(Entry {
            path: resolve("directory", &d.path, &at)?,
            at,
            config_path: d.path.clone(),
            overwrite: d.overwrite == Some(true),
            user: d.user.clone(),
            group: d.group.clone(),
            kind: Kind::Dir {
                mode: d.mode.map(|m| m as u32),
            },
        });
    }
    for (i, f) in s.files.iter().enumerate() {
        let at = format!("$.storage.files.{i}");
        let path = resolve("file", &f.path, &at)?;
        let contents = match f.contents.source {
            Some(_) => Some(fetch(
                fetchers,
                &f.contents,
                &format!("{at}.contents"),
                &f.path,
            )?),
            None => None,
        };
        let appends = f
            .append
            .iter()
            .enumerate()
            .map(|(j, a)| fetch(fetchers, a, &format!("{at}.append.{j}"), &f.path))
            .collect::<Result<Vec<_>, _>>()?;
        list.push(Entry {
            path,
            at,
            config_path: f.path.clone(),
            overwrite: f.overwrite == Some(true),
            user: f.user.clone(),
            group: f.group.clone(),
            kind: Kind::File {
                contents,
                appends,
                mode: f.mode.map(|m| m as u32),
            },
        });
    }
    let mut hard = Vec::new();
    for (i, l) in s.links.iter().enumerate() {
        let at = format!("$.storage.links.{i}");
        let e = Entry {
            path: resolve("link", &l.path, &at)?,
            at,
            config_path: l.path.clone(),
            overwrite: l.overwrite == Some(true),
            user: l.user.clone(),
            group: l.group.clone(),
            kind: Kind::Link {
                target: l.target.clone().unwrap_or_default(),
                hard: l.hard == Some(true),
            },
        };
        if l.hard == Some(true) {
            hard.push(e);
        } else {
            list.push(e);
        }
    }
    // Shallowest first (stable, so config order breaks ties); hard links
    // last so they can point at deeper files.
    list.sort_by_key(|e| depth(&e.path));
    list.extend(hard);
    Ok(list)
}

/// Checks that every owner named by name exists in the root or is created
/// by the config, so a typo fails before anything is written.
pub fn check_owners(config: &Config, entries: &[Entry], db: &Db) -> Result<(), String> {
    let mut users: HashSet<&str> = db.users.keys().map(String::as_str).collect();
    let mut groups: HashSet<&str> = db.groups.keys().map(String::as_str).collect();
    for u in &config.passwd.users {
        if u.should_exist != Some(false) {
            users.insert(&u.name);
            if u.no_user_group != Some(true) {
                groups.insert(&u.name);
            }
        }
    }
    for g in &config.passwd.groups {
        if g.should_exist != Some(false) {
            groups.insert(&g.name);
        }
    }
    for e in entries {
        if let (None, Some(n)) = (e.user.id, &e.user.name) {
            if !n.is_empty() && !users.contains(n.as_str()) {
                return Err(format!("{}.user.name ({}): no such user {n:?} in the root's /etc/passwd, and the config does not create it", e.at, e.config_path));
            }
        }
        if let (None, Some(n)) = (e.group.id, &e.group.name) {
            if !n.is_empty() && !groups.contains(n.as_str()) {
                return Err(format!("{}.group.name ({}): no such group {n:?} in the root's /etc/group, and the config does not create it", e.at, e.config_path));
            }
        }
    }
    Ok(())
}

/// Hard link targets resolved inside the root, for the plan's description.
pub fn link_target(root: &Root, target: &str) -> String {
    root.resolve(target).unwrap_or_else(|_| clean(target))
}

/// In-root paths scheduled for SELinux relabeling.
pub type Relabel = BTreeSet<String>;
