//! Where `mcd` keeps its state, in-root paths (OpenShift's where OpenShift has one).

/// The rendered MachineConfig the node is at (JSON), as OpenShift's MCD writes it.
pub const CURRENT_CONFIG: &str = "/etc/machine-config-daemon/currentconfig";
/// Node state: Done, Working, Degraded (with the reason), Rebooting. Ours.
pub const STATE: &str = "/etc/machine-config-daemon/state.json";
/// The journal of an apply in progress. Ours.
pub const JOURNAL: &str = "/etc/machine-config-daemon/journal.json";
/// The update waiting for its reboot, checked by `mcd verify-boot`. Ours.
pub const PENDING: &str = "/etc/machine-config-daemon/pending.json";
/// Backups of the paths an apply in progress touches (hard links or copies). Ours.
pub const TXN_DIR: &str = "/etc/machine-config-daemon/txn";
/// Originals of files the MachineConfigs took over, as OpenShift keeps them.
pub const ORIG_DIR: &str = "/etc/machine-config-daemon/orig";
/// Stamps for files the MachineConfigs created (nothing to restore), as OpenShift keeps them.
pub const NOORIG_DIR: &str = "/etc/machine-config-daemon/noorig";
/// The admin's node disruption policy (JSON). Ours; see docs/mcd.md.
pub const POLICY: &str = "/etc/machine-config-daemon/node-disruption-policy.json";
/// Present: skip the on-disk validation once (and reboot), as in OpenShift.
pub const FORCE_FILE: &str = "/run/machine-config-daemon-force";
/// The MachineConfig the MCS encapsulated into the first-boot Ignition config.
pub const ENCAPSULATED: &str = "/etc/ignition-machine-config-encapsulated.json";
/// Where the first-boot file goes once processed (OpenShift keeps it as `.bak` too).
pub const ENCAPSULATED_BAK: &str = "/etc/ignition-machine-config-encapsulated.json.bak";
/// Units, drop-ins and masks the configs write.
pub const UNITS_DIR: &str = "/etc/systemd/system";
/// Where systemd looks for vendor units (enablement needs their `[Install]`).
pub const VENDOR_UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// The only user whose keys and password a running node may change.
pub const CORE_USER: &str = "core";

/// `orig/<path>.mcdorig`
pub fn orig_of(path: &str) -> String {
    format!("{ORIG_DIR}{path}.mcdorig")
}

/// `noorig/<path>.mcdnoorig`
pub fn noorig_of(path: &str) -> String {
    format!("{NOORIG_DIR}{path}.mcdnoorig")
}
