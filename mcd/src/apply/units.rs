//! Unit enablement as `systemctl --root` does it: links from the `[Install]` section
//! (`WantedBy=` → `<target>.wants/<unit>`, `RequiredBy=` → `.requires/`, `UpheldBy=` →
//! `.upholds/`, `Alias=` → a link named after the alias), all in `/etc/systemd/system`.

use ignition::exec::root::Root;

use crate::paths::{UNITS_DIR, VENDOR_UNIT_DIRS};

/// The `[Install]` section of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Install {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub upheld_by: Vec<String>,
    pub alias: Vec<String>,
}

impl Install {
    pub fn is_empty(&self) -> bool {
        self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.upheld_by.is_empty()
            && self.alias.is_empty()
    }
}

/// Parses the `[Install]` section (an empty assignment resets the list, as systemd does).
pub fn parse_install(text: &str) -> Install {
    let mut inst = Install::default();
    let mut in_install = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_install = l == "[Install]";
            continue;
        }
        if !in_install || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let list = match k.trim() {
            "WantedBy" => &mut inst.wanted_by,
            "RequiredBy" => &mut inst.required_by,
            "UpheldBy" => &mut inst.upheld_by,
            "Alias" => &mut inst.alias,
            _ => continue,
        };
        let v = v.trim();
        if v.is_empty() {
            list.clear();
        } else {
            list.extend(v.split_whitespace().map(str::to_string));
        }
    }
    inst
}

/// The unit file that defines `name` (`a@b.service` is defined by `a@.service`).
pub fn template_of(name: &str) -> String {
    match (name.find('@'), name.rfind('.')) {
        (Some(at), Some(dot)) if dot > at + 1 => format!("{}{}", &name[..=at], &name[dot..]),
        _ => name.to_string(),
    }
}

/// Finds the unit file for `name` in the root (`/etc` first, then the vendor directories).
pub fn find_unit_file(root: &Root, name: &str) -> Option<(String, String)> {
    for file in [name.to_string(), template_of(name)] {
        for dir in VENDOR_UNIT_DIRS {
            let p = format!("{dir}/{file}");
            if let Ok(r) = root.resolve_all(&p) {
                if let Ok(text) = std::fs::read_to_string(root.host(&r)) {
                    return Some((p, text));
                }
            }
        }
    }
    None
}

/// The links that enable `name`: (link path, target). `unit_path` is the file that defines it.
pub fn enable_links(name: &str, unit_path: &str, inst: &Install) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (list, suffix) in [
        (&inst.wanted_by, "wants"),
        (&inst.required_by, "requires"),
        (&inst.upheld_by, "upholds"),
    ] {
        for t in list {
            out.push((
                format!("{UNITS_DIR}/{t}.{suffix}/{name}"),
                unit_path.to_string(),
            ));
        }
    }
    for a in &inst.alias {
        if a != name {
            out.push((format!("{UNITS_DIR}/{a}"), unit_path.to_string()));
        }
    }
    out
}

/// The links named `name` in `/etc/systemd/system/*.{wants,requires,upholds}/` (what disabling removes).
pub fn existing_links(root: &Root, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.host(UNITS_DIR)) else {
        return out;
    };
    let mut dirs: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|d| d.ends_with(".wants") || d.ends_with(".requires") || d.ends_with(".upholds"))
        .collect();
    dirs.sort();
    for d in dirs {
        let p = format!("{UNITS_DIR}/{d}/{name}");
        if std::fs::symlink_metadata(root.host(&p)).is_ok_and(|m| m.file_type().is_symlink()) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_sections() {
        let text = "[Unit]\nWantedBy=nope\n[Install]\nWantedBy=multi-user.target default.target\nRequiredBy=a.target\nAlias=x.service\n";
        let i = parse_install(text);
        assert_eq!(i.wanted_by, ["multi-user.target", "default.target"]);
        assert_eq!(i.required_by, ["a.target"]);
        assert_eq!(i.alias, ["x.service"]);
        assert!(parse_install("[Install]\nWantedBy=a\nWantedBy=\n").is_empty());
        assert_eq!(template_of("echo@foo.service"), "echo@.service");
        assert_eq!(template_of("plain.service"), "plain.service");
        let links = enable_links("a.service", "/etc/systemd/system/a.service", &i);
        assert_eq!(
            links[0],
            (
                "/etc/systemd/system/multi-user.target.wants/a.service".into(),
                "/etc/systemd/system/a.service".into()
            )
        );
        assert_eq!(links.len(), 4);
    }
}
