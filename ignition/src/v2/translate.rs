//! 2.x → 3.x: the `ignition`, `passwd`, `systemd` and `networkd` sections,
//! and the rules for entries that 2.x allowed twice.

use std::collections::HashMap;

use super::storage;
use super::types as old;
use crate::jpath;
use crate::model::{
    Config, Dropin, Ignition, IgnitionConfig, Passwd, PasswdGroup, PasswdUser, Resource, Security,
    Systemd, Timeouts, Tls, Unit, Verification,
};
use crate::path::JsonPath;
use crate::report::Report;
use crate::version::SpecVersion;

/// The version a translated config has (the caller validates it with 3.0's rules).
pub const TARGET: &str = "3.0.0";

pub fn config(
    c: &old::Config,
    version: SpecVersion,
    mount_paths: &HashMap<String, String>,
    r: &mut Report,
) -> Config {
    networkd(&c.networkd, r);
    Config {
        ignition: ignition(&c.ignition),
        passwd: passwd(&c.passwd, r),
        storage: storage::storage(&c.storage, version, mount_paths, r),
        systemd: systemd(&c.systemd, r),
        ..Config::default()
    }
}

/// A string whose empty value means unset in 2.x.
pub fn some_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A boolean whose false value means unset in 2.x.
pub fn some_true(b: bool) -> Option<bool> {
    b.then_some(true)
}

/// Two settings of one field: equal, or at most one of them set.
pub fn either<T: Clone + PartialEq + Default>(a: &T, b: &T) -> Option<T> {
    let unset = T::default();
    if *a == unset || a == b {
        Some(b.clone())
    } else if *b == unset {
        Some(a.clone())
    } else {
        None
    }
}

/// Entries of a list that 3.x keys by `key` (2.x allowed repeats). A later
/// entry with the key of an earlier one is merged into it when `merge` can
/// (it returns `None` on a conflict), dropped with a warning when it is the
/// same, and an error otherwise. Returns the entries with their 2.x paths.
pub fn combine<T: Clone + PartialEq>(
    entries: Vec<(JsonPath, String, T)>,
    what: &str,
    r: &mut Report,
    merge: impl Fn(&T, &T) -> Option<T>,
) -> Vec<(JsonPath, T)> {
    let mut out: Vec<(JsonPath, String, T)> = Vec::new();
    for (at, key, item) in entries {
        let first = out
            .iter_mut()
            .find(|(_, k, _)| !key.is_empty() && *k == key);
        let Some((first_at, _, first)) = first else {
            out.push((at, key, item));
            continue;
        };
        if let Some(merged) = merge(first, &item) {
            *first = merged;
        } else if *first == item {
            r.warning(
                at,
                format!("duplicate of the {what} at {first_at}; dropped"),
            );
        } else {
            r.error(
                at,
                format!(
                    "{what} {key:?} conflicts with the one at {first_at}; cannot translate to spec 3"
                ),
            );
        }
    }
    out.into_iter().map(|(at, _, t)| (at, t)).collect()
}

/// Entries that may only repeat verbatim.
pub fn no_merge<T>(_: &T, _: &T) -> Option<T> {
    None
}

fn reference(r: &old::Reference) -> Resource {
    Resource {
        source: Some(r.source.clone()),
        verification: Verification {
            hash: r.verification.hash.clone(),
        },
        ..Resource::default()
    }
}

fn ignition(i: &old::Ignition) -> Ignition {
    Ignition {
        config: IgnitionConfig {
            merge: i.config.append.iter().map(reference).collect(),
            replace: i.config.replace.as_ref().map(reference).unwrap_or_default(),
        },
        security: Security {
            tls: Tls {
                certificate_authorities: i
                    .security
                    .tls
                    .certificate_authorities
                    .iter()
                    .map(reference)
                    .collect(),
            },
        },
        timeouts: Timeouts {
            http_response_headers: i.timeouts.http_response_headers,
            http_total: i.timeouts.http_total,
        },
        version: TARGET.to_string(),
        ..Ignition::default()
    }
}

fn networkd(n: &old::Networkd, r: &mut Report) {
    for i in 0..n.units.len() {
        r.error(
            jpath!["networkd", "units", i],
            "networkd units cannot be translated to spec 3; write them as storage.files under /etc/systemd/network/",
        );
    }
}

fn passwd(p: &old::Passwd, r: &mut Report) -> Passwd {
    let mut users = Vec::new();
    for (i, u) in p.users.iter().enumerate() {
        let at = jpath!["passwd", "users", i];
        if u.create.is_some() {
            r.error(
                at.key("create"),
                "create is deprecated and cannot be translated to spec 3; set the user's own fields instead",
            );
            continue;
        }
        let user = PasswdUser {
            gecos: some_str(&u.gecos),
            groups: u.groups.clone(),
            home_dir: some_str(&u.home_dir),
            name: u.name.clone(),
            no_create_home: some_true(u.no_create_home),
            no_log_init: some_true(u.no_log_init),
            no_user_group: some_true(u.no_user_group),
            password_hash: u.password_hash.clone(),
            primary_group: some_str(&u.primary_group),
            ssh_authorized_keys: u.ssh_authorized_keys.clone(),
            shell: some_str(&u.shell),
            system: some_true(u.system),
            uid: u.uid,
            should_exist: None,
        };
        users.push((at, u.name.clone(), user));
    }
    let groups = p.groups.iter().enumerate().map(|(i, g)| {
        let group = PasswdGroup {
            gid: g.gid,
            name: g.name.clone(),
            password_hash: some_str(&g.password_hash),
            system: some_true(g.system),
            should_exist: None,
        };
        (jpath!["passwd", "groups", i], g.name.clone(), group)
    });
    Passwd {
        users: strip(combine(users, "user", r, no_merge)),
        groups: strip(combine(groups.collect(), "group", r, no_merge)),
    }
}

pub fn strip<T>(entries: Vec<(JsonPath, T)>) -> Vec<T> {
    entries.into_iter().map(|(_, t)| t).collect()
}

fn systemd(s: &old::Systemd, r: &mut Report) -> Systemd {
    let mut units = Vec::new();
    for (i, u) in s.units.iter().enumerate() {
        let at = jpath!["systemd", "units", i];
        // `enabled` wins over the deprecated `enable`, as in ign-converter.
        let enabled = match u.enabled {
            Some(false) => {
                if u.enable {
                    r.warning(
                        at.key("enable"),
                        "enable is deprecated and enabled is false; the unit is not enabled",
                    );
                }
                Some(false)
            }
            Some(true) => Some(true),
            None => some_true(u.enable),
        };
        let dropins = u.dropins.iter().enumerate().map(|(j, d)| {
            let dropin = Dropin {
                contents: some_str(&d.contents),
                name: d.name.clone(),
            };
            (at.key("dropins").index(j), d.name.clone(), dropin)
        });
        let unit = Unit {
            contents: some_str(&u.contents),
            dropins: strip(combine(dropins.collect(), "dropin", r, no_merge)),
            enabled,
            mask: some_true(u.mask),
            name: u.name.clone(),
        };
        units.push((at, u.name.clone(), unit));
    }
    Systemd {
        units: strip(combine(units, "unit", r, merge_unit)),
    }
}

/// 2.x wrote a unit's contents, dropins and presets entry by entry, so two
/// entries for one unit add up unless they set a field differently.
fn merge_unit(a: &Unit, b: &Unit) -> Option<Unit> {
    let mut dropins = a.dropins.clone();
    for d in &b.dropins {
        match dropins.iter().find(|x| x.name == d.name) {
            Some(x) if x != d => return None,
            Some(_) => {}
            None => dropins.push(d.clone()),
        }
    }
    Some(Unit {
        contents: either(&a.contents, &b.contents)?,
        dropins,
        enabled: either(&a.enabled, &b.enabled)?,
        mask: either(&a.mask, &b.mask)?,
        name: a.name.clone(),
    })
}
