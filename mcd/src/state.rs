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
        Ok(raw) => {
            let mc = crate::source::parse(&raw, paths::CURRENT_CONFIG)?;
            drop(raw);
            Desired::from_mc(mc, &crate::source::fetcher()?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Desired::empty()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The bytes `currentconfig` holds for a config (JSON, as OpenShift's MCD writes it).
pub fn current_bytes(d: &Desired) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&d.mc)?)
}
