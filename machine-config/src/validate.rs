//! Checks on single objects, with OpenShift's rules (its render controller's
//! `ValidateMachineConfig` and the selector and generator checks), and the
//! parse of a MachineConfig's Ignition config.

use std::fmt::Write as _;

use ignition::Config;

use crate::model::{MachineConfig, MachineConfigPool};

/// The kernel types OpenShift knows; `""` means `default`.
pub const KERNEL_TYPES: [&str; 3] = ["default", "realtime", "64k-pages"];

/// Validates a MachineConfig and returns its Ignition config translated to
/// the latest spec (`None` when `spec.config` is null or absent).
///
/// Rejected: an unknown `kernelType`; a `spec.config` that is not an object
/// or not a valid Ignition config of a supported spec (the message lists the
/// engine's errors with their JSON paths under `spec.config`); files or
/// directories whose mode has setuid, setgid or sticky bits (OpenShift
/// rejects modes above 0777 for files; mooring checks directories too).
pub fn machine_config(mc: &MachineConfig) -> Result<Option<Config>, String> {
    let kt = mc.spec.kernel_type.as_str();
    if !(kt.is_empty() || KERNEL_TYPES.contains(&kt)) {
        return Err(format!(
            "spec.kernelType: {kt:?} is invalid (expected one of default, realtime, 64k-pages)"
        ));
    }
    let config = match &mc.spec.config {
        serde_json::Value::Null => return Ok(None),
        v @ serde_json::Value::Object(_) => ignition_config(v)?,
        other => {
            return Err(format!(
                "spec.config: an Ignition config must be an object, not {}",
                json_type(other)
            ))
        }
    };
    special_modes(&config)?;
    Ok(Some(config))
}

fn ignition_config(v: &serde_json::Value) -> Result<Config, String> {
    let raw = serde_json::to_vec(v).map_err(|e| format!("spec.config: {e}"))?;
    match ignition::parse(&raw) {
        Ok(parsed) => Ok(parsed.config),
        Err(e) => {
            let mut msg = format!("spec.config: invalid Ignition config: {e}");
            if let Some(report) = e.report() {
                for f in report.errors() {
                    // Positions refer to re-serialized JSON, not the YAML: leave them out.
                    let _ = write!(msg, "; error at {}: {}", f.path, f.message);
                }
            }
            Err(msg)
        }
    }
}

fn special_modes(config: &Config) -> Result<(), String> {
    let files = config
        .storage
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| ("files", i, &f.path, f.mode));
    let dirs = config
        .storage
        .directories
        .iter()
        .enumerate()
        .map(|(i, d)| ("directories", i, &d.path, d.mode));
    for (list, i, path, mode) in files.chain(dirs) {
        if let Some(mode) = mode {
            if mode & !0o777 != 0 {
                return Err(format!(
                    "spec.config: error at $.storage.{list}.{i}.mode: invalid mode {mode:#o} for {path}: \
                     setuid, setgid and sticky bits are not allowed (cannot exceed 0o777)"
                ));
            }
        }
    }
    Ok(())
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A pool must have a non-empty, well-formed `machineConfigSelector` (an
/// empty one would select nothing; OpenShift's controller silently renders
/// nothing for it). A `nodeSelector`, when given, must be well-formed, and
/// `maxUnavailable` an int or a percentage.
pub fn pool(pool: &MachineConfigPool) -> Result<(), String> {
    match &pool.spec.machine_config_selector {
        None => {
            return Err(
                "spec.machineConfigSelector is missing; it would select no MachineConfig".into(),
            )
        }
        Some(s) if s.is_empty() => {
            return Err(
                "spec.machineConfigSelector is empty; it would select no MachineConfig".into(),
            )
        }
        Some(s) => s
            .check()
            .map_err(|e| format!("spec.machineConfigSelector.{e}"))?,
    }
    if let Some(s) = &pool.spec.node_selector {
        s.check().map_err(|e| format!("spec.nodeSelector.{e}"))?;
    }
    if let Some(m) = &pool.spec.max_unavailable {
        m.scaled(1)
            .map_err(|e| format!("spec.maxUnavailable: {e}"))?;
    }
    Ok(())
}

/// A `machineConfigPoolSelector` must be present, non-empty and well-formed.
pub fn pool_selector(selector: Option<&crate::LabelSelector>) -> Result<(), String> {
    match selector {
        None => Err("spec.machineConfigPoolSelector is missing; it would select no pool".into()),
        Some(s) if s.is_empty() => {
            Err("spec.machineConfigPoolSelector is empty; it would select no pool".into())
        }
        Some(s) => s
            .check()
            .map_err(|e| format!("spec.machineConfigPoolSelector.{e}")),
    }
}
