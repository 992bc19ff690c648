//! The MachineConfig model shared by `mcs` and `mcd`: OpenShift's
//! MachineConfig, MachineConfigPool, KubeletConfig and ContainerRuntimeConfig
//! (`machineconfiguration.openshift.io/v1`), label selectors, loading them
//! from a directory of YAML, and rendering one config per pool.
//!
//! The flow is pure: [`load_dir`] (or [`load_texts`]) reads the admin's YAML
//! into [`Inputs`], reporting every document it could not take as an
//! [`InputError`]; [`render_pool`] / [`render_all`] turn the inputs into one
//! [`RenderedPool`] per pool with OpenShift's merge rules (see [`render`]);
//! [`prune`] says which old rendered configs a server may delete.
//!
//! ```
//! use machine_config::{load_texts, render_pool};
//! let yaml = r#"
//! apiVersion: machineconfiguration.openshift.io/v1
//! kind: MachineConfig
//! metadata:
//!   name: 50-worker-kargs
//!   labels:
//!     machineconfiguration.openshift.io/role: worker
//! spec:
//!   kernelArguments: [quiet]
//! "#;
//! let loaded = load_texts([("mc.yaml".into(), yaml.to_string())]);
//! assert!(loaded.errors.is_empty());
//! let rendered = render_pool(&loaded.inputs, "worker").unwrap();
//! assert!(rendered.name.starts_with("rendered-worker-"));
//! assert_eq!(rendered.machine_config.spec.kernel_arguments, ["quiet"]);
//! ```

pub mod canonical;
pub mod generate;
pub mod inputs;
pub mod load;
pub mod model;
pub mod node_api;
pub mod prune;
pub mod quantity;
pub mod render;
pub mod selector;
pub mod validate;

pub use inputs::Inputs;
pub use load::{load_dir, load_texts, InputError, Loaded};
pub use model::{
    ContainerRuntimeConfig, ContainerRuntimeConfigSpec, ContainerRuntimeConfiguration, IntOrString,
    KubeletConfig, KubeletConfigSpec, MachineConfig, MachineConfigPool, MachineConfigPoolSpec,
    MachineConfigSpec, ObjectMeta, API_VERSION, ROLE_LABEL,
};
pub use prune::{prune, RenderHistory, RenderedRecord};
pub use quantity::Quantity;
pub use render::{render_all, render_pool, RenderError, RenderedPool};
pub use selector::{LabelSelector, LabelSelectorRequirement, Operator};
