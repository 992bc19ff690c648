//! The `systemd` section: unit and drop-in names and contents.

use super::unit;
use crate::jpath;
use crate::model::{Config, Systemd};
use crate::report::Report;

const UNIT_SUFFIXES: [&str; 12] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "snapshot",
    "slice",
    "scope",
];

/// Go's `path.Ext`: the suffix after the last dot of the last element.
fn extension(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rfind('.').map_or("", |i| &base[i + 1..])
}

pub fn validate(s: &Systemd, r: &mut Report) {
    for (i, u) in s.units.iter().enumerate() {
        let at = jpath!["systemd", "units", i];
        let base = u.name.rsplit('/').next().unwrap_or(&u.name);
        if !base.contains('.') || !UNIT_SUFFIXES.contains(&extension(&u.name)) {
            r.error(at.key("name"), "invalid systemd unit extension");
        }
        let parsed = u.contents.as_deref().map(unit::parse);
        match &parsed {
            Some(Err(e)) => r.error(at.key("contents"), format!("invalid unit content: {e}")),
            Some(Ok(opts)) => {
                let has_install = opts.iter().any(|o| o.section == "Install");
                if u.enabled == Some(true)
                    && !u.contents.as_deref().unwrap_or("").is_empty()
                    && !has_install
                {
                    r.warning(
                        at.key("contents"),
                        format!("unit {:?} is enabled, but has no install section so enable does nothing", u.name),
                    );
                }
            }
            None => {}
        }
        for (j, d) in u.dropins.iter().enumerate() {
            let d_at = at.key("dropins").index(j);
            if let Some(Err(e)) = d.contents.as_deref().map(unit::parse) {
                r.error(d_at.key("contents"), format!("invalid unit content: {e}"));
            }
            let base = d.name.rsplit('/').next().unwrap_or(&d.name);
            if !base.contains('.') || extension(&d.name) != "conf" {
                r.error(d_at.key("name"), "invalid systemd drop-in extension");
            }
        }
    }
}

/// From 3.5: a file, directory or link may not sit where a configured unit
/// or drop-in with contents will be written.
pub fn conflicts_with_storage(cfg: &Config, r: &mut Report) {
    let mut unit_paths = std::collections::HashSet::new();
    for u in &cfg.systemd.units {
        if u.contents.as_deref().is_some_and(|c| !c.is_empty()) {
            unit_paths.insert(format!("/etc/systemd/system/{}", u.name));
        }
        for d in &u.dropins {
            if d.contents.as_deref().is_some_and(|c| !c.is_empty()) {
                unit_paths.insert(format!("/etc/systemd/system/{}.d/{}", u.name, d.name));
            }
        }
    }
    if unit_paths.is_empty() {
        return;
    }
    let s = &cfg.storage;
    let lists = [
        (
            "files",
            s.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        ),
        (
            "directories",
            s.directories.iter().map(|d| d.path.as_str()).collect(),
        ),
        ("links", s.links.iter().map(|l| l.path.as_str()).collect()),
    ];
    for (list, paths) in lists {
        for (i, p) in paths.into_iter().enumerate() {
            if unit_paths.contains(p) {
                r.error(
                    jpath!["storage", list, i, "path"],
                    "path conflicts with systemd unit or dropin",
                );
            }
        }
    }
}
