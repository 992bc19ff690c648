//! The commands: each loads what it needs, calls the pure planning, and applies at the edge.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ignition::exec::root::Root;

use crate::apply::{self, journal, os};
use crate::config::Desired;
use crate::logging::ids;
use crate::paths;
use crate::plan::{self, Plan};
use crate::policy::Policy;
use crate::state::{self, NodeState};

/// What every command gets from the global options.
pub struct Ctx {
    pub root: Root,
    pub sysroot: Option<PathBuf>,
}

impl Ctx {
    pub fn new(root: &Path, sysroot: Option<PathBuf>) -> Result<Ctx> {
        let root = Root::new(root).with_context(|| format!("--root {}", root.display()))?;
        let sysroot = os::sysroot_for(&root, sysroot.as_deref());
        Ok(Ctx { root, sysroot })
    }

    fn options(&self, full: bool) -> apply::Options {
        apply::Options {
            sysroot: self.sysroot.clone(),
            full,
        }
    }

    fn policy(&self) -> Result<Policy> {
        Policy::load(&self.root.host(paths::POLICY))
    }

    fn force_file(&self) -> PathBuf {
        self.root.host(paths::FORCE_FILE)
    }
}

/// Finishes or rolls back an interrupted apply, recording the outcome.
pub fn recover_journal(ctx: &Ctx) -> Result<()> {
    match journal::recover(&ctx.root)? {
        journal::Recovered::Nothing => {}
        journal::Recovered::Finished { to } => {
            tracing::info!(message_id = ids::DONE, config = %to, "finished the interrupted apply of {to}");
            let st = if crate::pending::read(&ctx.root)?.is_some() {
                NodeState::Rebooting
            } else {
                NodeState::Done
            };
            state::set(&ctx.root, st, "", &to, &to)?;
        }
        journal::Recovered::RolledBack { from, to } => {
            let reason = format!("the apply of {to} was interrupted and rolled back to {from}");
            tracing::warn!(message_id = ids::ROLLED_BACK, config = %to, "{reason}");
            state::set(&ctx.root, NodeState::Degraded, &reason, &from, &to)?;
        }
    }
    Ok(())
}

/// Plans from `old` (the current config, [lightened](Desired::lighten)) to `new`.
fn load_plan(ctx: &Ctx, old: Desired, new: &Desired) -> Result<(Desired, Plan)> {
    let force = ctx.force_file().exists();
    let p = plan::plan(&old, new, &ctx.policy()?, force);
    Ok((old, p))
}

/// `mcd plan NEW`: prints the diff, the plan and the operations; changes nothing.
/// Exit status 1 when the update would be refused.
pub fn plan_cmd(ctx: &Ctx, source: &str, json: bool) -> Result<i32> {
    // The current config first: only its lightened form is held while the new one is parsed.
    let old = state::current_light(&ctx.root)?;
    let new = crate::source::load(source)?;
    let (old, p) = load_plan(ctx, old, &new)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        if journal::read(&ctx.root)?.is_some() {
            println!("note: an interrupted apply is pending; the next once-from or recover finishes or rolls it back");
        }
        print!("{}", p.render());
        if p.refused.is_empty() && !p.diff.is_empty() {
            println!("operations:");
            for l in apply::describe(&ctx.root, &old, &new, &p, &ctx.options(false))? {
                println!("  {l}");
            }
        }
    }
    Ok(if p.refused.is_empty() { 0 } else { 1 })
}

fn degrade(ctx: &Ctx, current: &str, desired: &str, reason: &str) {
    tracing::error!(message_id = ids::DEGRADED, config = %desired, "Degraded: {reason}");
    if let Err(e) = state::set(&ctx.root, NodeState::Degraded, reason, current, desired) {
        tracing::error!("writing the state file: {e:#}");
    }
}

/// `mcd once-from SOURCE`.
pub fn once_from(ctx: &Ctx, source: &str) -> Result<()> {
    recover_journal(ctx)?;
    // The current config first: only its lightened form is held while the new one is parsed.
    let old = state::current_light(&ctx.root)?;
    let new = crate::source::load(source)?;
    update(ctx, old, &new, false)
}

/// Moves the node to `new`: checks the on-disk state (unless forced), plans, applies, acts.
fn update(ctx: &Ctx, old: Desired, new: &Desired, skip_validation: bool) -> Result<()> {
    let (old, p) = load_plan(ctx, old, new)?;
    let force = ctx.force_file();
    if force.exists() {
        std::fs::remove_file(&force).with_context(|| format!("removing {}", paths::FORCE_FILE))?;
        tracing::info!(
            "{} present: skipping the on-disk validation once",
            paths::FORCE_FILE
        );
    } else if !skip_validation {
        let drift = crate::validate::validate(&ctx.root, &old, ctx.sysroot.as_deref());
        if !drift.is_empty() {
            let reason = format!(
                "on-disk state does not match {}: {}",
                old.name(),
                drift.join("; ")
            );
            degrade(ctx, old.name(), new.name(), &reason);
            bail!("{reason} (see `mcd recover` or {})", paths::FORCE_FILE);
        }
    }
    if !p.refused.is_empty() {
        let reason = format!(
            "unreconcilable: {}",
            p.refused
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
        degrade(ctx, old.name(), new.name(), &reason);
        bail!("{reason}");
    }
    if p.diff.is_empty() {
        println!("{}: nothing to do", new.name());
        state::set(&ctx.root, NodeState::Done, "", new.name(), new.name())?;
        return Ok(());
    }
    tracing::info!(message_id = ids::UPDATE_STARTED, from = %old.name(), to = %new.name(), "update {} -> {} started", old.name(), new.name());
    state::set(&ctx.root, NodeState::Working, "", old.name(), new.name())?;
    let applied = match apply::apply(&ctx.root, &old, new, &p, &ctx.options(false)) {
        Ok(a) => a,
        Err(e) => {
            degrade(ctx, old.name(), new.name(), &format!("{e:#}"));
            return Err(e);
        }
    };
    tracing::info!(message_id = ids::UPDATE_APPLIED, config = %new.name(), "applied {}", new.name());
    println!(
        "applied {} (actions: {})",
        new.name(),
        p.actions
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    finish(ctx, new, &p, &applied)
}

/// Writes the state, and into a deployment the OS step wrote directly (its /etc is a copy).
fn set_state(ctx: &Ctx, applied: &apply::Applied, st: NodeState, name: &str) -> Result<()> {
    state::set(&ctx.root, st, "", name, name)?;
    if let Some(nr) = &applied.new_root {
        state::set(&Root::new(nr)?, st, "", name, name)?;
    }
    Ok(())
}

/// The live actions, then Done, or the reboot (Rebooting; `mcd verify-boot` after the boot).
fn finish(ctx: &Ctx, new: &Desired, p: &Plan, applied: &apply::Applied) -> Result<()> {
    let booted = apply::booted(&ctx.root);
    let live: Vec<_> = p
        .actions
        .iter()
        .filter(|a| !matches!(a, crate::policy::Action::Reboot))
        .cloned()
        .collect();
    match crate::systemd::run_actions(booted, &live, !p.diff.units.is_empty()) {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) => {
            let reason = format!(
                "applied {}, but the post-update actions failed: {e:#}",
                new.name()
            );
            degrade(ctx, new.name(), new.name(), &reason);
            return Err(anyhow!(reason));
        }
    }
    if p.reboot() {
        tracing::info!(message_id = ids::REBOOTING, config = %new.name(), "rebooting into {}", new.name());
        set_state(ctx, applied, NodeState::Rebooting, new.name())?;
        if booted {
            crate::systemd::Bus::system()?.reboot()?;
            return Ok(());
        }
        println!("reboot: skipped (no systemd under --root); after the boot, `mcd verify-boot` checks the node and records {}", new.name());
        return Ok(());
    }
    if let Some(pend) = crate::pending::read(&ctx.root)? {
        println!(
            "a reboot is still pending (for {}); `mcd verify-boot` after it",
            pend.to
        );
        return set_state(ctx, applied, NodeState::Rebooting, new.name());
    }
    tracing::info!(message_id = ids::DONE, config = %new.name(), "node is at {}", new.name());
    set_state(ctx, applied, NodeState::Done, new.name())
}

/// `mcd validate`: exit status 1 and one line per difference on drift.
pub fn validate_cmd(ctx: &Ctx) -> Result<i32> {
    let force = ctx.force_file();
    if force.exists() {
        std::fs::remove_file(&force).with_context(|| format!("removing {}", paths::FORCE_FILE))?;
        println!("{} present: validation skipped once", paths::FORCE_FILE);
        return Ok(0);
    }
    let mut diffs = Vec::new();
    if journal::read(&ctx.root)?.is_some() {
        diffs.push(format!(
            "an interrupted apply is pending ({})",
            paths::JOURNAL
        ));
    }
    let cur = state::current(&ctx.root)?;
    diffs.extend(crate::validate::validate(
        &ctx.root,
        &cur,
        ctx.sysroot.as_deref(),
    ));
    for d in &diffs {
        println!("{d}");
    }
    if diffs.is_empty() {
        println!("{}: on-disk state matches", cur.name());
        Ok(0)
    } else {
        println!("drift: {} difference(s) from {}", diffs.len(), cur.name());
        Ok(1)
    }
}

/// `mcd recover [--accept-on-disk]`.
pub fn recover_cmd(ctx: &Ctx, accept_on_disk: bool) -> Result<()> {
    recover_journal(ctx)?;
    let cur = state::current(&ctx.root)?;
    if accept_on_disk {
        println!("accepted the on-disk state as {}", cur.name());
        return state::set(
            &ctx.root,
            NodeState::Done,
            "on-disk state accepted by mcd recover --accept-on-disk",
            cur.name(),
            cur.name(),
        );
    }
    let p = plan::plan(&cur, &cur, &ctx.policy()?, false);
    apply::apply(&ctx.root, &cur, &cur, &p, &ctx.options(true)).map_err(|e| {
        degrade(ctx, cur.name(), cur.name(), &format!("{e:#}"));
        e
    })?;
    let drift = crate::validate::validate(&ctx.root, &cur, ctx.sysroot.as_deref());
    if !drift.is_empty() {
        let reason = format!("re-applied {}, still: {}", cur.name(), drift.join("; "));
        degrade(ctx, cur.name(), cur.name(), &reason);
        bail!("{reason}");
    }
    println!("re-applied {}", cur.name());
    state::set(&ctx.root, NodeState::Done, "", cur.name(), cur.name())
}

/// `mcd firstboot-complete-machineconfig`: what Ignition could not do (OS image, kernel
/// arguments) from the encapsulated MachineConfig, then one reboot if anything changed.
pub fn firstboot(ctx: &Ctx) -> Result<()> {
    recover_journal(ctx)?;
    let path = ctx.root.host(paths::ENCAPSULATED);
    let raw = std::fs::read(&path).with_context(|| format!("reading {}", paths::ENCAPSULATED))?;
    let new = crate::source::desired(&raw, paths::ENCAPSULATED)?;
    drop(raw);
    // Ignition wrote the files; the OS image and kernel arguments are still the image's.
    let mut old = new.clone();
    old.mc.spec.os_image_url.clear();
    old.mc.spec.kernel_arguments.clear();
    old.kargs.clear();
    old.mc.metadata.name = "firstboot".into();
    let p = plan::plan(&old, &new, &Policy::default(), false);
    state::set(&ctx.root, NodeState::Working, "", "", new.name())?;
    let applied = match apply::apply(&ctx.root, &old, &new, &p, &ctx.options(false)) {
        Ok(a) => a,
        Err(e) => {
            degrade(ctx, "", new.name(), &format!("{e:#}"));
            return Err(e);
        }
    };
    std::fs::rename(&path, ctx.root.host(paths::ENCAPSULATED_BAK))
        .with_context(|| format!("moving {} away", paths::ENCAPSULATED))?;
    println!("firstboot: {} recorded as current", new.name());
    finish(ctx, &new, &p, &applied)
}
