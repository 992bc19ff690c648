//! Node disruption policies: which action a changed file, unit or SSH key needs. OpenShift's
//! defaults, overridable by the admin with a JSON file in the shape of OpenShift's
//! `spec.nodeDisruptionPolicy` (see docs/mcd.md). Pure, apart from [`Policy::load`].

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One action, in OpenShift's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Action {
    None,
    Reboot,
    Drain,
    DaemonReload,
    Reload {
        #[serde(rename = "reload")]
        service: Service,
    },
    Restart {
        #[serde(rename = "restart")]
        service: Service,
    },
    /// `/etc/containers/registries.conf`: reload CRI-O, drain unless the change only adds.
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub service_name: String,
}

impl Action {
    pub fn reload(s: &str) -> Action {
        Action::Reload {
            service: Service {
                service_name: s.into(),
            },
        }
    }
    pub fn restart(s: &str) -> Action {
        Action::Restart {
            service: Service {
                service_name: s.into(),
            },
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::None => f.write_str("none"),
            Action::Reboot => f.write_str("reboot"),
            Action::Drain => f.write_str("drain"),
            Action::DaemonReload => f.write_str("daemon-reload"),
            Action::Reload { service } => write!(f, "reload {}", service.service_name),
            Action::Restart { service } => write!(f, "restart {}", service.service_name),
            Action::Special => f.write_str("special (registries.conf)"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilePolicy {
    pub path: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnitPolicy {
    pub name: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SshPolicy {
    pub actions: Vec<Action>,
}

/// The admin's file: every list optional; entries replace the default for the same path or unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default)]
    pub files: Vec<FilePolicy>,
    #[serde(default)]
    pub units: Vec<UnitPolicy>,
    #[serde(default, rename = "sshkey")]
    pub ssh_key: Option<SshPolicy>,
}

/// The effective policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub files: BTreeMap<String, Vec<Action>>,
    pub units: BTreeMap<String, Vec<Action>>,
    pub ssh_key: Vec<Action>,
}

pub const CRIO: &str = "crio.service";
pub const REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
pub const USER_CA_BUNDLE: &str =
    "/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt";
pub const UPDATE_CA_TRUST: &str = "coreos-update-ca-trust.service";

impl Default for Policy {
    /// OpenShift's default cluster policies.
    fn default() -> Self {
        let kubelet = "kubelet.service";
        let files: Vec<(&str, Vec<Action>)> = vec![
            ("/var/lib/kubelet/config.json", vec![Action::None]),
            (
                "/etc/mco/internal-registry-pull-secret.json",
                vec![Action::None],
            ),
            ("/etc/kubernetes/kubelet-ca.crt", vec![Action::None]),
            (
                "/etc/machine-config-daemon/no-reboot/containers-gpg.pub",
                vec![Action::reload(CRIO)],
            ),
            ("/etc/containers/policy.json", vec![Action::reload(CRIO)]),
            (REGISTRIES_CONF, vec![Action::Special]),
            ("/etc/containers/registries.d", vec![Action::reload(CRIO)]),
            ("/etc/crio/policies", vec![Action::reload(CRIO)]),
            ("/etc/nmstate/openshift", vec![Action::None]),
            (
                USER_CA_BUNDLE,
                vec![Action::restart(UPDATE_CA_TRUST), Action::restart(CRIO)],
            ),
            (
                "/etc/kubernetes/credential-providers",
                vec![Action::restart(kubelet)],
            ),
        ];
        Policy {
            files: files.into_iter().map(|(p, a)| (p.to_string(), a)).collect(),
            units: BTreeMap::new(),
            ssh_key: vec![Action::None],
        }
    }
}

impl Policy {
    /// The defaults with the admin's entries laid over them.
    pub fn with(mut self, admin: PolicyFile) -> Policy {
        for f in admin.files {
            self.files
                .insert(ignition::exec::root::clean(&f.path), f.actions);
        }
        for u in admin.units {
            self.units.insert(u.name, u.actions);
        }
        if let Some(s) = admin.ssh_key {
            self.ssh_key = s.actions;
        }
        self
    }

    /// The defaults plus the admin's file at `path` when it exists.
    pub fn load(path: &std::path::Path) -> Result<Policy> {
        match std::fs::read(path) {
            Ok(raw) => {
                let admin: PolicyFile = serde_json::from_slice(&raw)
                    .with_context(|| format!("node disruption policy {}", path.display()))?;
                Ok(Policy::default().with(admin))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The actions for a changed file: the policy of the path itself, else of the closest
    /// directory above it (as OpenShift matches them); `None` when nothing matches.
    pub fn for_file(&self, path: &str) -> Option<&[Action]> {
        let mut p = path;
        loop {
            if let Some(a) = self.files.get(p) {
                return Some(a);
            }
            match p.rfind('/') {
                Some(0) | None => return self.files.get("/").map(Vec::as_slice),
                Some(i) => p = &p[..i],
            }
        }
    }

    pub fn for_unit(&self, name: &str) -> Option<&[Action]> {
        self.units.get(name).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_directory_matches() {
        let p = Policy::default();
        assert_eq!(
            p.for_file("/etc/containers/registries.d/x.yaml"),
            Some(&[Action::reload(CRIO)][..])
        );
        assert_eq!(
            p.for_file("/etc/containers/registries.conf"),
            Some(&[Action::Special][..])
        );
        assert_eq!(p.for_file("/etc/containers/other.conf"), None);
        assert_eq!(
            p.for_file("/etc/crio/policies/ns.json"),
            Some(&[Action::reload(CRIO)][..])
        );
    }

    #[test]
    fn admin_file_parses_and_overrides() {
        let json = r#"{
          "files": [
            {"path": "/etc/chrony.conf", "actions": [{"type": "Restart", "restart": {"serviceName": "chronyd.service"}}]},
            {"path": "/var/lib/kubelet/config.json", "actions": [{"type": "Drain"}, {"type": "Reboot"}]}
          ],
          "units": [{"name": "foo.service", "actions": [{"type": "DaemonReload"}, {"type": "Reload", "reload": {"serviceName": "foo.service"}}]}],
          "sshkey": {"actions": [{"type": "Restart", "restart": {"serviceName": "sshd.service"}}]}
        }"#;
        let admin: PolicyFile = serde_json::from_str(json).unwrap();
        let p = Policy::default().with(admin);
        assert_eq!(
            p.for_file("/etc/chrony.conf"),
            Some(&[Action::restart("chronyd.service")][..])
        );
        assert_eq!(
            p.for_file("/var/lib/kubelet/config.json"),
            Some(&[Action::Drain, Action::Reboot][..])
        );
        assert_eq!(p.for_unit("foo.service").unwrap().len(), 2);
        assert_eq!(p.ssh_key, vec![Action::restart("sshd.service")]);
        assert!(serde_json::from_str::<PolicyFile>(
            r#"{"files":[{"path":"/x","actions":[{"type":"Bogus"}]}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<PolicyFile>(r#"{"filez":[]}"#).is_err());
    }
}
