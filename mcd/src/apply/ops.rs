//! The filesystem operations an update needs, computed before anything is touched (reading the
//! root only to learn what is there: originals, unit files, enablement links, users).

use std::borrow::Cow;

use anyhow::{anyhow, Result};
use ignition::exec::files::passwd::Db;
use ignition::exec::root::Root;

use super::fsops::Dirs;
use super::units;
use crate::config::{Desired, Owner, UnitSpec};
use crate::diff::Diff;
use crate::paths::{self, noorig_of, orig_of, CORE_USER, UNITS_DIR};

#[derive(Debug, Clone)]
pub enum Op<'a> {
    Write {
        path: String,
        data: Cow<'a, [u8]>,
        mode: u32,
        owner: (u32, u32),
    },
    Symlink {
        path: String,
        target: String,
    },
    Remove {
        path: String,
    },
    /// Renames `from` over `to` (restoring an original).
    Rename {
        from: String,
        to: String,
    },
    /// Keeps the file at `path` as its original (`orig/<path>.mcdorig`).
    Backup {
        path: String,
    },
    /// Notes that `path` had no original (`noorig/<path>.mcdnoorig`).
    Stamp {
        path: String,
    },
    Mkdir {
        path: String,
        mode: u32,
        owner: (u32, u32),
    },
    /// `usermod --root R --password HASH core`
    Password {
        hash: String,
    },
}

/// Shadow's files, their backups, temporary files and locks: what `usermod` may touch.
pub const PASSWD_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/passwd+",
    "/etc/passwd.lock",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/shadow+",
    "/etc/shadow.lock",
    "/etc/group",
    "/etc/group-",
    "/etc/group+",
    "/etc/group.lock",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/gshadow+",
    "/etc/gshadow.lock",
    "/etc/.pwd.lock",
];

impl Op<'_> {
    /// In-root paths whose state the operation changes (journaled before the apply).
    pub fn touched(&self) -> Vec<String> {
        match self {
            Op::Write { path, .. } | Op::Symlink { path, .. } | Op::Remove { path } => {
                vec![path.clone()]
            }
            Op::Rename { from, to } => vec![from.clone(), to.clone()],
            Op::Backup { path } => vec![orig_of(path)],
            Op::Stamp { path } => vec![noorig_of(path)],
            Op::Mkdir { .. } => vec![],
            Op::Password { .. } => PASSWD_FILES.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Op::Write {
                path,
                data,
                mode,
                owner,
            } => format!(
                "write {path} ({} bytes, mode {mode:04o}, owner {}:{})",
                data.len(),
                owner.0,
                owner.1
            ),
            Op::Symlink { path, target } => format!("link {path} -> {target}"),
            Op::Remove { path } => format!("remove {path}"),
            Op::Rename { from, to } => format!("restore {to} from {from}"),
            Op::Backup { path } => format!("keep the original of {path} as {}", orig_of(path)),
            Op::Stamp { path } => format!("stamp {} (no original)", noorig_of(path)),
            Op::Mkdir { path, mode, .. } => format!("mkdir {path} (mode {mode:04o})"),
            Op::Password { .. } => format!("set the password of {CORE_USER} with usermod"),
        }
    }
}

/// An operation and the apply step it belongs to (`files`, `units`, `ssh`, `password`).
pub type Step<'a> = (&'static str, Op<'a>);

/// The root and the directories resolved so far (see [`Dirs`]).
struct At<'r> {
    root: &'r Root,
    dirs: std::cell::RefCell<Dirs>,
}

impl At<'_> {
    fn exists(&self, path: &str) -> bool {
        self.dirs
            .borrow_mut()
            .resolve(self.root, path)
            .is_ok_and(|r| std::fs::symlink_metadata(self.root.host(&r)).is_ok())
    }
}

fn exists(at: &At<'_>, path: &str) -> bool {
    at.exists(path)
}

/// Whether the backup directories exist at all (saves two lookups per file on a fresh node).
fn backups_exist(at: &At<'_>) -> bool {
    exists(at, paths::ORIG_DIR) || exists(at, paths::NOORIG_DIR)
}

fn owner(db: &Db, u: &Owner, g: &Owner, path: &str) -> Result<(u32, u32)> {
    let uid = match u {
        Owner::Id(i) => *i,
        Owner::Name(n) => db
            .users
            .get(n)
            .map(|x| x.uid)
            .ok_or_else(|| anyhow!("{path}: no user {n:?} in the root's /etc/passwd"))?,
    };
    let gid = match g {
        Owner::Id(i) => *i,
        Owner::Name(n) => *db
            .groups
            .get(n)
            .ok_or_else(|| anyhow!("{path}: no group {n:?} in the root's /etc/group"))?,
    };
    Ok((uid, gid))
}

/// Taking over `path`: keep its original, or stamp that there was none, unless already done.
fn take_over(at: &At<'_>, path: &str, step: &'static str, out: &mut Vec<Step<'_>>, backups: bool) {
    if backups && (exists(at, &orig_of(path)) || exists(at, &noorig_of(path))) {
        return;
    }
    if exists(at, path) {
        out.push((step, Op::Backup { path: path.into() }));
    } else {
        out.push((step, Op::Stamp { path: path.into() }));
    }
}

/// Giving `path` back: restore the original, or remove the file we created.
fn give_back(at: &At<'_>, path: &str, step: &'static str, out: &mut Vec<Step<'_>>) {
    if exists(at, &orig_of(path)) {
        out.push((
            step,
            Op::Rename {
                from: orig_of(path),
                to: path.into(),
            },
        ));
    } else {
        out.push((step, Op::Remove { path: path.into() }));
        if exists(at, &noorig_of(path)) {
            out.push((
                step,
                Op::Remove {
                    path: noorig_of(path),
                },
            ));
        }
    }
}

/// The operations from `old` to `new`; `full`: write everything `new` has (re-apply).
pub fn compute<'a>(
    root: &Root,
    old: &Desired,
    new: &'a Desired,
    diff: &Diff,
    full: bool,
) -> Result<Vec<Step<'a>>> {
    let db = Db::load(root);
    let at = At {
        root,
        dirs: Default::default(),
    };
    let at = &at;
    let backups = backups_exist(at);
    let mut out = Vec::new();
    for (path, f) in &new.files {
        let changed = full || !old.files.get(path).is_some_and(|o| o == f);
        if !changed {
            continue;
        }
        if !old.files.contains_key(path) {
            take_over(at, path, "files", &mut out, backups);
        }
        let owner = owner(&db, &f.user, &f.group, path)?;
        out.push((
            "files",
            Op::Write {
                path: path.clone(),
                data: Cow::Borrowed(f.contents.data().ok_or_else(|| {
                    anyhow!("{path}: the config to apply was kept without its contents")
                })?),
                mode: f.mode,
                owner,
            },
        ));
    }
    for path in &diff.files_removed {
        give_back(at, path, "files", &mut out);
    }
    let mut names: Vec<&String> = old.units.keys().chain(new.units.keys()).collect();
    names.sort();
    names.dedup();
    static NONE: std::sync::OnceLock<UnitSpec> = std::sync::OnceLock::new();
    let none: &'static UnitSpec = NONE.get_or_init(UnitSpec::default);
    for name in names {
        let o = old.units.get(name).unwrap_or(none);
        let n = new.units.get(name).unwrap_or(none);
        if o == n && !full {
            continue;
        }
        unit_ops(at, name, o, n, full, &mut out)?;
    }
    if diff.ssh_keys || (full && !new.core.ssh_keys.is_empty()) {
        let core = db.users.get(CORE_USER);
        let home = core
            .map(|c| c.home.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("/home/{CORE_USER}"));
        let file = format!("{home}/.ssh/authorized_keys.d/ignition");
        if new.core.ssh_keys.is_empty() {
            out.push(("ssh", Op::Remove { path: file }));
        } else {
            let c = core.ok_or_else(|| {
                anyhow!("SSH keys: no user {CORE_USER} in the root's /etc/passwd")
            })?;
            let ids = (c.uid, c.gid);
            let mut text = new.core.ssh_keys.join("\n");
            text.push('\n');
            out.push((
                "ssh",
                Op::Mkdir {
                    path: format!("{home}/.ssh"),
                    mode: 0o700,
                    owner: ids,
                },
            ));
            out.push((
                "ssh",
                Op::Mkdir {
                    path: format!("{home}/.ssh/authorized_keys.d"),
                    mode: 0o700,
                    owner: ids,
                },
            ));
            out.push((
                "ssh",
                Op::Write {
                    path: file,
                    data: Cow::Owned(text.into_bytes()),
                    mode: 0o600,
                    owner: ids,
                },
            ));
        }
    }
    if diff.password || (full && new.core.password_hash.is_some()) {
        if !db.users.contains_key(CORE_USER) {
            return Err(anyhow!(
                "password: no user {CORE_USER} in the root's /etc/passwd"
            ));
        }
        let hash = new
            .core
            .password_hash
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "*".into());
        out.push(("password", Op::Password { hash }));
    }
    Ok(out)
}

fn unit_ops<'a>(
    at: &At<'_>,
    name: &str,
    o: &UnitSpec,
    n: &'a UnitSpec,
    full: bool,
    out: &mut Vec<Step<'a>>,
) -> Result<()> {
    let root = at.root;
    let path = format!("{UNITS_DIR}/{name}");
    let ours = |u: &UnitSpec| u.mask || u.contents.is_some();
    // Disable before the file that says how goes away.
    let disable = n.enabled == Some(false) || (n.enabled.is_none() && o.enabled == Some(true));
    if disable {
        let mut links = units::existing_links(root, name);
        if let Some((_, text)) = units::find_unit_file(root, name) {
            for a in units::parse_install(&text).alias {
                let p = format!("{UNITS_DIR}/{a}");
                if a != name
                    && std::fs::symlink_metadata(root.host(&p))
                        .is_ok_and(|m| m.file_type().is_symlink())
                {
                    links.push(p);
                }
            }
        }
        for l in links {
            out.push(("units", Op::Remove { path: l }));
        }
    }
    if ours(n) && !ours(o) {
        take_over(at, &path, "units", out, true);
    }
    if n.mask {
        if !o.mask || full {
            out.push((
                "units",
                Op::Symlink {
                    path: path.clone(),
                    target: "/dev/null".into(),
                },
            ));
        }
    } else if let Some(c) = &n.contents {
        if o.contents.as_ref() != Some(c) || o.mask || full {
            out.push((
                "units",
                Op::Write {
                    path: path.clone(),
                    data: Cow::Borrowed(c.as_bytes()),
                    mode: 0o644,
                    owner: (0, 0),
                },
            ));
        }
    } else if ours(o) {
        give_back(at, &path, "units", out);
    }
    for (d, c) in &n.dropins {
        if o.dropins.get(d) != Some(c) || full {
            out.push((
                "units",
                Op::Write {
                    path: format!("{path}.d/{d}"),
                    data: Cow::Borrowed(c.as_bytes()),
                    mode: 0o644,
                    owner: (0, 0),
                },
            ));
        }
    }
    for d in o.dropins.keys().filter(|d| !n.dropins.contains_key(*d)) {
        out.push((
            "units",
            Op::Remove {
                path: format!("{path}.d/{d}"),
            },
        ));
    }
    if n.enabled == Some(true) && !n.mask {
        let (unit_path, text) = match &n.contents {
            Some(c) => (path.clone(), c.clone()),
            None => units::find_unit_file(root, name).ok_or_else(|| {
                anyhow!("unit {name}: cannot enable it: no unit file in the root")
            })?,
        };
        for (link, target) in units::enable_links(name, &unit_path, &units::parse_install(&text)) {
            let current = std::fs::read_link(root.host(&link)).ok();
            if current.as_deref() != Some(std::path::Path::new(&target)) {
                out.push(("units", Op::Symlink { path: link, target }));
            }
        }
    }
    Ok(())
}
