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
use crate::paths::CURRENT_CONFIG;
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

fn run_op(root: &Root, op: &Op<'_>) -> Result<()> {
    match op {
        Op::Write {
            path,
            data,
            mode,
            owner,
        } => fsops::write_atomic(root, path, data, *mode, Some(*owner), false),
        Op::Symlink { path, target } => fsops::symlink(root, path, target),
        Op::Remove { path } => fsops::remove(root, path),
        Op::Rename { from, to } => fsops::rename(root, from, to),
        Op::Backup { path } => {
            let src = root.host(&root.resolve(path)?);
            let dst = fsops::prepare(root, &crate::paths::orig_of(path))?;
            fsops::copy_exact(&src, &dst).with_context(|| format!("keeping the original of {path}"))
        }
        Op::Stamp { path } => fsops::write_atomic(
            root,
            &crate::paths::noorig_of(path),
            b"",
            0o644,
            None,
            false,
        ),
        Op::Mkdir { path, mode, owner } => fsops::mkdir(root, path, *mode, *owner),
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

/// Applies `plan` (from `old` to `new`) on `root`. On error, everything is rolled back before
/// the error is returned.
pub fn apply(root: &Root, old: &Desired, new: &Desired, plan: &Plan, opts: &Options) -> Result<()> {
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
    let mut touched: Vec<String> = steps.iter().flat_map(|(_, op)| op.touched()).collect();
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
    let result = run_steps(root, new, &steps, &os_cmds, &mut j);
    match result {
        Ok(()) => journal::commit(root, &mut j),
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

fn run_steps(
    root: &Root,
    new: &Desired,
    steps: &[ops::Step<'_>],
    os_cmds: &[(&'static str, Vec<String>)],
    j: &mut journal::Journal,
) -> Result<()> {
    for (step, op) in steps {
        hooks::fail(step)?;
        run_op(root, op).with_context(|| format!("step {step}"))?;
        hooks::point();
    }
    if !os_cmds.is_empty() {
        fsops::syncfs(root.dir())?;
        journal::mark_os_started(root, j)?;
        let program = os::program();
        for (step, args) in os_cmds {
            hooks::fail(step)?;
            ignition::exec::cmd::run(&program, args, None)
                .with_context(|| format!("step {step}"))?;
            hooks::point();
        }
    }
    hooks::fail("currentconfig")?;
    let bytes = crate::state::current_bytes(new)?;
    fsops::write_atomic(root, CURRENT_CONFIG, &bytes, 0o644, None, false)?;
    hooks::point();
    hooks::fail("commit")?;
    Ok(())
}

/// Whether `root` is the booted system with systemd running (live actions over D-Bus).
pub fn booted(root: &Root) -> bool {
    root.dir() == Path::new("/") && Path::new("/run/systemd/system").exists()
}
