//! Everything rendering reads: the admin's objects, as loaded.

use crate::model::{ContainerRuntimeConfig, KubeletConfig, MachineConfig, MachineConfigPool};

/// The objects of a directory (or built in code). Order does not matter:
/// rendering sorts by name where order counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub machine_configs: Vec<MachineConfig>,
    pub pools: Vec<MachineConfigPool>,
    pub kubelet_configs: Vec<KubeletConfig>,
    pub container_runtime_configs: Vec<ContainerRuntimeConfig>,
}

/// The pools OpenShift ships, used when the inputs define none.
pub const DEFAULT_POOLS: [&str; 2] = ["master", "worker"];

impl Inputs {
    /// The pools in name order: the defined ones, or `master` and `worker`
    /// with OpenShift's default labels and selectors
    /// ([`MachineConfigPool::builtin`]) when none is defined.
    pub fn pools(&self) -> Vec<MachineConfigPool> {
        let mut pools = if self.pools.is_empty() {
            DEFAULT_POOLS
                .iter()
                .map(|n| MachineConfigPool::builtin(n))
                .collect()
        } else {
            self.pools.clone()
        };
        pools.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        pools
    }

    /// One pool by name (defaults applied).
    pub fn pool(&self, name: &str) -> Option<MachineConfigPool> {
        self.pools().into_iter().find(|p| p.metadata.name == name)
    }
}
