//! Enabling units in a tree without systemd: what `systemctl --root enable` does, for the links
//! it makes from `[Install]` (WantedBy=, RequiredBy=, Alias=, Also=). Parsing and planning are
//! pure; the caller finds the unit files (in the overlay layer or the base commit).

/// A unit's `[Install]` section.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Install {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub alias: Vec<String>,
    pub also: Vec<String>,
}

pub fn parse_install(text: &str) -> Install {
    let mut inst = Install::default();
    let mut in_install = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let list = match k.trim() {
            "WantedBy" => &mut inst.wanted_by,
            "RequiredBy" => &mut inst.required_by,
            "Alias" => &mut inst.alias,
            "Also" => &mut inst.also,
            _ => continue,
        };
        list.extend(v.split_whitespace().map(str::to_string));
    }
    inst
}

/// One enablement link: `etc/systemd/system/<link>` pointing at `target`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub link: String,
    pub target: String,
}

/// The links that enable `units`; `lookup(name)` gives a unit file's text and its absolute
/// path in the image. A unit without `[Install]` is an error, as in systemctl.
pub fn plan<F>(units: &[String], mut lookup: F) -> Result<Vec<Link>, String>
where
    F: FnMut(&str) -> Option<(String, String)>,
{
    let mut links = Vec::new();
    let mut todo: Vec<String> = units.to_vec();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(unit) = todo.pop() {
        if !seen.insert(unit.clone()) {
            continue;
        }
        let (text, path) =
            lookup(&unit).ok_or_else(|| format!("unit {unit} not found in the image"))?;
        let inst = parse_install(&text);
        if inst.wanted_by.is_empty()
            && inst.required_by.is_empty()
            && inst.alias.is_empty()
            && inst.also.is_empty()
        {
            return Err(format!(
                "unit {unit} ({path}) has no [Install] section; it cannot be enabled"
            ));
        }
        for t in &inst.wanted_by {
            links.push(Link {
                link: format!("{t}.wants/{unit}"),
                target: path.clone(),
            });
        }
        for t in &inst.required_by {
            links.push(Link {
                link: format!("{t}.requires/{unit}"),
                target: path.clone(),
            });
        }
        for a in &inst.alias {
            links.push(Link {
                link: a.clone(),
                target: path.clone(),
            });
        }
        todo.extend(inst.also.iter().cloned());
    }
    links.sort();
    links.dedup();
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_wants_requires_alias_and_also() {
        let units = |name: &str| -> Option<(String, String)> {
            let text = match name {
                "a.service" => "[Unit]\nWantedBy=nope\n[Install]\nWantedBy=multi-user.target\nAlias=b.service\nAlso=a.socket\n",
                "a.socket" => "[Install]\nWantedBy=sockets.target\n",
                "c.service" => "[Install]\nRequiredBy=x.target y.target\n",
                "plain.service" => "[Service]\nExecStart=/bin/true\n",
                _ => return None,
            };
            Some((text.to_string(), format!("/usr/lib/systemd/system/{name}")))
        };
        let l = plan(&["a.service".into(), "c.service".into()], units).unwrap();
        let pairs: Vec<(&str, &str)> = l
            .iter()
            .map(|l| (l.link.as_str(), l.target.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("b.service", "/usr/lib/systemd/system/a.service"),
                (
                    "multi-user.target.wants/a.service",
                    "/usr/lib/systemd/system/a.service"
                ),
                (
                    "sockets.target.wants/a.socket",
                    "/usr/lib/systemd/system/a.socket"
                ),
                (
                    "x.target.requires/c.service",
                    "/usr/lib/systemd/system/c.service"
                ),
                (
                    "y.target.requires/c.service",
                    "/usr/lib/systemd/system/c.service"
                ),
            ]
        );
        assert!(plan(&["plain.service".into()], units)
            .unwrap_err()
            .contains("no [Install]"));
        assert!(plan(&["gone.service".into()], units)
            .unwrap_err()
            .contains("not found"));
    }
}
