//! MachineConfigs generated from KubeletConfigs and ContainerRuntimeConfigs,
//! one of each kind per pool, as OpenShift's kubelet-config and
//! container-runtime-config controllers generate them.
//!
//! Both kinds choose pools with `spec.machineConfigPoolSelector` over the
//! pools' labels (the default pools carry
//! `pools.operator.machineconfiguration.openshift.io/<pool>: ""`). The
//! generated MachineConfig is labelled `machineconfiguration.openshift.io/role:
//! <pool>` and annotated as generated, so it joins the pool's configs (and a
//! custom pool selecting `worker` inherits worker's), and its files have mode
//! 0644 and `overwrite: true`.
//!
//! **KubeletConfig** → `99-<pool>-generated-kubelet` writing
//! `/etc/kubernetes/kubelet.conf`: a `kubelet.config.k8s.io/v1beta1`
//! KubeletConfiguration in YAML with sorted keys, made of
//! [`default_kubelet_config`] with the user's `kubeletConfig` laid over it
//! (objects merge key by key, any other value replaces, `null` removes the
//! key). When several KubeletConfigs select a pool they are laid in name
//! order, the later winning (OpenShift makes one MachineConfig per
//! KubeletConfig, suffixed `-1`, `-2`... by creation time, with the same
//! effect). Refused, as OpenShift refuses them: `cgroupDriver` (CRI-O uses
//! systemd), `failSwapOn` and `memorySwap.swapBehavior`; a `kind` or
//! `apiVersion` other than KubeletConfiguration's. Unlike OpenShift,
//! `clusterDNS`, `clusterDomain` and `featureGates` may be set: there is no
//! cluster object that sets them here.
//!
//! **ContainerRuntimeConfig** → `99-<pool>-generated-containerruntime`
//! writing one CRI-O drop-in per field set, in this order, each a TOML table
//! `[crio.runtime]` with one key: `/etc/crio/crio.conf.d/01-ctrcfg-logLevel`
//! (`log_level`), `01-ctrcfg-pidsLimit` (`pids_limit`), `01-ctrcfg-logSizeMax`
//! (`log_size_max`, in bytes; a zero quantity writes nothing), and
//! `01-ctrcfg-defaultRuntime` (`default_runtime`); and for a non-zero
//! `overlaySize`, `/etc/containers/storage.conf` ([`storage_conf`]).
//! Several ContainerRuntimeConfigs for one pool are combined field by field
//! in name order (the later set value wins). OpenShift's checks apply:
//! `pidsLimit` 0 or at least 20; `logSizeMax` not in 1..=8192 bytes;
//! `overlaySize` not negative; `logLevel` one of error, fatal, panic, warn,
//! info, debug, trace; `defaultRuntime` runc or crun.

use base64::Engine as _;
use ignition::model::{Config, File, Ignition, Resource, Storage};
use serde_json::{json, Map, Value};

use crate::model::{
    ContainerRuntimeConfig, ContainerRuntimeConfiguration, KubeletConfig, MachineConfig,
    MachineConfigPool, MachineConfigSpec, ObjectMeta, GENERATED_BY_ANNOTATION, ROLE_LABEL,
};
use crate::render::RenderError;
use crate::selector::selects;
use crate::{canonical, validate, Inputs};

pub const KUBELET_CONF_PATH: &str = "/etc/kubernetes/kubelet.conf";
pub const CRIO_DROPIN_DIR: &str = "/etc/crio/crio.conf.d";
pub const STORAGE_CONF_PATH: &str = "/etc/containers/storage.conf";
/// The value of the generated-by annotation on generated MachineConfigs.
pub const GENERATOR: &str = concat!("mooring-", env!("CARGO_PKG_VERSION"));

/// A MachineConfig a generator makes for a pool, or why it could not.
#[derive(Debug, Clone)]
pub struct Generated {
    pub pool: String,
    pub name: String,
    pub result: Result<MachineConfig, RenderError>,
}

/// The generated MachineConfigs of every pool (in pool name order, kubelet
/// before container runtime). Pools no generator object selects get none.
pub fn generated_machine_configs(inputs: &Inputs, pools: &[MachineConfigPool]) -> Vec<Generated> {
    let mut out = Vec::new();
    for pool in pools {
        let name = pool.name();
        let mut kcs: Vec<&KubeletConfig> = inputs
            .kubelet_configs
            .iter()
            .filter(|k| {
                selects(
                    k.spec.machine_config_pool_selector.as_ref(),
                    &pool.metadata.labels,
                )
            })
            .collect();
        kcs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        if !kcs.is_empty() {
            let mc_name = format!("99-{name}-generated-kubelet");
            out.push(Generated {
                pool: name.to_string(),
                result: kubelet_machine_config(&kcs, name, &mc_name),
                name: mc_name,
            });
        }
        let mut ccs: Vec<&ContainerRuntimeConfig> = inputs
            .container_runtime_configs
            .iter()
            .filter(|c| {
                selects(
                    c.spec.machine_config_pool_selector.as_ref(),
                    &pool.metadata.labels,
                )
            })
            .collect();
        ccs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        if !ccs.is_empty() {
            let mc_name = format!("99-{name}-generated-containerruntime");
            match container_runtime_machine_config(&ccs, name, &mc_name) {
                Ok(None) => {}
                Ok(Some(mc)) => out.push(Generated {
                    pool: name.to_string(),
                    name: mc_name,
                    result: Ok(mc),
                }),
                Err(e) => out.push(Generated {
                    pool: name.to_string(),
                    name: mc_name,
                    result: Err(e),
                }),
            }
        }
    }
    out
}

/// mooring's KubeletConfiguration defaults, modelled on OpenShift's worker
/// template without its cluster-specific values (cluster DNS address, TLS
/// profile):
///
/// ```yaml
/// apiVersion: kubelet.config.k8s.io/v1beta1
/// kind: KubeletConfiguration
/// authentication: {anonymous: {enabled: false}, webhook: {enabled: true},
///                  x509: {clientCAFile: /etc/kubernetes/kubelet-ca.crt}}
/// authorization: {mode: Webhook}
/// cgroupDriver: systemd
/// cgroupRoot: /
/// clusterDomain: cluster.local
/// containerLogMaxSize: 50Mi
/// containerRuntimeEndpoint: unix:///var/run/crio/crio.sock
/// enforceNodeAllocatable: [pods]
/// failSwapOn: false
/// kubeAPIBurst: 100
/// kubeAPIQPS: 50
/// maxPods: 250
/// memorySwap: {swapBehavior: NoSwap}
/// nodeStatusReportFrequency: 5m
/// nodeStatusUpdateFrequency: 10s
/// podPidsLimit: 4096
/// protectKernelDefaults: true
/// rotateCertificates: true
/// serializeImagePulls: false
/// serverTLSBootstrap: true
/// staticPodPath: /etc/kubernetes/manifests
/// systemCgroups: /system.slice
/// systemReservedCgroup: /system.slice
/// ```
pub fn default_kubelet_config() -> Value {
    json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": "/etc/kubernetes/kubelet-ca.crt"}
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "systemd",
        "cgroupRoot": "/",
        "clusterDomain": "cluster.local",
        "containerLogMaxSize": "50Mi",
        "containerRuntimeEndpoint": "unix:///var/run/crio/crio.sock",
        "enforceNodeAllocatable": ["pods"],
        "failSwapOn": false,
        "kubeAPIBurst": 100,
        "kubeAPIQPS": 50,
        "maxPods": 250,
        "memorySwap": {"swapBehavior": "NoSwap"},
        "nodeStatusReportFrequency": "5m",
        "nodeStatusUpdateFrequency": "10s",
        "podPidsLimit": 4096,
        "protectKernelDefaults": true,
        "rotateCertificates": true,
        "serializeImagePulls": false,
        "serverTLSBootstrap": true,
        "staticPodPath": "/etc/kubernetes/manifests",
        "systemCgroups": "/system.slice",
        "systemReservedCgroup": "/system.slice"
    })
}

fn kubelet_error(kc: &KubeletConfig, message: String) -> RenderError {
    RenderError::Object {
        kind: "KubeletConfig",
        name: kc.metadata.name.clone(),
        message,
    }
}

/// Checks one KubeletConfig's user fields; see the module docs.
pub fn check_kubelet_config(kc: &KubeletConfig) -> Result<(), String> {
    validate::pool_selector(kc.spec.machine_config_pool_selector.as_ref())?;
    let user = match &kc.spec.kubelet_config {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("spec.kubeletConfig must be an object".into()),
    };
    for (field, want) in [
        ("kind", "KubeletConfiguration"),
        ("apiVersion", "kubelet.config.k8s.io/v1beta1"),
    ] {
        if let Some(v) = user.get(field) {
            if v.as_str() != Some(want) {
                return Err(format!(
                    "spec.kubeletConfig.{field}: must be {want:?}, not {v}"
                ));
            }
        }
    }
    for field in ["cgroupDriver", "failSwapOn"] {
        if let Some(v) = user.get(field) {
            return Err(format!(
                "spec.kubeletConfig.{field}: is not allowed to be set, but contains {v}"
            ));
        }
    }
    if let Some(v) = user.get("memorySwap").and_then(|m| m.get("swapBehavior")) {
        return Err(format!(
            "spec.kubeletConfig.memorySwap.swapBehavior: is not allowed to be set, but contains {v}"
        ));
    }
    Ok(())
}

fn kubelet_machine_config(
    kcs: &[&KubeletConfig],
    pool: &str,
    mc_name: &str,
) -> Result<MachineConfig, RenderError> {
    let mut conf = default_kubelet_config();
    for kc in kcs {
        check_kubelet_config(kc).map_err(|m| kubelet_error(kc, m))?;
        if let Some(user) = &kc.spec.kubelet_config {
            overlay(&mut conf, user);
        }
    }
    let text = serde_yaml::to_string(&canonical::sorted(&conf)).map_err(|e| {
        kubelet_error(
            kcs[kcs.len() - 1],
            format!("cannot write the KubeletConfiguration: {e}"),
        )
    })?;
    Ok(generated_mc(
        mc_name,
        pool,
        vec![(KUBELET_CONF_PATH.into(), text)],
    ))
}

/// Lays `user` over `base`: objects merge key by key, `null` removes the
/// key, any other value replaces.
pub fn overlay(base: &mut Value, user: &Value) {
    match (base, user) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(existing) = b.get_mut(k) {
                    overlay(existing, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, u) => *b = u.clone(),
    }
}

fn ctrcfg_error(cc: &ContainerRuntimeConfig, message: String) -> RenderError {
    RenderError::Object {
        kind: "ContainerRuntimeConfig",
        name: cc.metadata.name.clone(),
        message,
    }
}

/// Checks one ContainerRuntimeConfig; see the module docs.
pub fn check_container_runtime_config(cc: &ContainerRuntimeConfig) -> Result<(), String> {
    validate::pool_selector(cc.spec.machine_config_pool_selector.as_ref())?;
    let Some(c) = &cc.spec.container_runtime_config else {
        return Ok(());
    };
    const F: &str = "spec.containerRuntimeConfig";
    if let Some(p) = c.pids_limit {
        if p != 0 && p < 20 {
            return Err(format!(
                "{F}.pidsLimit: invalid value {p}: 0 or at least 20"
            ));
        }
    }
    if let Some(q) = &c.log_size_max {
        let v = q.value().map_err(|e| format!("{F}.logSizeMax: {e}"))?;
        if v > 0 && v <= 8192 {
            return Err(format!(
                "{F}.logSizeMax: invalid value {q}: cannot be less than 8kB"
            ));
        }
    }
    if let Some(q) = &c.overlay_size {
        if q.value().map_err(|e| format!("{F}.overlaySize: {e}"))? < 0 {
            return Err(format!(
                "{F}.overlaySize: invalid value {q}: cannot be less than 0"
            ));
        }
    }
    const LEVELS: [&str; 7] = ["error", "fatal", "panic", "warn", "info", "debug", "trace"];
    if !c.log_level.is_empty() && !LEVELS.contains(&c.log_level.as_str()) {
        return Err(format!(
            "{F}.logLevel: invalid value {:?}: must be one of {}",
            c.log_level,
            LEVELS.join(", ")
        ));
    }
    if !matches!(c.default_runtime.as_str(), "" | "runc" | "crun") {
        return Err(format!(
            "{F}.defaultRuntime: invalid value {:?}: must be crun or runc",
            c.default_runtime
        ));
    }
    Ok(())
}

fn container_runtime_machine_config(
    ccs: &[&ContainerRuntimeConfig],
    pool: &str,
    mc_name: &str,
) -> Result<Option<MachineConfig>, RenderError> {
    let mut merged = ContainerRuntimeConfiguration::default();
    for cc in ccs {
        check_container_runtime_config(cc).map_err(|m| ctrcfg_error(cc, m))?;
        let Some(c) = &cc.spec.container_runtime_config else {
            continue;
        };
        if c.pids_limit.is_some() {
            merged.pids_limit = c.pids_limit;
        }
        if !c.log_level.is_empty() {
            merged.log_level = c.log_level.clone();
        }
        if c.log_size_max.is_some() {
            merged.log_size_max = c.log_size_max.clone();
        }
        if c.overlay_size.is_some() {
            merged.overlay_size = c.overlay_size.clone();
        }
        if !c.default_runtime.is_empty() {
            merged.default_runtime = c.default_runtime.clone();
        }
    }
    let files = crio_files(&merged);
    Ok((!files.is_empty()).then(|| generated_mc(mc_name, pool, files)))
}

/// The files for one (combined) ContainerRuntimeConfiguration, in order.
/// Values were checked by [`check_container_runtime_config`].
pub fn crio_files(c: &ContainerRuntimeConfiguration) -> Vec<(String, String)> {
    let dropin = |field: &str, line: String| {
        (
            format!("{CRIO_DROPIN_DIR}/01-ctrcfg-{field}"),
            format!("[crio.runtime]\n{line}\n"),
        )
    };
    let mut files = Vec::new();
    if !c.log_level.is_empty() {
        files.push(dropin(
            "logLevel",
            format!("log_level = {}", toml_str(&c.log_level)),
        ));
    }
    if let Some(p) = c.pids_limit {
        files.push(dropin("pidsLimit", format!("pids_limit = {p}")));
    }
    if let Some(v) = c.log_size_max.as_ref().and_then(|q| q.value().ok()) {
        if v != 0 {
            files.push(dropin("logSizeMax", format!("log_size_max = {v}")));
        }
    }
    if !c.default_runtime.is_empty() {
        files.push(dropin(
            "defaultRuntime",
            format!("default_runtime = {}", toml_str(&c.default_runtime)),
        ));
    }
    if let Some(q) = &c.overlay_size {
        if q.value().is_ok_and(|v| v != 0) {
            files.push((STORAGE_CONF_PATH.to_string(), storage_conf(&q.0)));
        }
    }
    files
}

/// `/etc/containers/storage.conf` with an overlay size limit: the
/// containers-storage defaults CRI-O nodes use (overlay driver, runroot
/// `/run/containers/storage`, graphroot `/var/lib/containers/storage`) and
/// `size` under `[storage.options.overlay]`. OpenShift writes the same
/// defaults from its template, with `size` under `[storage.options]`.
pub fn storage_conf(size: &str) -> String {
    format!(
        "[storage]\n\
         driver = \"overlay\"\n\
         runroot = \"/run/containers/storage\"\n\
         graphroot = \"/var/lib/containers/storage\"\n\
         \n\
         [storage.options]\n\
         additionalimagestores = []\n\
         \n\
         [storage.options.overlay]\n\
         mountopt = \"nodev\"\n\
         size = {}\n",
        toml_str(size)
    )
}

/// A TOML basic string (the same escapes as JSON for what can occur here).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A generated MachineConfig writing these files (mode 0644, overwrite).
fn generated_mc(name: &str, pool: &str, files: Vec<(String, String)>) -> MachineConfig {
    let config = Config {
        ignition: Ignition {
            version: ignition::model::LATEST.to_string(),
            ..Default::default()
        },
        storage: Storage {
            files: files
                .into_iter()
                .map(|(path, text)| File {
                    path,
                    mode: Some(0o644),
                    overwrite: Some(true),
                    contents: Resource {
                        source: Some(data_url(text.as_bytes())),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut metadata = ObjectMeta {
        name: name.to_string(),
        ..Default::default()
    };
    metadata
        .labels
        .insert(ROLE_LABEL.to_string(), pool.to_string());
    metadata
        .annotations
        .insert(GENERATED_BY_ANNOTATION.to_string(), GENERATOR.to_string());
    MachineConfig {
        metadata,
        spec: MachineConfigSpec {
            config: serde_json::to_value(&config).unwrap_or(Value::Object(Map::new())),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A base64 data URL, as OpenShift's controllers encode generated files.
pub fn data_url(bytes: &[u8]) -> String {
    format!(
        "data:text/plain;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}
