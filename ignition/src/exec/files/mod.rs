//! The `files` stage on a root directory: users and groups, files,
//! directories and links, units, the result file and SELinux relabeling, in
//! Go Ignition's order. Everything is fetched and checked first
//! ([`plan`]); only then is the root touched.

pub mod crypttab;
pub mod fsops;
pub mod passwd;
pub mod plan;
pub mod units;

use std::path::PathBuf;

use crate::fetch::Fetcher;
use crate::model::{Config, Luks};

use super::root::Root;
use super::rootcache::CachedRoot;
use super::state::State;
use plan::{Entry, Kind, Relabel};

pub const RESULT_PATH: &str = "/etc/.ignition-result.json";

/// What the stage needs besides the config.
#[derive(Debug, Clone)]
pub struct FilesOptions {
    pub boot_id_path: PathBuf,
    pub user_config_provided: bool,
    pub dry_run: bool,
}

/// Runs the stage without the state file: the LUKS key files and
/// `/etc/crypttab` are not written (see [`run_with_state`]).
pub fn run(
    config: &Config,
    root: &Root,
    fetchers: &dyn Fetcher,
    opts: &FilesOptions,
) -> Result<Vec<String>, String> {
    if !config.storage.luks.is_empty() {
        tracing::warn!("no state file given: not writing LUKS key files and /etc/crypttab");
    }
    run_inner(config, root, fetchers, opts, None)
}

/// Runs the stage. In a dry run, returns the operations it would perform
/// (after fetching and checking everything) and changes nothing. The LUKS
/// keys the disks stage kept in `state` (`luksPersistKeyFiles`) go to
/// `/etc/luks/NAME` with a `/etc/crypttab` line per volume
/// ([`crypttab`]); they are then dropped from `state`, as Go does.
pub fn run_with_state(
    config: &Config,
    root: &Root,
    fetchers: &dyn Fetcher,
    opts: &FilesOptions,
    state: &mut State,
) -> Result<Vec<String>, String> {
    run_inner(
        config,
        root,
        fetchers,
        opts,
        Some((state, &crypttab::luks_uuid)),
    )
}

type LuksUuid<'a> = &'a dyn Fn(&Luks) -> Result<String, String>;

fn run_inner(
    config: &Config,
    root: &Root,
    fetchers: &dyn Fetcher,
    opts: &FilesOptions,
    luks: Option<(&mut State, LuksUuid)>,
) -> Result<Vec<String>, String> {
    let cached = CachedRoot::new(root);
    fsops::umask(); // read before any thread starts
                    // Planning changes nothing: missing directories may be remembered.
    cached.freeze();
    let entries = plan::entries(config, &cached, fetchers);
    let luks_plan = match (&entries, &luks) {
        (Ok(_), Some((state, uuid_of))) => crypttab::plan(
            config,
            &cached,
            fetchers,
            &state.luks_persist_key_files,
            *uuid_of,
            opts.dry_run,
        ),
        _ => Ok(crypttab::Plan::default()),
    };
    cached.thaw();
    let entries = entries?;
    let luks_plan = luks_plan?;
    let db = passwd::Db::load(root);
    plan::check_owners(config, &entries, &db)?;
    let relabeling = selinux_policy(root)?;

    if opts.dry_run {
        let mut ops = describe(config, root, &entries, &db, relabeling.is_some());
        // Go's order: units, LUKS, result file, relabeling.
        let at = ops.len() - 1 - usize::from(relabeling.is_some());
        ops.splice(at..at, luks_plan.describe());
        return Ok(ops);
    }

    let mut relabel = Relabel::new();
    apply_passwd(config, root, &mut relabel)?;
    // useradd and friends may have changed anything.
    cached.invalidate();
    let db = passwd::Db::load(root);
    apply_entries(&cached, &entries, &db, &mut relabel)?;
    units::apply(&cached, &config.systemd.units, &mut relabel)?;
    if let Some((state, _)) = luks.filter(|_| !config.storage.luks.is_empty()) {
        apply_entries(&cached, &luks_plan.entries, &db, &mut relabel)
            .map_err(|e| format!("adding LUKS key files and crypttab entries: {e}"))?;
        // As Go: the keys now live only on the root, which may be encrypted.
        state.luks_persist_key_files = serde_json::Value::Null;
    }
    write_result(&cached, opts, &mut relabel)?;
    if let Some(policy) = relabeling {
        relabel_paths(root, &policy, &relabel)?;
    } else if !relabel.is_empty() {
        tracing::info!("the root has no /etc/selinux/config: not relabeling");
    }
    Ok(Vec::new())
}

fn describe(
    config: &Config,
    root: &Root,
    entries: &[Entry],
    db: &passwd::Db,
    relabeling: bool,
) -> Vec<String> {
    let mut ops = Vec::new();
    for g in &config.passwd.groups {
        if let Some((p, a)) = passwd::group_command(root, g, db.groups.contains_key(&g.name)) {
            ops.push(format!("run {}", super::cmd::display(&p, &a)));
        }
    }
    for u in &config.passwd.users {
        for (p, a) in passwd::user_commands(root, u, db.users.contains_key(&u.name)) {
            ops.push(format!("run {}", super::cmd::display(&p, &a)));
        }
        if !u.ssh_authorized_keys.is_empty() && u.should_exist != Some(false) {
            ops.push(format!(
                "write {} SSH key(s) of {} to ~/.ssh/authorized_keys.d/ignition",
                u.ssh_authorized_keys.len(),
                u.name
            ));
        }
    }
    for e in entries {
        match &e.kind {
            Kind::Link { target, hard: true } => ops.push(format!(
                "hard link {} to {}{}",
                e.path,
                plan::link_target(root, target),
                if e.overwrite { " (overwrite)" } else { "" }
            )),
            _ => ops.push(e.describe()),
        }
    }
    ops.extend(units::describe(&config.systemd.units));
    ops.push(format!("write {RESULT_PATH} (mode 0600)"));
    if relabeling {
        ops.push("relabel the written paths with setfiles".into());
    }
    ops
}

fn apply_passwd(config: &Config, root: &Root, relabel: &mut Relabel) -> Result<(), String> {
    let p = &config.passwd;
    if p.users.is_empty() && p.groups.is_empty() {
        return Ok(());
    }
    for (i, g) in p.groups.iter().enumerate() {
        let exists = passwd::Db::load(root).groups.contains_key(&g.name);
        if let Some((prog, args)) = passwd::group_command(root, g, exists) {
            passwd::run(&prog, &args).map_err(|e| {
                format!(
                    "$.passwd.groups.{i} ({}): failed to create group: {e}",
                    g.name
                )
            })?;
        }
    }
    for (i, u) in p.users.iter().enumerate() {
        let at = format!("$.passwd.users.{i} ({})", u.name);
        let exists = passwd::Db::load(root).users.contains_key(&u.name);
        for (prog, args) in passwd::user_commands(root, u, exists) {
            passwd::run(&prog, &args).map_err(|e| format!("{at}: failed to create user: {e}"))?;
        }
        if u.should_exist == Some(false) || u.ssh_authorized_keys.is_empty() {
            continue;
        }
        let db = passwd::Db::load(root);
        let user = db
            .users
            .get(&u.name)
            .ok_or_else(|| format!("{at}: user not found after creating it"))?;
        tracing::info!(user = %u.name, "adding ssh keys to user {}", u.name);
        passwd::write_ssh_keys(root, &u.name, user, &u.ssh_authorized_keys)
            .map_err(|e| format!("{at}: {e}"))?;
    }
    // As Go: every passwd-related file, and the users' home directories.
    if let Ok(rd) = std::fs::read_dir(root.host("/etc")) {
        for d in rd.flatten() {
            let n = d.file_name().to_string_lossy().into_owned();
            if ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"]
                .iter()
                .any(|p| n.starts_with(p))
            {
                relabel.insert(format!("/etc/{n}"));
            }
        }
    }
    relabel.insert("/etc/.pwd.lock".into());
    let db = passwd::Db::load(root);
    for u in &p.users {
        if u.no_create_home == Some(true) || u.should_exist == Some(false) {
            continue;
        }
        if let Some(user) = db.users.get(&u.name) {
            // A home that is a link (/root -> /var/roothome) is relabeled at its target.
            let resolved = root
                .resolve_all(&user.home)
                .unwrap_or_else(|_| user.home.clone());
            relabel.insert(resolved);
        }
    }
    Ok(())
}

/// Applies the entries in order. Runs of entries at one depth (which cannot
/// be each other's parents; overwrites and hard links excluded) are written by a few threads once
/// their relabel paths and parent directories are settled in order, so
/// the result is the one of a serial run.
fn apply_entries(
    root: &CachedRoot,
    entries: &[Entry],
    db: &passwd::Db,
    relabel: &mut Relabel,
) -> Result<(), String> {
    let ctx = |e: &Entry, m: String| format!("{} ({}): {m}", e.at, e.config_path);
    let parallel_ok = |e: &Entry| !e.overwrite && !matches!(e.kind, Kind::Link { hard: true, .. });
    let mut i = 0;
    while i < entries.len() {
        let d = super::root::depth(&entries[i].path);
        let mut j = i;
        while j < entries.len()
            && parallel_ok(&entries[j])
            && super::root::depth(&entries[j].path) == d
        {
            j += 1;
        }
        if j - i < 64 {
            let e = &entries[i];
            apply_entry(root, e, db, relabel).map_err(|m| ctx(e, m))?;
            i += 1;
            continue;
        }
        let group = &entries[i..j];
        for e in group {
            relabel.insert(root.first_missing(&e.path));
            fsops::prepare(root, &e.path).map_err(|m| ctx(e, m))?;
        }
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let chunk = group.len().div_ceil(workers);
        std::thread::scope(|s| {
            let handles: Vec<_> = group
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut scratch = Relabel::new();
                        for e in part {
                            apply_entry(root, e, db, &mut scratch).map_err(|m| ctx(e, m))?;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer thread panicked".into()))
            })
        })?;
        i = j;
    }
    Ok(())
}

fn owner(e: &Entry, db: &passwd::Db) -> Result<(Option<u32>, Option<u32>), String> {
    let uid = match (e.user.id, &e.user.name) {
        (Some(id), _) => Some(id as u32),
        (None, Some(n)) if !n.is_empty() => Some(
            db.users
                .get(n)
                .map(|u| u.uid)
                .ok_or_else(|| format!("no such user {n:?}"))?,
        ),
        _ => None,
    };
    let gid = match (e.group.id, &e.group.name) {
        (Some(id), _) => Some(id as u32),
        (None, Some(n)) if !n.is_empty() => Some(
            *db.groups
                .get(n)
                .ok_or_else(|| format!("no such group {n:?}"))?,
        ),
        _ => None,
    };
    Ok((uid, gid))
}

fn apply_entry(
    root: &CachedRoot,
    e: &Entry,
    db: &passwd::Db,
    relabel: &mut Relabel,
) -> Result<(), String> {
    relabel.insert(root.first_missing(&e.path));
    if e.overwrite {
        fsops::remove_all(root, &e.path)?;
    }
    let (uid, gid) = owner(e, db)?;
    // The common cases in one system call: a new file or directory with
    // its final mode (no chown follows to clear special bits), a new
    // symlink. When something is there, the checks below decide.
    let no_owner = uid.is_none() && gid.is_none();
    match &e.kind {
        Kind::File {
            contents,
            appends,
            mode,
        } if appends.is_empty() && no_owner => {
            let data = contents.as_deref().unwrap_or_default();
            let mode = mode.unwrap_or(fsops::DEFAULT_FILE_MODE);
            if fsops::write_new(root, &e.path, data, mode)?.is_some() {
                super::logging::file_written(&e.path, data.len(), mode);
                return Ok(());
            }
        }
        Kind::Dir { mode } if no_owner => {
            let created = fsops::mkdir_new(root, &e.path, *mode)?;
            if created.is_some() {
                super::logging::dir_created(&e.path, mode.unwrap_or(fsops::DEFAULT_DIR_MODE));
                return Ok(());
            }
        }
        Kind::Link {
            target,
            hard: false,
        } if no_owner => {
            let created = fsops::symlink_new(root, &e.path, target)?;
            if created.is_some() {
                super::logging::link_written(&e.path, target, false);
                return Ok(());
            }
        }
        _ => {}
    }
    let existing = match std::fs::symlink_metadata(root.host(&e.path)) {
        Ok(m) => Some(m),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("stat {}: {err}", e.path)),
    };
    match &e.kind {
        Kind::File {
            contents,
            appends,
            mode,
        } => {
            if let Some(m) = &existing {
                if !m.is_file() {
                    return Err(format!("error creating file {}: a non-regular file exists there already and overwrite is false", e.path));
                }
                if contents.is_some() {
                    return Err(format!("error creating file {}: a file exists there already and overwrite is false", e.path));
                }
            }
            let mut resolved = e.path.clone();
            if existing.is_none() {
                let data = contents.as_deref().unwrap_or_default();
                if appends.is_empty() && uid.is_none() && gid.is_none() {
                    // The final mode at creation: no chown follows to clear special bits.
                    let mode = mode.unwrap_or(fsops::DEFAULT_FILE_MODE);
                    fsops::write_with_mode(root, &e.path, data, mode)?;
                    super::logging::file_written(&e.path, data.len(), mode);
                    return Ok(());
                }
                resolved = fsops::write_replace(root, &e.path, data)?;
                super::logging::file_written(&e.path, data.len(), fsops::DEFAULT_FILE_MODE);
            }
            for a in appends {
                tracing::info!(path = %e.path, "appending to file {}", e.path);
                resolved = fsops::append(root, &e.path, a)?;
            }
            fsops::set_owner_and_mode(root, &resolved, uid, gid, *mode)
        }
        Kind::Dir { mode } => {
            let resolved = match &existing {
                Some(m) if m.is_dir() => e.path.clone(),
                Some(_) => return Err(format!("error creating directory {}: a non-directory already exists and overwrite is false", e.path)),
                None => {
                    let r = fsops::mkdir_all(root, &e.path)?;
                    super::logging::dir_created(&e.path, fsops::DEFAULT_DIR_MODE);
                    r
                }
            };
            fsops::set_owner_and_mode(root, &resolved, uid, gid, *mode)
        }
        Kind::Link { target, hard } => {
            let target_path = if *hard {
                Some(
                    root.resolve(target)
                        .map_err(|err| format!("resolving hard link target {target}: {err}"))?,
                )
            } else {
                None
            };
            if let Some(m) = &existing {
                if let Some(t) = &target_path {
                    use std::os::unix::fs::MetadataExt;
                    let tm = std::fs::symlink_metadata(root.host(t)).map_err(|err| {
                        format!(
                            "error creating hard link {}: target does not exist: {err}",
                            e.path
                        )
                    })?;
                    if tm.dev() == m.dev() && tm.ino() == m.ino() {
                        tracing::info!(
                            "hard link {} to {target} already exists, doing nothing",
                            e.path
                        );
                        return Ok(());
                    }
                    return Err(format!("error creating hard link {}: a file already exists at that path but is not the target and overwrite is false", e.path));
                }
                if m.file_type().is_symlink() {
                    let cur =
                        std::fs::read_link(root.host(&e.path)).map_err(|err| err.to_string())?;
                    let cur = cur.to_string_lossy();
                    if clean_link(&cur) == clean_link(target) {
                        tracing::info!(
                            "symlink {} to {target} already exists, doing nothing",
                            e.path
                        );
                        return Ok(());
                    }
                    return Err(format!("error creating symlink {}: a symlink exists at that path but points to {cur}, not {target} and overwrite is false", e.path));
                }
                return Err(format!("error creating symlink {}: a non-symlink already exists at that path and overwrite is false", e.path));
            }
            let resolved = fsops::prepare(root, &e.path)?;
            let host = root.host(&resolved);
            match target_path {
                Some(t) => std::fs::hard_link(root.host(&t), &host)
                    .map_err(|err| format!("failed to create link {}: {err}", e.path))?,
                None => std::os::unix::fs::symlink(target, &host)
                    .map_err(|err| format!("could not create symlink {}: {err}", e.path))?,
            }
            super::logging::link_written(&e.path, target, *hard);
            fsops::set_owner_and_mode(root, &resolved, uid, gid, None)
        }
    }
}

/// Go's `filepath.Clean` on a link target (relative ones stay relative).
fn clean_link(t: &str) -> String {
    if t.starts_with('/') {
        return super::root::clean(t);
    }
    let mut out: Vec<&str> = Vec::new();
    for c in t.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." && out.last().is_some_and(|l| *l != "..") {
            out.pop();
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

fn write_result(
    root: &CachedRoot,
    opts: &FilesOptions,
    relabel: &mut Relabel,
) -> Result<(), String> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Result_ {
        #[serde(rename = "provisioningBootID")]
        provisioning_boot_id: String,
        provisioning_date: String,
        user_config_provided: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_report: Option<serde_json::Value>,
    }
    let fail = |e: String| format!("creating result file {RESULT_PATH}: {e}");
    let resolved = root.resolve(RESULT_PATH).map_err(|e| fail(e.to_string()))?;
    let mut previous = None;
    if let Ok(prev) = std::fs::read(root.host(&resolved)) {
        if super::cmd::run("is-live-image", &[], None).is_err() {
            tracing::warn!("Ignition has already run on this system. Unexpected behavior may occur. Ignition is not designed to run more than once per system.");
            previous = Some(
                serde_json::from_slice(&prev)
                    .map_err(|e| fail(format!("couldn't read the previous report: {e}")))?,
            );
        }
    }
    let boot_id = std::fs::read_to_string(&opts.boot_id_path).map_err(|e| {
        fail(format!(
            "reading boot ID from {}: {e}",
            opts.boot_id_path.display()
        ))
    })?;
    let r = Result_ {
        provisioning_boot_id: boot_id.trim().to_string(),
        provisioning_date: super::rfc3339_now(),
        user_config_provided: opts.user_config_provided,
        previous_report: previous,
    };
    let mut data = serde_json::to_vec_pretty(&r).map_err(|e| fail(e.to_string()))?;
    data.push(b'\n');
    relabel.insert(root.first_missing(&resolved));
    fsops::remove_all(root, RESULT_PATH).map_err(fail)?;
    let resolved = fsops::write_replace(root, RESULT_PATH, &data).map_err(fail)?;
    fsops::set_owner_and_mode(root, &resolved, None, None, Some(0o600)).map_err(fail)
}

/// The SELinux policy named by the root's `/etc/selinux/config`, or None
/// when the root has no such file (then nothing is relabeled; Go fails).
fn selinux_policy(root: &Root) -> Result<Option<String>, String> {
    let path = root
        .resolve_all("/etc/selinux/config")
        .map_err(|e| format!("/etc/selinux/config: {e}"))?;
    let Ok(text) = std::fs::read_to_string(root.host(&path)) else {
        return Ok(None);
    };
    for line in text.lines() {
        if let Some(p) = line.trim().strip_prefix("SELINUXTYPE=") {
            if p.is_empty() {
                return Err("invalid SELINUXTYPE value in /etc/selinux/config".into());
            }
            return Ok(Some(p.to_string()));
        }
    }
    Err("didn't find SELINUXTYPE in /etc/selinux/config".into())
}

fn relabel_paths(root: &Root, policy: &str, paths: &Relabel) -> Result<(), String> {
    if paths.is_empty() {
        return Ok(());
    }
    let contexts = root
        .resolve(&format!(
            "/etc/selinux/{policy}/contexts/files/file_contexts"
        ))
        .map_err(|e| e.to_string())?;
    let mut stdin = Vec::new();
    for p in paths {
        stdin.extend_from_slice(root.host(p).as_os_str().as_encoded_bytes());
        stdin.push(0);
    }
    let args = vec![
        "-vF0".to_string(),
        "-r".into(),
        root.dir().to_string_lossy().into_owned(),
        root.host(&contexts).to_string_lossy().into_owned(),
        "-f".into(),
        "-".into(),
    ];
    tracing::info!("relabeling {} patterns", paths.len());
    super::cmd::run("setfiles", &args, Some(&stdin))
        .map(|_| ())
        .map_err(|e| format!("failed to handle relabeling: {e}"))
}
