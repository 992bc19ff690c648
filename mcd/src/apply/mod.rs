//! Applying a plan on a root, journaled so that it lands whole or not at all (see [`journal`]).
//!
//! Order: journal; files (originals kept first); units, drop-ins, masks and enablement links;
//! `core`'s SSH keys; its password (`usermod --root`); the OS image and kernel arguments through
//! `rpm-ostree`; `currentconfig`; commit. Any error rolls everything back.

pub mod fsops;
pub mod journal;
pub mod ops;
pub mod os;
pub mod units;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use ignition::exec::root::Root;

use crate::config::Desired;
use crate::hooks;
use crate::paths::{CURRENT_CONFIG, PENDING};
use crate::plan::Plan;
use ops::Op;

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The ostree sysroot for `rpm-ostree --sysroot` (see [`os::sysroot_for`]).
    pub sysroot: Option<PathBuf>,
    /// Write everything the new config has, not only what changed (`mcd recover`).
    pub full: bool,
}

/// Where an apply writes: the resolved directories, the paths the journal recorded as missing
/// (created in place), the replacements waiting for their rename.
struct Writer<'a> {
    dirs: fsops::Dirs,
    missing: std::collections::HashSet<&'a str>,
    staged: fsops::Staged,
}

impl Writer<'_> {
    /// Whether the journal recorded `path` as missing.
    fn fresh(&mut self, root: &Root, path: &str) -> bool {
        self.dirs
            .resolve(root, path)
            .is_ok_and(|r| self.missing.contains(r.as_str()))
    }
}

fn run_op(root: &Root, w: &mut Writer<'_>, op: &Op<'_>) -> Result<()> {
    if !matches!(op, Op::Write { .. } | Op::Stamp { .. } | Op::Backup { .. }) {
        // Anything else may look at a path a staged write has not reached yet.
        w.staged.flush(root, hooks::point)?;
    }
    let dirs = &mut w.dirs;
    match op {
        Op::Write {
            path,
            data,
            mode,
            owner,
        } => {
            let fresh = w.fresh(root, path);
            fsops::write_staged(
                &mut w.dirs,
                root,
                path,
                data,
                *mode,
                Some(*owner),
                fresh,
                &mut w.staged,
            )
        }
        Op::Symlink { path, target } => fsops::symlink(dirs, root, path, target),
        Op::Remove { path } => fsops::remove_in(dirs, root, path),
        Op::Rename { from, to } => fsops::rename(dirs, root, from, to),
        Op::Backup { path } => {
            let src = root.host(&dirs.resolve(root, path)?);
            let dst = dirs.prepare(root, &crate::paths::orig_of(path))?;
            fsops::copy_exact(&src, &dst).with_context(|| format!("keeping the original of {path}"))
        }
        Op::Stamp { path } => {
            let stamp = crate::paths::noorig_of(path);
            let fresh = w.fresh(root, &stamp);
            fsops::write_staged(
                &mut w.dirs,
                root,
                &stamp,
                b"",
                0o644,
                None,
                fresh,
                &mut w.staged,
            )
        }
        Op::Mkdir { path, mode, owner } => fsops::mkdir(dirs, root, path, *mode, *owner),
        Op::Password { hash } => {
            let args = vec![
                "--root".to_string(),
                root.dir().display().to_string(),
                "--password".into(),
                hash.clone(),
                crate::paths::CORE_USER.into(),
            ];
            ignition::exec::cmd::run("usermod", &args, None)
                .map(|_| ())
                .map_err(|e| anyhow!(e.to_string().replace(hash.as_str(), "<hash>")))
        }
    }
}

/// The operations and rpm-ostree calls of an apply, for `mcd plan` (changes nothing).
pub fn describe(
    root: &Root,
    old: &Desired,
    new: &Desired,
    plan: &Plan,
    opts: &Options,
) -> Result<Vec<String>> {
    let steps = ops::compute(root, old, new, &plan.diff, opts.full)?;
    let mut out: Vec<String> = steps.iter().map(|(_, op)| op.describe()).collect();
    let sysroot = opts.sysroot.as_deref();
    for (_, args) in os::commands(&plan.diff, sysroot) {
        out.push(format!(
            "run {}",
            ignition::exec::cmd::display(&os::program(), &args)
        ));
    }
    out.push(format!("write {CURRENT_CONFIG}"));
    Ok(out)
}

/// What an apply leaves for the caller.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The new deployment's root when `rpm-ostree` wrote it directly (a sysroot nothing is
    /// booted from) and it is not the root itself: the OS step copied the root's /etc into it,
    /// so what is written after the apply (the state file) goes there too.
    pub new_root: Option<PathBuf>,
}

/// Applies `plan` (from `old` to `new`) on `root`. On error, everything is rolled back before
/// the error is returned.
pub fn apply(
    root: &Root,
    old: &Desired,
    new: &Desired,
    plan: &Plan,
    opts: &Options,
) -> Result<Applied> {
    if !plan.refused.is_empty() {
        return Err(anyhow!(
            "refused: {}",
            plan.refused
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let steps = ops::compute(root, old, new, &plan.diff, opts.full)?;
    let sysroot = opts.sysroot.as_deref();
    let os_cmds = os::commands(&plan.diff, sysroot);
    // The deployments before the OS step: for the pending record and for a rollback.
    let deps = if !os_cmds.is_empty() && os::is_ostree(sysroot) {
        let d = os::status(sysroot).context("the deployments before the update")?;
        os::check_direct(
            &plan.diff,
            &d,
            sysroot.unwrap_or(Path::new("/")),
            root.dir(),
        )?;
        Some(d)
    } else {
        None
    };
    let mut touched: Vec<String> = steps.iter().flat_map(|(_, op)| op.touched()).collect();
    if plan.reboot() {
        touched.push(PENDING.to_string());
    }
    touched.push(CURRENT_CONFIG.to_string());
    hooks::fail("prepare")?;
    let mut j = match journal::prepare(root, old.name(), new.name(), &touched, sysroot) {
        Ok(j) => j,
        Err(e) => {
            // Nothing was changed yet; drop the partial backups.
            let _ = std::fs::remove_dir_all(root.host(crate::paths::TXN_DIR));
            return Err(e.context("preparing the journal; nothing was changed"));
        }
    };
    let ctx = StepCtx {
        old,
        new,
        reboot: plan.reboot(),
        sysroot,
        deps: deps.as_deref(),
    };
    let result = run_steps(root, &ctx, &steps, &os_cmds, &mut j);
    match result {
        Ok(applied) => journal::commit(root, &mut j).map(|()| applied),
        Err(e) => {
            tracing::error!("apply of {} failed, rolling back: {e:#}", new.name());
            match journal::rollback(root, &j) {
                Ok(()) => Err(e.context("the update was rolled back")),
                Err(r) => Err(e.context(format!(
                    "the rollback failed too ({r:#}); the journal stays for the next run"
                ))),
            }
        }
    }
}

struct StepCtx<'a> {
    old: &'a Desired,
    new: &'a Desired,
    reboot: bool,
    sysroot: Option<&'a Path>,
    /// The deployments before the OS step (on an ostree sysroot, when the OS changes).
    deps: Option<&'a [os::Deployment]>,
}

fn run_steps(
    root: &Root,
    c: &StepCtx<'_>,
    steps: &[ops::Step<'_>],
    os_cmds: &[(&'static str, Vec<String>)],
    j: &mut journal::Journal,
) -> Result<Applied> {
    let missing = j
        .entries
        .iter()
        .filter(|e| e.backup.is_none())
        .map(|e| e.path.as_str())
        .collect();
    let mut w = Writer {
        dirs: fsops::Dirs::default(),
        missing,
        staged: fsops::Staged::default(),
    };
    let mut last = "";
    for (step, op) in steps {
        if *step != last {
            w.staged
                .flush(root, hooks::point)
                .with_context(|| format!("step {last}"))?;
            last = step;
        }
        hooks::fail(step)?;
        run_op(root, &mut w, op).with_context(|| format!("step {step}"))?;
        hooks::point();
    }
    w.staged
        .flush(root, hooks::point)
        .with_context(|| format!("step {last}"))?;
    drop(w);
    let mut applied = Applied::default();
    let mut expected = None;
    if !os_cmds.is_empty() {
        // What the OS step copies (the root's /etc, on a sysroot written directly) is on disk.
        fsops::syncfs(root.dir())?;
        let before = c.deps.map(|d| d.iter().map(|d| d.id.clone()).collect());
        journal::mark_os_started(root, j, before)?;
        let program = os::program();
        for (step, args) in os_cmds {
            hooks::fail(step)?;
            ignition::exec::cmd::run(&program, args, None)
                .with_context(|| format!("step {step}"))?;
            hooks::point();
        }
        if c.deps.is_some() {
            let now = os::status(c.sysroot).context("the deployments after the update")?;
            expected = now.first().map(|d| d.checksum.clone());
            if os::direct(&now) {
                let sysroot = c.sysroot.unwrap_or(Path::new("/"));
                applied.new_root = now
                    .first()
                    .map(|d| os::deployment_root(sysroot, d))
                    .filter(|p| !same_dir(p, root.dir()));
            }
        }
    }
    if c.reboot {
        let previous = c.deps.and_then(|d| {
            d.iter()
                .find(|d| d.booted)
                .or(d.first())
                .map(|d| d.id.clone())
        });
        let rec = crate::pending::Pending {
            from: c.old.name().to_string(),
            to: c.new.name().to_string(),
            previous,
            expected,
            rolled_back: None,
        };
        fsops::write_atomic(
            root,
            PENDING,
            &crate::pending::bytes(&rec)?,
            0o644,
            None,
            false,
        )?;
        hooks::point();
    }
    hooks::fail("currentconfig")?;
    let bytes = crate::state::current_bytes(c.new)?;
    fsops::write_atomic(root, CURRENT_CONFIG, &bytes, 0o644, None, false)?;
    hooks::point();
    if let Some(nr) = &applied.new_root {
        journal::carry_over(root, nr)?;
        hooks::point();
    }
    hooks::fail("commit")?;
    Ok(applied)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Whether `root` is the booted system with systemd running (live actions over D-Bus).
pub fn booted(root: &Root) -> bool {
    root.dir() == Path::new("/") && Path::new("/run/systemd/system").exists()
}
