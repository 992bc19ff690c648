//! The node's state file and its current config, both under the root.

use anyhow::{Context, Result};
use ignition::exec::root::Root;
use serde::{Deserialize, Serialize};

use crate::config::Desired;
use crate::paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    Done,
    Working,
    Degraded,
    Rebooting,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateFile {
    pub state: NodeState,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default)]
    pub current_config: String,
    #[serde(default)]
    pub desired_config: String,
}

pub fn read_state(root: &Root) -> Option<StateFile> {
    let raw = std::fs::read(root.host(paths::STATE)).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Writes the state file (atomically; it is not part of an apply's journal).
pub fn write_state(root: &Root, st: &StateFile) -> Result<()> {
    let data = serde_json::to_vec_pretty(st)?;
    crate::apply::fsops::write_atomic(root, paths::STATE, &data, 0o644, None, true)
        .with_context(|| format!("writing {}", paths::STATE))
}

pub fn set(
    root: &Root,
    state: NodeState,
    reason: &str,
    current: &str,
    desired: &str,
) -> Result<()> {
    write_state(
        root,
        &StateFile {
            state,
            reason: reason.into(),
            current_config: current.into(),
            desired_config: desired.into(),
        },
    )
}

/// The config the node is at: `currentconfig` under the root, or the empty config.
pub fn current(root: &Root) -> Result<Desired> {
    let path = root.host(paths::CURRENT_CONFIG);
    match std::fs::read(&path) {
        Ok(raw) => crate::source::desired(&raw, paths::CURRENT_CONFIG),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Desired::empty()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The current config, [lightened](Desired::lighten): what diffing against it and validating
/// it need, for an update that replaces it and for the daemon that holds it.
pub fn current_light(root: &Root) -> Result<Desired> {
    let mut d = current(root)?;
    d.lighten();
    Ok(d)
}

/// The bytes `currentconfig` holds for a config (JSON, as OpenShift's MCD writes it): the
/// MachineConfig with `spec.config` spliced in from the config's JSON text.
pub fn current_bytes(d: &Desired) -> Result<Vec<u8>> {
    if d.is_light() {
        anyhow::bail!(
            "{}: the config text of {} was not kept",
            paths::CURRENT_CONFIG,
            d.name()
        );
    }
    let v = serde_json::to_value(&d.mc)?;
    Ok(serde_json::to_vec(&Spliced {
        value: &v,
        config: d.config_json.as_deref(),
        depth: 0,
    })?)
}

/// A MachineConfig value whose `spec.config` is written from JSON text.
struct Spliced<'a> {
    value: &'a serde_json::Value,
    config: Option<&'a serde_json::value::RawValue>,
    depth: u8,
}

impl serde::Serialize for Spliced<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.value.as_object() else {
            return self.value.serialize(s);
        };
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match (self.depth, k.as_str()) {
                (0, "spec") => m.serialize_entry(
                    k,
                    &Spliced {
                        value: v,
                        config: self.config,
                        depth: 1,
                    },
                )?,
                (1, "config") => match self.config {
                    Some(c) => m.serialize_entry(k, c)?,
                    None => m.serialize_entry(k, v)?,
                },
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currentconfig_round_trips_through_the_config_text() {
        let raw = br#"{"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"name": "rendered-worker-1", "annotations": {"a": "\"config\":null"}},
            "spec": {"osImageURL": "r:os/a", "kernelArguments": ["quiet"], "fips": null,
              "config": {"ignition": {"version": "3.4.0"},
                "storage": {"files": [{"path": "/etc/a", "mode": 384, "contents": {"source": "data:,hello"}}]}}}}"#;
        let d = crate::source::desired(raw, "test").unwrap();
        assert_eq!(d.name(), "rendered-worker-1");
        assert!(!d.config_empty);
        assert_eq!(d.files["/etc/a"].contents.data(), Some(&b"hello"[..]));
        let bytes = current_bytes(&d).unwrap();
        let back = crate::source::desired(&bytes, "back").unwrap();
        assert_eq!(back.name(), d.name());
        assert_eq!(back.files, d.files);
        assert_eq!(back.kargs, d.kargs);
        assert_eq!(back.mc.spec.os_image_url, "r:os/a");
        assert_eq!(back.mc.metadata.annotations["a"], "\"config\":null");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["spec"]["config"]["storage"]["files"][0]["path"], "/etc/a");
        // The same through the general path (a MachineConfig value).
        let mc: machine_config::MachineConfig = serde_json::from_slice(raw).unwrap();
        let d2 = Desired::from_mc(mc, &ignition::fetch::Fetchers::new()).unwrap();
        assert_eq!(d2.files, d.files);
        let mut light = d;
        light.lighten();
        assert!(light.is_light());
        assert_eq!(light.files, back.files, "digests compare equal to the data");
        assert!(current_bytes(&light).is_err());
    }
}
