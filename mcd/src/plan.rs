//! The plan for a diff: refused, nothing, or the least disruptive actions the node disruption
//! policies allow; anything they do not cover, and every OS or kernel-argument change, means
//! drain and reboot. Pure.

use serde::Serialize;

use crate::config::Desired;
use crate::diff::{Diff, Refusal};
use crate::policy::{Action, Policy, CRIO, REGISTRIES_CONF};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub diff: Diff,
    /// Non-empty: the update is refused and nothing is touched.
    pub refused: Vec<Refusal>,
    /// After the files are written, in order. `[None]` when nothing else is needed.
    pub actions: Vec<Action>,
    /// Why each action is there, one line each.
    pub reasons: Vec<String>,
}

impl Plan {
    pub fn reboot(&self) -> bool {
        self.actions.contains(&Action::Reboot)
    }
    pub fn drain(&self) -> bool {
        self.actions.contains(&Action::Drain)
    }

    /// Human-readable text for `mcd plan`.
    pub fn render(&self) -> String {
        let mut s = format!(
            "update {} -> {}\n",
            show(&self.diff.from),
            show(&self.diff.to)
        );
        let lines = self.diff.lines();
        if lines.is_empty() {
            s.push_str("diff: none\n");
        } else {
            s.push_str("diff:\n");
            for l in lines {
                s.push_str(&format!("  {l}\n"));
            }
        }
        if !self.refused.is_empty() {
            s.push_str("plan: REFUSED (nothing will be changed)\n");
            for r in &self.refused {
                s.push_str(&format!("  {r}\n"));
            }
            return s;
        }
        let actions: Vec<String> = self.actions.iter().map(|a| a.to_string()).collect();
        s.push_str(&format!(
            "plan: write files and units, then {}\n",
            actions.join(", ")
        ));
        for r in &self.reasons {
            s.push_str(&format!("  because {r}\n"));
        }
        s
    }
}

fn show(name: &str) -> &str {
    if name.is_empty() {
        "(none)"
    } else {
        name
    }
}

/// `registries.conf` changes are safe without a drain when every old line is still there
/// (entries only added). OpenShift parses the TOML and compares registries and mirrors; this is
/// the conservative line-level version of the same rule.
fn registries_only_added(old: &Desired, new: &Desired) -> bool {
    let (Some(o), Some(n)) = (
        old.files.get(REGISTRIES_CONF),
        new.files.get(REGISTRIES_CONF),
    ) else {
        return false;
    };
    let (Some(o), Some(n)) = (o.contents.data(), n.contents.data()) else {
        return false;
    };
    let n = String::from_utf8_lossy(n);
    let new_lines: std::collections::HashSet<&str> = n.lines().map(str::trim).collect();
    String::from_utf8_lossy(o)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .all(|l| new_lines.contains(l))
}

/// Plans the update from `old` to `new`. `force`: the force file is present (OpenShift reboots then).
pub fn plan(old: &Desired, new: &Desired, policy: &Policy, force: bool) -> Plan {
    let diff = crate::diff::diff(old, new);
    let mut p = Plan {
        refused: diff.refused.clone(),
        actions: Vec::new(),
        reasons: Vec::new(),
        diff,
    };
    if !p.refused.is_empty() {
        return p;
    }
    let reboot = |p: &mut Plan, why: String| {
        p.actions = vec![Action::Drain, Action::Reboot];
        p.reasons = vec![why];
    };
    if force {
        reboot(&mut p, format!("{} is present", crate::paths::FORCE_FILE));
        return p;
    }
    if p.diff.os_image.is_some() {
        reboot(&mut p, "the OS image changes".into());
        return p;
    }
    if p.diff.kargs.is_some() {
        reboot(&mut p, "the kernel arguments change".into());
        return p;
    }
    let mut actions: Vec<Action> = Vec::new();
    let mut reasons = Vec::new();
    let paths: Vec<String> = p.diff.file_paths().into_iter().map(String::from).collect();
    for path in &paths {
        match policy.for_file(path) {
            None => {
                reboot(
                    &mut p,
                    format!("no node disruption policy covers file {path}"),
                );
                return p;
            }
            Some(list) => {
                for a in list {
                    if *a == Action::Special {
                        if !registries_only_added(old, new) {
                            actions.push(Action::Drain);
                            reasons.push(format!(
                                "{path}: entries changed or removed (drain, reload {CRIO})"
                            ));
                        } else {
                            reasons.push(format!("{path}: entries only added (reload {CRIO})"));
                        }
                        actions.push(Action::reload(CRIO));
                    } else {
                        actions.push(a.clone());
                        reasons.push(format!("{path}: policy {a}"));
                    }
                }
            }
        }
    }
    let units = p.diff.units.clone();
    for unit in &units {
        match policy.for_unit(unit) {
            None => {
                reboot(
                    &mut p,
                    format!("no node disruption policy covers unit {unit}"),
                );
                return p;
            }
            Some(list) => {
                actions.extend(list.iter().cloned());
                reasons.push(format!(
                    "unit {unit}: policy {}",
                    list.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if p.diff.ssh_keys {
        actions.extend(policy.ssh_key.iter().cloned());
        reasons.push(
            "SSH keys: policy ".to_string()
                + &policy
                    .ssh_key
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
        );
    }
    if p.diff.password {
        actions.push(Action::None);
        reasons.push("password of core: none (written with usermod)".into());
    }
    if actions.contains(&Action::Reboot) {
        actions = vec![Action::Drain, Action::Reboot];
    } else {
        actions.retain(|a| *a != Action::None);
        // Drain first, then daemon-reload, then reloads and restarts, each once, in order.
        let mut ordered = Vec::new();
        for pick in [
            |a: &Action| *a == Action::Drain,
            |a: &Action| *a == Action::DaemonReload,
            |a: &Action| matches!(a, Action::Reload { .. } | Action::Restart { .. }),
        ] {
            for a in actions.iter().filter(|a| pick(a)) {
                if !ordered.contains(a) {
                    ordered.push(a.clone());
                }
            }
        }
        // A restart of a service makes a reload of it redundant (OpenShift: a restart of CRI-O wins).
        let restarted: Vec<String> = ordered
            .iter()
            .filter_map(|a| match a {
                Action::Restart { service } => Some(service.service_name.clone()),
                _ => None,
            })
            .collect();
        ordered.retain(|a| !matches!(a, Action::Reload { service } if restarted.contains(&service.service_name)));
        actions = ordered;
        if actions.is_empty() {
            actions.push(Action::None);
        }
    }
    p.actions = actions;
    p.reasons = reasons;
    p
}
