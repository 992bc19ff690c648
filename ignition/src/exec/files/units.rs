//! systemd units as Go Ignition writes them under a root: unit files and
//! drop-ins in `/etc/systemd/system`, masks as links to `/dev/null`, and
//! enablement as lines in `/etc/systemd/system-preset/20-ignition.preset`
//! (instances of one template on one line: `enable echo@.service a b`).

use crate::model::Unit;

use super::super::rootcache::CachedRoot;
use super::fsops;
use super::plan::Relabel;

pub const UNITS_DIR: &str = "/etc/systemd/system";
pub const PRESET_PATH: &str = "/etc/systemd/system-preset/20-ignition.preset";

/// One preset line: the unit (or template) and its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub unit: String,
    pub enabled: bool,
    pub instances: Vec<String>,
}

impl Preset {
    /// The unit as the preset line names it (`echo@.service foo bar`).
    pub fn target(&self) -> String {
        if self.instances.is_empty() {
            self.unit.clone()
        } else {
            format!("{} {}", self.unit, self.instances.join(" "))
        }
    }
}

/// Preset lines in order of first appearance (Go's order is a map's, random).
pub fn presets(units: &[Unit]) -> Result<Vec<Preset>, String> {
    let mut out: Vec<Preset> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let Some(enabled) = u.enabled else { continue };
        let (unit, instance) = match u.name.find('@') {
            Some(at) => {
                let dot = u.name.rfind('.').filter(|d| *d > at).ok_or_else(|| {
                    format!(
                        "$.systemd.units.{i}.name: {:?} has no unit type suffix",
                        u.name
                    )
                })?;
                (
                    format!("{}{}", &u.name[..=at], &u.name[dot..]),
                    Some(u.name[at + 1..dot].to_string()),
                )
            }
            None => (u.name.clone(), None),
        };
        match out
            .iter_mut()
            .find(|p| p.unit == unit && p.enabled == enabled && instance.is_some())
        {
            Some(p) => p.instances.extend(instance),
            None => out.push(Preset {
                unit,
                enabled,
                instances: instance.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// What the units of a config do, for the dry run.
pub fn describe(units: &[Unit]) -> Vec<String> {
    let mut ops = Vec::new();
    for u in units {
        for d in u.dropins.iter().filter(|d| d.contents.is_some()) {
            ops.push(format!("write drop-in {UNITS_DIR}/{}.d/{}", u.name, d.name));
        }
        if u.contents.as_deref().is_some_and(|c| !c.is_empty()) {
            ops.push(format!("write unit {UNITS_DIR}/{}", u.name));
        }
        match u.mask {
            Some(true) => ops.push(format!(
                "mask {} (link {UNITS_DIR}/{} -> /dev/null)",
                u.name, u.name
            )),
            Some(false) => ops.push(format!("unmask {} if masked", u.name)),
            None => {}
        }
    }
    if let Ok(p) = presets(units) {
        for p in p {
            let verb = if p.enabled { "enable" } else { "disable" };
            ops.push(format!("preset: {verb} {} in {PRESET_PATH}", p.target()));
        }
    }
    ops
}

/// Writes the units, masks and presets of `units`.
pub fn apply(root: &CachedRoot, units: &[Unit], relabel: &mut Relabel) -> Result<(), String> {
    let presets = presets(units)?;
    for (i, u) in units.iter().enumerate() {
        let at = format!("$.systemd.units.{i}");
        let mut dropin_dir_relabeled = false;
        for d in &u.dropins {
            let Some(contents) = &d.contents else {
                continue;
            };
            let path = format!("{UNITS_DIR}/{}.d/{}", u.name, d.name);
            tracing::info!(unit = %u.name, path = %path, "writing drop-in {} of {}", d.name, u.name);
            let resolved = fsops::write_replace(root, &path, contents.as_bytes())
                .map_err(|e| format!("{at}: writing drop-in {}: {e}", d.name))?;
            if !dropin_dir_relabeled {
                relabel.insert(parent(&resolved));
                dropin_dir_relabeled = true;
            }
        }
        if let Some(contents) = u.contents.as_deref().filter(|c| !c.is_empty()) {
            let path = format!("{UNITS_DIR}/{}", u.name);
            tracing::info!(unit = %u.name, path = %path, "writing unit {}", u.name);
            let resolved = fsops::write_replace(root, &path, contents.as_bytes())
                .map_err(|e| format!("{at}: writing unit: {e}"))?;
            relabel.insert(resolved);
        }
        let path = format!("{UNITS_DIR}/{}", u.name);
        match u.mask {
            Some(true) => {
                tracing::info!(unit = %u.name, "masking unit {}", u.name);
                let fail = |e: String| format!("{at}: masking {}: {e}", u.name);
                let resolved = fsops::prepare(root, &path).map_err(fail)?;
                fsops::remove_all(root, &resolved).map_err(fail)?;
                std::os::unix::fs::symlink("/dev/null", root.host(&resolved))
                    .map_err(|e| fail(e.to_string()))?;
                relabel.insert(path);
            }
            Some(false) => {
                let resolved = root.resolve(&path).map_err(|e| format!("{at}: {e}"))?;
                let host = root.host(&resolved);
                if std::fs::read_link(&host).is_ok_and(|t| t.as_os_str() == "/dev/null") {
                    tracing::info!(unit = %u.name, "unmasking unit {}", u.name);
                    root.invalidate();
                    std::fs::remove_file(&host).map_err(|e| format!("{at}: unmasking: {e}"))?;
                }
            }
            None => {}
        }
    }
    if presets.is_empty() {
        return Ok(());
    }
    let preset = root
        .resolve(PRESET_PATH)
        .map_err(|e| format!("{PRESET_PATH}: {e}"))?;
    relabel.insert(root.first_missing(&preset));
    let mut lines = String::new();
    for p in &presets {
        let target = p.target();
        if p.enabled {
            tracing::info!(unit = %target, "setting preset to enabled for {target}");
            lines.push_str(&format!("enable {target}\n"));
        } else {
            tracing::info!(unit = %target, "setting preset to disabled for {target}");
            // Go removes existing enablement links before the preset line.
            let mut args = vec![
                "--root".to_string(),
                root.root().dir().to_string_lossy().into_owned(),
                "disable".into(),
            ];
            args.extend(target.split(' ').map(str::to_string));
            let r = super::super::cmd::run("systemctl", &args, None);
            // systemctl removed links in the root.
            root.invalidate();
            r.map_err(|e| format!("cannot remove symlink(s) for {target}: {e}"))?;
            lines.push_str(&format!("disable {target}\n"));
        }
    }
    fsops::append(root, PRESET_PATH, lines.as_bytes())
        .map_err(|e| format!("{PRESET_PATH}: {e}"))?;
    Ok(())
}

fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, enabled: bool) -> Unit {
        Unit {
            name: name.into(),
            enabled: Some(enabled),
            ..Default::default()
        }
    }

    #[test]
    fn groups_instances_of_a_template() {
        let p = presets(&[
            unit("a.service", true),
            unit("echo@foo.service", true),
            unit("echo@bar.service", true),
            unit("echo@baz.service", false),
            unit("b.service", false),
        ])
        .unwrap();
        let lines: Vec<String> = p
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    if p.enabled { "enable" } else { "disable" },
                    p.target()
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "enable a.service",
                "enable echo@.service foo bar",
                "disable echo@.service baz",
                "disable b.service"
            ]
        );
    }
}
