//! The difference between two rendered MachineConfigs, and what a running node cannot do. Pure.

use serde::Serialize;

use crate::config::{canonical_kernel_type, Desired};
use crate::paths::CORE_USER;

/// A change a running node refuses, with the field that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// What changed from the old config to the new one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub os_image: Option<(String, String)>,
    pub kargs: Option<(Vec<String>, Vec<String>)>,
    pub ssh_keys: bool,
    pub password: bool,
    pub files_added: Vec<String>,
    pub files_changed: Vec<String>,
    pub files_removed: Vec<String>,
    /// Units whose file, drop-ins, mask or enablement changed, or that came or went.
    pub units: Vec<String>,
    pub refused: Vec<Refusal>,
}

impl Diff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.os_image.is_none()
            && self.kargs.is_none()
            && !self.ssh_keys
            && !self.password
            && self.files_added.is_empty()
            && self.files_changed.is_empty()
            && self.files_removed.is_empty()
            && self.units.is_empty()
            && self.refused.is_empty()
    }

    /// Every file path that changed, came or went, sorted.
    pub fn file_paths(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .files_added
            .iter()
            .chain(&self.files_changed)
            .chain(&self.files_removed)
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v
    }

    /// Human-readable lines, for `mcd plan` and the logs.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((a, b)) = &self.os_image {
            out.push(format!("osImageURL: {a:?} -> {b:?}"));
        }
        if let Some((a, b)) = &self.kargs {
            out.push(format!(
                "kernelArguments: [{}] -> [{}]",
                a.join(" "),
                b.join(" ")
            ));
        }
        if self.ssh_keys {
            out.push(format!("passwd: SSH keys of {CORE_USER}"));
        }
        if self.password {
            out.push(format!("passwd: password of {CORE_USER}"));
        }
        for (what, list) in [
            ("added", &self.files_added),
            ("changed", &self.files_changed),
            ("removed", &self.files_removed),
        ] {
            out.extend(list.iter().map(|p| format!("file {what}: {p}")));
        }
        out.extend(self.units.iter().map(|u| format!("unit changed: {u}")));
        out.extend(self.refused.iter().map(|r| format!("REFUSED {r}")));
        out
    }
}

fn refuse(out: &mut Vec<Refusal>, field: &str, reason: impl Into<String>) {
    out.push(Refusal {
        field: field.into(),
        reason: reason.into(),
    });
}

/// Compares two configs.
pub fn diff(old: &Desired, new: &Desired) -> Diff {
    let mut d = Diff {
        from: old.name().into(),
        to: new.name().into(),
        ..Default::default()
    };
    let (o, n) = (&old.mc.spec, &new.mc.spec);
    if o.os_image_url != n.os_image_url && !n.os_image_url.is_empty() {
        d.os_image = Some((o.os_image_url.clone(), n.os_image_url.clone()));
    }
    if old.kargs != new.kargs {
        d.kargs = Some((old.kargs.clone(), new.kargs.clone()));
    }
    d.ssh_keys = old.core.ssh_keys != new.core.ssh_keys;
    d.password = old.core.password_hash != new.core.password_hash;
    for (p, f) in &new.files {
        match old.files.get(p) {
            None => d.files_added.push(p.clone()),
            Some(g) if g != f => d.files_changed.push(p.clone()),
            Some(_) => {}
        }
    }
    d.files_removed = old
        .files
        .keys()
        .filter(|p| !new.files.contains_key(*p))
        .cloned()
        .collect();
    let mut names: Vec<&String> = old.units.keys().chain(new.units.keys()).collect();
    names.sort();
    names.dedup();
    d.units = names
        .into_iter()
        .filter(|u| old.units.get(*u) != new.units.get(*u))
        .cloned()
        .collect();
    d.refused = unreconcilable(old, new);
    d
}

/// The changes a running node cannot make (OpenShift's `reconcilable`, plus what our images lack).
pub fn unreconcilable(old: &Desired, new: &Desired) -> Vec<Refusal> {
    let mut r = Vec::new();
    let (os, ns) = (&old.ign.storage, &new.ign.storage);
    if os.disks != ns.disks {
        refuse(
            &mut r,
            "spec.config.storage.disks",
            "changes to disks need a reprovisioning",
        );
    }
    if os.filesystems != ns.filesystems {
        refuse(
            &mut r,
            "spec.config.storage.filesystems",
            "changes to filesystems need a reprovisioning",
        );
    }
    if os.raid != ns.raid {
        refuse(
            &mut r,
            "spec.config.storage.raid",
            "changes to RAID arrays need a reprovisioning",
        );
    }
    if os.luks != ns.luks {
        refuse(
            &mut r,
            "spec.config.storage.luks",
            "changes to LUKS volumes need a reprovisioning",
        );
    }
    if os.directories != ns.directories {
        refuse(
            &mut r,
            "spec.config.storage.directories",
            "changes to directories are not supported on a running node",
        );
    }
    for l in &ns.links {
        if !os.links.contains(l) {
            refuse(
                &mut r,
                &format!("spec.config.storage.links ({})", l.path),
                "adding or changing links is not supported on a running node",
            );
        }
    }
    for path in &new.appends {
        {
            refuse(
                &mut r,
                &format!("spec.config.storage.files ({path}).append"),
                "appending to files is not supported on a running node",
            );
        }
    }
    if old.ign.passwd.groups != new.ign.passwd.groups {
        refuse(
            &mut r,
            "spec.config.passwd.groups",
            "changes to groups are not supported on a running node",
        );
    }
    for u in &new.ign.passwd.users {
        if u.name != CORE_USER {
            if !old.ign.passwd.users.contains(u) {
                refuse(
                    &mut r,
                    &format!("spec.config.passwd.users ({})", u.name),
                    format!("only the user {CORE_USER} may change on a running node"),
                );
            }
            continue;
        }
        let strip = |u: &ignition::model::PasswdUser| {
            let mut u = u.clone();
            u.ssh_authorized_keys.clear();
            u.password_hash = None;
            u
        };
        let was = old
            .ign
            .passwd
            .users
            .iter()
            .find(|x| x.name == CORE_USER)
            .map(strip);
        let base = ignition::model::PasswdUser {
            name: CORE_USER.into(),
            ..Default::default()
        };
        if strip(u) != was.unwrap_or(base) {
            refuse(
                &mut r,
                &format!("spec.config.passwd.users ({CORE_USER})"),
                "only sshAuthorizedKeys and passwordHash of core may change on a running node",
            );
        }
    }
    for u in &old.ign.passwd.users {
        if u.name != CORE_USER && !new.ign.passwd.users.iter().any(|x| x.name == u.name) {
            refuse(
                &mut r,
                &format!("spec.config.passwd.users ({})", u.name),
                "removing users is not supported on a running node",
            );
        }
    }
    let (o, n) = (&old.mc.spec, &new.mc.spec);
    if o.fips != n.fips {
        refuse(
            &mut r,
            "spec.fips",
            "FIPS mode is set at install time; refusing to flip it on a running node",
        );
    }
    if canonical_kernel_type(&o.kernel_type) != canonical_kernel_type(&n.kernel_type) {
        refuse(
            &mut r,
            "spec.kernelType",
            "kernel types are not supported by our images yet",
        );
    }
    if o.extensions != n.extensions {
        refuse(
            &mut r,
            "spec.extensions",
            "extensions are not supported by our images yet",
        );
    }
    if o.base_os_extensions_container_image != n.base_os_extensions_container_image {
        refuse(
            &mut r,
            "spec.baseOSExtensionsContainerImage",
            "extensions are not supported by our images yet",
        );
    }
    r
}
