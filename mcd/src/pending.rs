//! The pending-update record: written (journaled, with the files) by an apply that needs a
//! reboot, read by `mcd verify-boot` after the reboot. Ours: `/etc/machine-config-daemon/pending.json`.

use anyhow::{Context, Result};
use ignition::exec::root::Root;
use serde::{Deserialize, Serialize};

use crate::paths::PENDING;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// The config the node was at.
    pub from: String,
    /// The config applied (already `currentconfig`), to verify after the boot.
    pub to: String,
    /// The default (or booted) deployment before the update, `CHECKSUM.SERIAL`; unknown without
    /// an ostree sysroot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The checksum the node must boot; unknown without an ostree sysroot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Set by `verify-boot` when it rolled back: the next boot is the previous deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
}

pub fn read(root: &Root) -> Result<Option<Pending>> {
    match std::fs::read(root.host(PENDING)) {
        Ok(raw) => Ok(Some(
            serde_json::from_slice(&raw).with_context(|| format!("reading {PENDING}"))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {PENDING}")),
    }
}

pub fn bytes(p: &Pending) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(p)?)
}

/// Writes the record outside an apply (durably).
pub fn write(root: &Root, p: &Pending) -> Result<()> {
    crate::apply::fsops::write_atomic(root, PENDING, &bytes(p)?, 0o644, None, true)
        .with_context(|| format!("writing {PENDING}"))
}

pub fn remove(root: &Root) -> Result<()> {
    match std::fs::remove_file(root.host(PENDING)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {PENDING}"))
        }
        _ => Ok(()),
    }
}
