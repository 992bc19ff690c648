//! OpenShift's `machineconfiguration.openshift.io/v1` objects as serde
//! types, reading and writing the YAML and JSON OpenShift does.
//!
//! Unknown fields in `spec` are errors (OpenShift's API server drops them
//! silently, which hides typos). In `metadata` only `name`, `labels` and
//! `annotations` are kept; the other ObjectMeta fields a cluster export
//! carries (`uid`, `resourceVersion`, ...) are accepted and ignored, and so
//! is a top-level `status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// The API group and version of every kind here.
pub const API_VERSION: &str = "machineconfiguration.openshift.io/v1";
/// The MachineConfig label that names its role (the pool it is for).
pub const ROLE_LABEL: &str = "machineconfiguration.openshift.io/role";
/// The annotation OpenShift puts on MachineConfigs a controller generated;
/// their `osImageURL` is ignored when rendering.
pub const GENERATED_BY_ANNOTATION: &str =
    "machineconfiguration.openshift.io/generated-by-controller-version";

/// `null` reads as the default (Go writes nil slices as `null`).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn api_version() -> String {
    API_VERSION.to_string()
}

/// The part of Kubernetes' ObjectMeta that matters here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// A MachineConfig: a piece of node configuration for the pools whose
/// `machineConfigSelector` selects its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfig {
    #[serde(default = "api_version")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: MachineConfigSpec,
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            api_version: api_version(),
            kind: "MachineConfig".into(),
            metadata: ObjectMeta::default(),
            spec: MachineConfigSpec::default(),
            status: None,
        }
    }
}

impl MachineConfig {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The `machineconfiguration.openshift.io/role` label, when set.
    pub fn role(&self) -> Option<&str> {
        self.metadata.labels.get(ROLE_LABEL).map(String::as_str)
    }
}

/// MachineConfig `spec`. Every field is written out, as OpenShift does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfigSpec {
    /// The OS image (ostree container) the node should run; empty: keep.
    #[serde(rename = "osImageURL", default, deserialize_with = "nullable")]
    pub os_image_url: String,
    #[serde(
        rename = "baseOSExtensionsContainerImage",
        default,
        deserialize_with = "nullable"
    )]
    pub base_os_extensions_container_image: String,
    /// An Ignition config of any supported spec (3.0-3.6, 2.2-2.3) as a JSON
    /// object; `null` when the MachineConfig carries none. In a rendered
    /// MachineConfig it is the merged config as spec 3.6.0.
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default, deserialize_with = "nullable")]
    pub kernel_arguments: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub extensions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub fips: bool,
    /// `""`/`default`, `realtime` or `64k-pages`.
    #[serde(default, deserialize_with = "nullable")]
    pub kernel_type: String,
}

/// A MachineConfigPool: a set of nodes (`nodeSelector`) and the
/// MachineConfigs rendered for them (`machineConfigSelector`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfigPool {
    #[serde(default = "api_version")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: MachineConfigPoolSpec,
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
}

impl MachineConfigPool {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// A pool as OpenShift ships `master` and `worker`: labels
    /// `machineconfiguration.openshift.io/mco-built-in: ""` and
    /// `pools.operator.machineconfiguration.openshift.io/<name>: ""`,
    /// machineConfigSelector `machineconfiguration.openshift.io/role: <name>`,
    /// nodeSelector `node-role.kubernetes.io/<name>: ""`.
    pub fn builtin(name: &str) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert(
            "machineconfiguration.openshift.io/mco-built-in".to_string(),
            String::new(),
        );
        labels.insert(
            format!("pools.operator.machineconfiguration.openshift.io/{name}"),
            String::new(),
        );
        let node_role = format!("node-role.kubernetes.io/{name}");
        MachineConfigPool {
            api_version: api_version(),
            kind: "MachineConfigPool".into(),
            metadata: ObjectMeta {
                name: name.into(),
                labels,
                annotations: BTreeMap::new(),
            },
            spec: MachineConfigPoolSpec {
                machine_config_selector: Some(LabelSelector::labels([(ROLE_LABEL, name)])),
                node_selector: Some(LabelSelector::labels([(node_role.as_str(), "")])),
                ..Default::default()
            },
            status: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfigPoolSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_config_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    #[serde(default, deserialize_with = "nullable")]
    pub paused: bool,
    /// How many nodes may update at once: a count or a percentage of the
    /// pool (`"10%"`); default 1. See [`IntOrString::scaled`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Set by OpenShift's controller (the rendered config it targets);
    /// accepted in input and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<serde_json::Value>,
    /// OpenShift fields accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_image_sets: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_image_stream: Option<serde_json::Value>,
}

/// Kubernetes' IntOrString (`maxUnavailable: 2` or `maxUnavailable: "25%"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// The value for a pool of `total` nodes: an int as is, a percentage of
    /// `total` rounded down; at least 1, as OpenShift's node controller uses
    /// `maxUnavailable` (0 means 1).
    pub fn scaled(&self, total: usize) -> Result<usize, String> {
        let n = match self {
            IntOrString::Int(i) if *i < 0 => return Err(format!("negative value {i}")),
            IntOrString::Int(i) => usize::try_from(*i).unwrap_or(usize::MAX),
            IntOrString::String(s) => {
                let pct: usize = s
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| {
                        format!("invalid value {s:?}: an integer or a percentage like \"10%\"")
                    })?;
                total * pct / 100
            }
        };
        Ok(n.max(1))
    }
}

/// A KubeletConfig: kubelet settings for the pools its
/// `machineConfigPoolSelector` selects (by pool labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletConfig {
    #[serde(default = "api_version")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: KubeletConfigSpec,
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_config_pool_selector: Option<LabelSelector>,
    /// Fields of a KubeletConfiguration (`kubelet.config.k8s.io/v1beta1`),
    /// free-form; laid over mooring's defaults (see [`crate::generate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_config: Option<serde_json::Value>,
}

/// A ContainerRuntimeConfig: CRI-O and storage settings for the pools its
/// `machineConfigPoolSelector` selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerRuntimeConfig {
    #[serde(default = "api_version")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ContainerRuntimeConfigSpec,
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerRuntimeConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_config_pool_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime_config: Option<ContainerRuntimeConfiguration>,
}

/// The settings; each one set becomes one CRI-O drop-in (or storage.conf).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerRuntimeConfiguration {
    /// `pids_limit`: 0 or at least 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// `log_level`: error, fatal, panic, warn, info, debug or trace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_level: String,
    /// `log_size_max`: a quantity, more than 8 KiB, or negative (no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_size_max: Option<Quantity>,
    /// The overlay size limit in `/etc/containers/storage.conf`; 0: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_size: Option<Quantity>,
    /// `default_runtime`: `runc` or `crun`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_runtime: String,
}
