//! Users and groups: the root's own `/etc/passwd` and `/etc/group` for
//! lookups, shadow's tools with `--root` for changes (Go's flags), and SSH
//! keys in `~/.ssh/authorized_keys.d/ignition`.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use crate::model::{PasswdGroup, PasswdUser};

use super::super::cmd;
use super::super::root::Root;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Names to ids, as the root's `/etc/passwd` and `/etc/group` say.
#[derive(Debug, Default, Clone)]
pub struct Db {
    pub users: HashMap<String, User>,
    pub groups: HashMap<String, u32>,
}

impl Db {
    pub fn load(root: &Root) -> Db {
        let read = |p: &str| {
            root.resolve_all(p)
                .ok()
                .and_then(|r| std::fs::read_to_string(root.host(&r)).ok())
                .unwrap_or_default()
        };
        let mut db = Db::default();
        for line in read("/etc/passwd").lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 6 {
                if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                    db.users.entry(f[0].to_string()).or_insert(User {
                        uid,
                        gid,
                        home: f[5].to_string(),
                    });
                }
            }
        }
        for line in read("/etc/group").lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 3 {
                if let Ok(gid) = f[2].parse() {
                    db.groups.entry(f[0].to_string()).or_insert(gid);
                }
            }
        }
        db
    }
}

/// The command that brings a group to its declared state, if any.
pub fn group_command(root: &Root, g: &PasswdGroup, exists: bool) -> Option<(String, Vec<String>)> {
    let r = root.dir().to_string_lossy().into_owned();
    if g.should_exist == Some(false) {
        return exists.then(|| ("groupdel".into(), vec!["--root".into(), r, g.name.clone()]));
    }
    // As Go: groupadd even when the group exists (and fail like Go then).
    let mut a = vec!["--root".to_string(), r];
    if let Some(gid) = g.gid {
        a.extend(["--gid".into(), gid.to_string()]);
    }
    let pw = g
        .password_hash
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "*".into());
    a.extend(["--password".into(), pw]);
    if g.system == Some(true) {
        a.push("--system".into());
    }
    a.push(g.name.clone());
    Some(("groupadd".into(), a))
}

/// The commands that bring a user to its declared state (Go's flags).
pub fn user_commands(root: &Root, u: &PasswdUser, exists: bool) -> Vec<(String, Vec<String>)> {
    let r = root.dir().to_string_lossy().into_owned();
    if u.should_exist == Some(false) {
        return if exists {
            vec![(
                "userdel".into(),
                vec!["--remove".into(), "--root".into(), r, u.name.clone()],
            )]
        } else {
            vec![]
        };
    }
    let mut a = vec!["--root".to_string(), r.clone()];
    let program = if exists {
        if let Some(h) = u.home_dir.as_deref().filter(|h| !h.is_empty()) {
            a.extend(["--home".into(), h.into(), "--move-home".into()]);
        }
        "usermod"
    } else {
        if let Some(h) = u.home_dir.as_deref().filter(|h| !h.is_empty()) {
            a.extend(["--home-dir".into(), h.into()]);
        }
        a.push(
            if u.no_create_home == Some(true) {
                "--no-create-home"
            } else {
                "--create-home"
            }
            .into(),
        );
        for (flag, set) in [
            ("--no-user-group", u.no_user_group),
            ("--system", u.system),
            ("--no-log-init", u.no_log_init),
        ] {
            if set == Some(true) {
                a.push(flag.into());
            }
        }
        "useradd"
    };
    match &u.password_hash {
        Some(p) => a.extend([
            "--password".into(),
            if p.is_empty() { "*".into() } else { p.clone() },
        ]),
        None if !exists => a.extend(["--password".into(), "*".into()]),
        None => {}
    }
    if let Some(uid) = u.uid {
        a.extend(["--uid".into(), uid.to_string()]);
    }
    fn opt(a: &mut Vec<String>, flag: &str, v: &Option<String>) {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            a.extend([flag.to_string(), v.to_string()]);
        }
    }
    opt(&mut a, "--comment", &u.gecos);
    opt(&mut a, "--gid", &u.primary_group);
    if !u.groups.is_empty() {
        a.extend(["--groups".into(), u.groups.join(",")]);
    }
    opt(&mut a, "--shell", &u.shell);
    a.push(u.name.clone());
    let mut cmds = vec![(program.to_string(), a)];
    // Go sets the password once more with usermod when one is given.
    if let Some(p) = &u.password_hash {
        let pw = if p.is_empty() {
            "*".to_string()
        } else {
            p.clone()
        };
        cmds.push((
            "usermod".into(),
            vec!["--root".into(), r, "--password".into(), pw, u.name.clone()],
        ));
    }
    cmds
}

pub fn run(program: &str, args: &[String]) -> Result<(), String> {
    cmd::run(program, args, None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Writes the user's keys to `~/.ssh/authorized_keys.d/ignition` as Go does:
/// missing directories 0700 and the file 0600, owned by the user; the keys
/// joined by newlines, with a final newline.
pub fn write_ssh_keys(
    root: &Root,
    name: &str,
    user: &User,
    keys: &[String],
) -> Result<String, String> {
    let mut text = keys.join("\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let path = format!(
        "{}/.ssh/authorized_keys.d/ignition",
        user.home.trim_end_matches('/')
    );
    let fail = |e: std::io::Error| format!("writing SSH keys of user {name:?} to {path}: {e}");
    let resolved = root.resolve(&path).map_err(fail)?;
    // Create the missing directories one by one, as the user.
    let parts: Vec<&str> = resolved.split('/').filter(|c| !c.is_empty()).collect();
    let mut cur = String::new();
    for c in &parts[..parts.len() - 1] {
        cur.push('/');
        cur.push_str(c);
        let host = root.host(&cur);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(fail(std::io::Error::other(format!(
                    "{cur} is not a directory"
                ))))
            }
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&host)
                    .map_err(fail)?;
                std::os::unix::fs::lchown(&host, Some(user.uid), Some(user.gid)).map_err(fail)?;
            }
        }
    }
    let host = root.host(&resolved);
    let existed = std::fs::symlink_metadata(&host).is_ok();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&host)
        .map_err(fail)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(fail)?;
    if !existed {
        std::os::unix::fs::fchown(&f, Some(user.uid), Some(user.gid)).map_err(fail)?;
    }
    Ok(resolved)
}
