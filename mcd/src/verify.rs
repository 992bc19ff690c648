//! After the reboot into an update (`mcd verify-boot`): is the node on the deployment the
//! update staged, healthy (a boot-complete check with a timeout), and are its files, units and
//! kernel arguments those of the config? Only then the config is recorded as current (Done).
//! An unhealthy new deployment is rolled back (`rpm-ostree rollback`, reboot) and the node is
//! Degraded with the reason. The decision ([`decide`]) is pure; [`run`] gathers the facts and acts.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::apply::os;
use crate::commands::Ctx;
use crate::logging::ids;
use crate::pending::{self, Pending};
use crate::state::{self, NodeState};

/// What "the boot completed" means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootCheck {
    /// A systemd unit (usually a target) is active, asked over D-Bus (booted system only).
    Unit(String),
    /// A file exists under the root.
    File(String),
    /// A shell command exits 0.
    Command(String),
    /// No check (the default under `--root`, where nothing boots).
    None,
}

impl FromStr for BootCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match (kind, arg) {
            ("none", "") => Ok(BootCheck::None),
            ("unit", a) if !a.is_empty() => Ok(BootCheck::Unit(a.into())),
            ("file", a) if a.starts_with('/') => Ok(BootCheck::File(a.into())),
            ("command", a) if !a.is_empty() => Ok(BootCheck::Command(a.into())),
            _ => Err(format!(
                "{s:?}: expected unit:NAME, file:/PATH, command:CMD or none"
            )),
        }
    }
}

/// `300`, `300s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let v: f64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected seconds, or a number with s, m or h"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("{s:?}: not a duration"));
    }
    Ok(Duration::from_secs_f64(v * mult as f64))
}

/// The outcome of the boot-complete check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy(String),
}

/// What was found after the boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Checksum of the booted deployment (under a root: the default one); `None`: unknown.
    pub booted: Option<String>,
    /// Differences between the disk and the config (`validate`).
    pub drift: Vec<String>,
    pub health: Health,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Record the config as current: state Done, the record goes.
    Done,
    /// The new deployment is not healthy: `rpm-ostree rollback`, reboot, Degraded.
    RollBack(String),
    /// Degraded, deployments left alone (wrong deployment booted, drift).
    Degraded(String),
    /// Booted back after our rollback: stays Degraded, the record goes.
    RolledBack(String),
}

fn checksum(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

/// The decision table. Order: a finished rollback; the booted deployment (rolling back from a
/// deployment we are not on makes no sense); health (an unhealthy new deployment is rolled
/// back); drift (the OS is fine, the files are not: Degraded, `mcd recover` fixes it).
pub fn decide(p: &Pending, o: &Observed) -> Verdict {
    if let Some(why) = &p.rolled_back {
        return Verdict::RolledBack(format!(
            "{} was rolled back to the previous deployment: {why}",
            p.to
        ));
    }
    if let Some(want) = &p.expected {
        match &o.booted {
            None => {
                return Verdict::Degraded(format!(
                    "cannot tell which deployment is booted; {} expects {want}",
                    p.to
                ))
            }
            Some(have) if have != want => {
                let prev = p.previous.as_deref().map(checksum);
                return Verdict::Degraded(if prev == Some(have.as_str()) {
                    format!("the previous deployment {have} is booted, not {want} of {}: the new deployment did not come up", p.to)
                } else {
                    format!("deployment {have} is booted, not {want} of {}", p.to)
                });
            }
            _ => {}
        }
    }
    if let Health::Unhealthy(why) = &o.health {
        return Verdict::RollBack(format!(
            "the new deployment of {} is not healthy: {why}",
            p.to
        ));
    }
    if !o.drift.is_empty() {
        return Verdict::Degraded(format!(
            "after the reboot the node does not match {}: {}",
            p.to,
            o.drift.join("; ")
        ));
    }
    Verdict::Done
}

/// Runs the boot-complete check until it passes or `timeout` runs out.
pub fn check_health(ctx: &Ctx, check: &BootCheck, timeout: Duration) -> Result<Health> {
    let start = Instant::now();
    let bus = match check {
        BootCheck::Unit(_) if !crate::apply::booted(&ctx.root) => {
            bail!("--boot-check unit:... needs the booted system (--root /, systemd running)")
        }
        BootCheck::Unit(_) => Some(crate::systemd::Bus::system()?),
        _ => None,
    };
    loop {
        let state = match check {
            BootCheck::None => return Ok(Health::Healthy),
            BootCheck::File(f) => ctx
                .root
                .host(f)
                .exists()
                .then_some(())
                .ok_or_else(|| format!("{f} does not exist")),
            BootCheck::Command(c) => {
                match ignition::exec::cmd::run("sh", &["-c".to_string(), c.clone()], None) {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
            BootCheck::Unit(u) => {
                let s = bus
                    .as_ref()
                    .ok_or_else(|| anyhow!("no bus"))?
                    .active_state(u)?;
                match s.as_str() {
                    "active" => Ok(()),
                    "failed" => return Ok(Health::Unhealthy(format!("{u} failed"))),
                    other => Err(format!("{u} is {other}")),
                }
            }
        };
        match state {
            Ok(()) => return Ok(Health::Healthy),
            Err(why) if start.elapsed() >= timeout => {
                return Ok(Health::Unhealthy(format!(
                    "boot not complete after {:.0?}: {why}",
                    timeout
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200).min(timeout)),
        }
    }
}

/// The booted (or, on a sysroot nothing is booted from, the default) deployment's checksum.
fn booted_checksum(sysroot: Option<&Path>) -> Option<String> {
    let deps = os::status(sysroot).ok()?;
    deps.iter()
        .find(|d| d.booted)
        .or(if os::direct(&deps) {
            deps.first()
        } else {
            None
        })
        .map(|d| d.checksum.clone())
}

/// Whether the node booted the deployment it had before the update: after our rollback, or
/// when the new deployment did not come up (the boot loader fell back).
pub fn on_previous(p: &Pending, o: &Observed) -> bool {
    if p.rolled_back.is_some() {
        return true;
    }
    match (&p.expected, &o.booted, &p.previous) {
        (Some(want), Some(have), Some(prev)) => have != want && have == checksum(prev),
        _ => false,
    }
}

/// Writes `rec` into the previous deployment's /etc when that is not the root's own (the
/// booted system: the new deployment got a copy of /etc when it was staged).
fn mark_previous(ctx: &Ctx, rec: &Pending) -> Result<()> {
    let Some(prev) = rec.previous.as_deref() else {
        return Ok(());
    };
    let deps = os::status(ctx.sysroot.as_deref())?;
    let Some(d) = deps.iter().find(|d| d.id == prev) else {
        return Ok(());
    };
    let dir = os::deployment_root(ctx.sysroot.as_deref().unwrap_or(Path::new("/")), d);
    let same = match (dir.canonicalize(), ctx.root.dir().canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same || !dir.join("etc/machine-config-daemon").is_dir() {
        return Ok(());
    }
    let r = ignition::exec::root::Root::new(&dir)
        .with_context(|| format!("the previous deployment {}", dir.display()))?;
    pending::write(&r, rec).with_context(|| format!("in {}", dir.display()))
}

/// How [`verify`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The node is at `to`, verified: recorded as current, state Done, the record gone.
    Verified { to: String },
    /// Degraded with the reason, deployments left alone (or back after our rollback, or the
    /// rollback itself failed); the record gone. `back_at`: the config the node came from
    /// (`from`) when the previous deployment is the one booted (rolled back, or the new one
    /// did not come up): the OS is that config's again.
    Degraded {
        to: String,
        reason: String,
        back_at: Option<String>,
    },
    /// The new deployment was unhealthy: `rpm-ostree rollback` ran, the record is marked
    /// `rolledBack`, state Degraded; on the booted system logind was asked to reboot, under a
    /// root the caller carries out (or skips) the reboot into the previous deployment.
    RolledBack { to: String, reason: String },
}

/// The verification after the reboot into an update (the pending record `pending.json`):
/// gathers the facts (booted deployment, boot-complete check, `validate`), decides with
/// [`decide`] and acts (records the config, rolls back, writes the state). `None`: nothing
/// pending. Used by `mcd verify-boot` and by `mcd start` after a reboot.
pub fn verify(ctx: &Ctx, check: &BootCheck, timeout: Duration) -> Result<Option<Outcome>> {
    crate::commands::recover_journal(ctx)?;
    let Some(p) = pending::read(&ctx.root)? else {
        return Ok(None);
    };
    let booted = if p.expected.is_some() {
        booted_checksum(ctx.sysroot.as_deref())
    } else {
        None
    };
    let health = if p.rolled_back.is_some() {
        Health::Healthy
    } else {
        check_health(ctx, check, timeout)?
    };
    let cur = state::current(&ctx.root)?;
    let drift = crate::validate::validate(&ctx.root, &cur, ctx.sysroot.as_deref());
    drop(cur);
    let o = Observed {
        booted,
        drift,
        health,
    };
    let to = p.to.clone();
    let back_at = on_previous(&p, &o).then(|| p.from.clone());
    let degraded = |reason: String| -> Result<Option<Outcome>> {
        pending::remove(&ctx.root)?;
        tracing::error!(message_id = ids::DEGRADED, config = %p.to, "Degraded: {reason}");
        let current = back_at.as_deref().unwrap_or(&p.to);
        state::set(&ctx.root, NodeState::Degraded, &reason, current, &p.to)?;
        Ok(Some(Outcome::Degraded {
            to: p.to.clone(),
            reason,
            back_at: back_at.clone(),
        }))
    };
    match decide(&p, &o) {
        Verdict::Done => {
            pending::remove(&ctx.root)?;
            tracing::info!(message_id = ids::DONE, config = %p.to, "node is at {} (verified after the reboot)", p.to);
            state::set(&ctx.root, NodeState::Done, "", &p.to, &p.to)?;
            Ok(Some(Outcome::Verified { to }))
        }
        Verdict::Degraded(reason) | Verdict::RolledBack(reason) => degraded(reason),
        Verdict::RollBack(reason) => {
            let mut a: Vec<String> = ctx
                .sysroot
                .as_ref()
                .map(|s| vec![format!("--sysroot={}", s.display())])
                .unwrap_or_default();
            a.push("rollback".into());
            if let Err(e) = ignition::exec::cmd::run(&os::program(), &a, None) {
                return degraded(format!("{reason}; the rollback failed: {e}"));
            }
            let rec = Pending {
                rolled_back: Some(reason.clone()),
                ..p.clone()
            };
            pending::write(&ctx.root, &rec)?;
            // On the booted system the previous deployment has its own /etc (a copy made
            // before the update was staged, holding the unmarked record): mark it there too,
            // so that the boot back reports why it was rolled back.
            if let Err(e) = mark_previous(ctx, &rec) {
                tracing::warn!("marking the rollback in the previous deployment: {e:#}");
            }
            let shown = format!("{reason}; rolled back to the previous deployment");
            tracing::warn!(message_id = ids::ROLLED_BACK, config = %p.to, "{shown}");
            state::set(&ctx.root, NodeState::Degraded, &shown, &p.to, &p.to)?;
            if crate::apply::booted(&ctx.root) {
                tracing::info!(
                    message_id = ids::REBOOTING,
                    "rebooting into the previous deployment"
                );
                crate::systemd::Bus::system()?
                    .reboot()
                    .context("rebooting into the previous deployment")?;
            }
            Ok(Some(Outcome::RolledBack { to, reason: shown }))
        }
    }
}

/// `mcd verify-boot`: exit status 0 when the node is verified (or nothing is pending), 1 when
/// it is Degraded (rolled back or not).
pub fn run(ctx: &Ctx, check: &BootCheck, timeout: Duration) -> Result<i32> {
    match verify(ctx, check, timeout)? {
        None => {
            println!("no update waiting for verification");
            Ok(0)
        }
        Some(Outcome::Verified { to }) => {
            println!("verified {to} after the reboot");
            Ok(0)
        }
        Some(Outcome::Degraded { reason, .. }) => {
            println!("Degraded: {reason}");
            Ok(1)
        }
        Some(Outcome::RolledBack { reason, .. }) => {
            println!("{reason}");
            if !crate::apply::booted(&ctx.root) {
                println!("reboot: skipped (no systemd under --root); the previous deployment is the default again");
            }
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(expected: Option<&str>, rolled_back: Option<&str>) -> Pending {
        Pending {
            from: "r-1".into(),
            to: "r-2".into(),
            previous: Some("aaa.0".into()),
            expected: expected.map(String::from),
            rolled_back: rolled_back.map(String::from),
        }
    }

    fn obs(booted: Option<&str>, drift: &[&str], health: Health) -> Observed {
        Observed {
            booted: booted.map(String::from),
            drift: drift.iter().map(|s| s.to_string()).collect(),
            health,
        }
    }

    #[test]
    fn decision_table() {
        let sick = || Health::Unhealthy("multi-user.target failed".into());
        // (record, observed, expected verdict kind, a word the reason must hold)
        let cases: Vec<(Pending, Observed, &str, &str)> = vec![
            (
                rec(Some("bbb"), None),
                obs(Some("bbb"), &[], Health::Healthy),
                "done",
                "",
            ),
            (rec(None, None), obs(None, &[], Health::Healthy), "done", ""),
            (
                rec(Some("bbb"), None),
                obs(Some("bbb"), &[], sick()),
                "rollback",
                "multi-user.target failed",
            ),
            (
                rec(None, None),
                obs(None, &[], sick()),
                "rollback",
                "not healthy",
            ),
            // unhealthy, and drift too: the deployment is what failed
            (
                rec(Some("bbb"), None),
                obs(Some("bbb"), &["file /etc/x: missing"], sick()),
                "rollback",
                "not healthy",
            ),
            (
                rec(Some("bbb"), None),
                obs(Some("bbb"), &["file /etc/x: missing"], Health::Healthy),
                "degraded",
                "file /etc/x: missing",
            ),
            // the boot loader fell back to the previous deployment: nothing to roll back
            (
                rec(Some("bbb"), None),
                obs(Some("aaa"), &[], sick()),
                "degraded",
                "previous deployment aaa is booted",
            ),
            (
                rec(Some("bbb"), None),
                obs(Some("ccc"), &[], Health::Healthy),
                "degraded",
                "deployment ccc is booted",
            ),
            (
                rec(Some("bbb"), None),
                obs(None, &[], Health::Healthy),
                "degraded",
                "cannot tell",
            ),
            // after our rollback and the reboot
            (
                rec(Some("bbb"), Some("x failed")),
                obs(Some("aaa"), &[], Health::Healthy),
                "rolledback",
                "x failed",
            ),
        ];
        for (i, (p, o, kind, word)) in cases.into_iter().enumerate() {
            let v = decide(&p, &o);
            let (k, reason) = match &v {
                Verdict::Done => ("done", String::new()),
                Verdict::RollBack(r) => ("rollback", r.clone()),
                Verdict::Degraded(r) => ("degraded", r.clone()),
                Verdict::RolledBack(r) => ("rolledback", r.clone()),
            };
            assert_eq!(k, kind, "case {i}: {v:?}");
            assert!(reason.contains(word), "case {i}: {reason}");
        }
    }

    #[test]
    fn back_on_the_previous_deployment() {
        let healthy = Health::Healthy;
        // rolled back by us, then booted back
        assert!(on_previous(
            &rec(Some("bbb"), Some("x failed")),
            &obs(Some("aaa"), &[], healthy.clone())
        ));
        // the boot loader fell back to the previous deployment
        assert!(on_previous(
            &rec(Some("bbb"), None),
            &obs(Some("aaa"), &[], healthy.clone())
        ));
        // on the new deployment, on a third one, unknown, or no sysroot
        assert!(!on_previous(
            &rec(Some("bbb"), None),
            &obs(Some("bbb"), &[], healthy.clone())
        ));
        assert!(!on_previous(
            &rec(Some("bbb"), None),
            &obs(Some("ccc"), &[], healthy.clone())
        ));
        assert!(!on_previous(
            &rec(Some("bbb"), None),
            &obs(None, &[], healthy.clone())
        ));
        assert!(!on_previous(&rec(None, None), &obs(None, &[], healthy)));
    }

    #[test]
    fn boot_checks_and_durations() {
        assert_eq!("none".parse(), Ok(BootCheck::None));
        assert_eq!(
            "unit:multi-user.target".parse(),
            Ok(BootCheck::Unit("multi-user.target".into()))
        );
        assert_eq!(
            "file:/run/ok".parse(),
            Ok(BootCheck::File("/run/ok".into()))
        );
        assert_eq!(
            "command:test -e /x".parse(),
            Ok(BootCheck::Command("test -e /x".into()))
        );
        for bad in ["", "unit:", "file:rel", "bogus:x"] {
            assert!(bad.parse::<BootCheck>().is_err(), "{bad}");
        }
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("x").is_err() && parse_duration("-1").is_err());
    }
}
