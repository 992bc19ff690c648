//! Rendering: the MachineConfigs a pool selects, merged into one
//! `rendered-<pool>-<hash>` MachineConfig, with the rules of OpenShift's
//! render controller (`generateRenderedMachineConfig`) and
//! `MergeMachineConfigs`:
//!
//! 1. The candidates are the user's MachineConfigs plus the generated ones
//!    ([`crate::generate`]) of every pool; the pool takes those its
//!    `machineConfigSelector` selects by label. A pool must have a non-empty
//!    selector and must select at least one MachineConfig; a selected
//!    MachineConfig without any label is an error (as in OpenShift).
//! 2. Each selected MachineConfig is validated ([`crate::validate::machine_config`]);
//!    spec 2.x Ignition is translated to 3.x first.
//! 3. Order: those labelled `machineconfiguration.openshift.io/role: worker`
//!    first, then all the others (a custom pool's own, unlabelled-role
//!    ones...), each group sorted by name. So a custom pool that selects
//!    `worker` and its own role gets every worker config, and its own
//!    configs (its `99-<pool>-generated-kubelet` too) override worker's.
//! 4. Ignition configs are merged child over parent in that order with the
//!    engine's merge (files, directories, links, units, dropins, users keyed,
//!    `sshAuthorizedKeys` a union in order). As in OpenShift, a file's
//!    `contents.compression` is taken from the last config that lists the
//!    file, so a plain file replaces an earlier gzip one cleanly. Files
//!    without `overwrite` then get `overwrite: true`, except files without a
//!    `contents.source`, for which Ignition refuses it (OpenShift sets it
//!    anyway and serves a config Ignition rejects). The merged config must
//!    validate.
//! 5. `kernelArguments` and `extensions` are concatenated in order; `fips` is
//!    true when any is; `kernelType` is the last `realtime` or `64k-pages`,
//!    else `default` (`kernel-devel` with a non-default kernel is an error);
//!    `osImageURL` and `baseOSExtensionsContainerImage` are the last
//!    non-empty ones, ignoring generated MachineConfigs (annotated
//!    `machineconfiguration.openshift.io/generated-by-controller-version`).
//! 6. The name is `rendered-<pool>-<hash>` ([`crate::canonical`]).
//!
//! Merging is done as a balanced tree of pairwise merges rather than a left
//! fold, in O(n log n) instead of O(n²). The engine's merge is associative on
//! valid (duplicate-free) configs except where a key moves between lists that
//! share a namespace (a path that is a file in one config and a link or
//! directory in another; a kernel argument in both `shouldExist` and
//! `shouldNotExist`) or an HTTP header without value deletes one: there the
//! left fold forgets what came before the move and a tree would not, so such
//! inputs take the left fold ([`needs_left_fold`]).

use std::collections::{BTreeMap, HashSet};

use ignition::Config;

use crate::generate::{self, Generated};
use crate::model::{
    MachineConfig, MachineConfigSpec, ObjectMeta, GENERATED_BY_ANNOTATION, ROLE_LABEL,
};
use crate::{canonical, validate, Inputs};

/// A pool's rendered config.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedPool {
    pub pool: String,
    /// `rendered-<pool>-<hash>`.
    pub name: String,
    /// The rendered MachineConfig; `spec.config` is the merged Ignition as
    /// spec 3.6.0 JSON.
    pub machine_config: MachineConfig,
    /// The merged Ignition config.
    pub ignition: Config,
    /// The names of the MachineConfigs merged, in merge order.
    pub sources: Vec<String>,
}

/// Why a pool could not be rendered; the message names the object at fault
/// and the field or JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown pool {0:?}")]
    UnknownPool(String),
    #[error("MachineConfigPool {pool}: {message}")]
    Pool { pool: String, message: String },
    /// A MachineConfig, KubeletConfig or ContainerRuntimeConfig at fault.
    #[error("{kind} {name}: {message}")]
    Object {
        kind: &'static str,
        name: String,
        message: String,
    },
    /// The merged config of a pool is invalid (each input was valid).
    #[error("MachineConfigPool {pool}: the merged config is invalid: {message}")]
    Merged { pool: String, message: String },
}

fn mc_error(name: &str, message: impl Into<String>) -> RenderError {
    RenderError::Object {
        kind: "MachineConfig",
        name: name.to_string(),
        message: message.into(),
    }
}

/// Every pool ([`Inputs::pools`]), in name order, with its result.
pub fn render_all(inputs: &Inputs) -> Vec<(String, Result<RenderedPool, RenderError>)> {
    let pools = inputs.pools();
    let generated = generate::generated_machine_configs(inputs, &pools);
    pools
        .iter()
        .map(|p| {
            let name = p.metadata.name.clone();
            (name.clone(), render_with(inputs, &pools, &generated, &name))
        })
        .collect()
}

/// Renders one pool.
pub fn render_pool(inputs: &Inputs, pool: &str) -> Result<RenderedPool, RenderError> {
    let pools = inputs.pools();
    if !pools.iter().any(|p| p.name() == pool) {
        return Err(RenderError::UnknownPool(pool.to_string()));
    }
    let generated = generate::generated_machine_configs(inputs, &pools);
    render_with(inputs, &pools, &generated, pool)
}

fn render_with(
    inputs: &Inputs,
    pools: &[crate::MachineConfigPool],
    generated: &[Generated],
    pool_name: &str,
) -> Result<RenderedPool, RenderError> {
    let pool = pools
        .iter()
        .find(|p| p.name() == pool_name)
        .ok_or_else(|| RenderError::UnknownPool(pool_name.to_string()))?;
    let pool_err = |message: String| RenderError::Pool {
        pool: pool_name.to_string(),
        message,
    };
    validate::pool(pool).map_err(pool_err)?;
    let selector = pool.spec.machine_config_selector.as_ref();
    let chosen = |labels: &BTreeMap<String, String>| crate::selector::selects(selector, labels);

    // 1. Selection (generated configs are labelled with their pool's role).
    let mut selected: Vec<&MachineConfig> = inputs
        .machine_configs
        .iter()
        .filter(|mc| chosen(&mc.metadata.labels))
        .collect();
    for g in generated {
        let labels = BTreeMap::from([(ROLE_LABEL.to_string(), g.pool.clone())]);
        if chosen(&labels) {
            match &g.result {
                Ok(mc) => selected.push(mc),
                Err(e) => return Err(e.clone()),
            }
        }
    }
    if selected.is_empty() {
        return Err(pool_err(
            "no MachineConfig is selected by spec.machineConfigSelector".into(),
        ));
    }
    let mut seen = HashSet::new();
    for mc in &selected {
        if !seen.insert(mc.name()) {
            return Err(mc_error(
                mc.name(),
                "more than one MachineConfig has this name (a generated one included)",
            ));
        }
        if mc.metadata.labels.is_empty() {
            return Err(mc_error(mc.name(), "has no labels"));
        }
    }

    // 3. Order: role worker first, then the others; each by name.
    selected.sort_by(|a, b| {
        let group = |mc: &MachineConfig| mc.role() != Some("worker");
        (group(a), a.name()).cmp(&(group(b), b.name()))
    });

    // 2. Validation and parse (in parallel; the first error in merge order wins).
    let parsed = parallel_map(&selected, |mc| {
        validate::machine_config(mc).map_err(|m| mc_error(mc.name(), m))
    });
    let mut configs = Vec::with_capacity(selected.len());
    for p in parsed {
        configs.extend(p?);
    }

    // 4. Ignition.
    let mut ignition = merge_all(configs);
    for f in &mut ignition.storage.files {
        // Go Ignition refuses overwrite with no source: leave those unset.
        if f.overwrite.is_none() && f.contents.source.is_some() {
            f.overwrite = Some(true);
        }
    }
    ignition.ignition.version = ignition::model::LATEST.to_string();
    let report = ignition::validate::validate(&ignition, ignition::SpecVersion::LATEST);
    if report.has_errors() {
        let message = report
            .errors()
            .map(|f| format!("error at {}: {}", f.path, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(RenderError::Merged {
            pool: pool_name.to_string(),
            message,
        });
    }

    // 5. The other fields.
    let mut spec = merge_spec(&selected, &ignition).map_err(pool_err)?;

    // 6. Name. The config moves into the hashed value and back (no copy).
    let config = std::mem::take(&mut spec.config);
    let mut spec_value =
        serde_json::to_value(&spec).map_err(|e| pool_err(format!("cannot serialize: {e}")))?;
    spec_value["config"] = config;
    let name = format!("rendered-{pool_name}-{}", canonical::spec_hash(&spec_value));
    spec.config = spec_value["config"].take();
    let mut metadata = ObjectMeta {
        name: name.clone(),
        ..Default::default()
    };
    metadata.annotations.insert(
        GENERATED_BY_ANNOTATION.to_string(),
        generate::GENERATOR.to_string(),
    );
    Ok(RenderedPool {
        pool: pool_name.to_string(),
        name,
        machine_config: MachineConfig {
            metadata,
            spec,
            ..Default::default()
        },
        ignition,
        sources: selected.iter().map(|mc| mc.name().to_string()).collect(),
    })
}

fn merge_spec(selected: &[&MachineConfig], ignition: &Config) -> Result<MachineConfigSpec, String> {
    let mut spec = MachineConfigSpec {
        config: serde_json::to_value(ignition).map_err(|e| e.to_string())?,
        kernel_type: "default".into(),
        ..Default::default()
    };
    for mc in selected {
        let s = &mc.spec;
        spec.kernel_arguments
            .extend(s.kernel_arguments.iter().cloned());
        spec.extensions.extend(s.extensions.iter().cloned());
        spec.fips |= s.fips;
        if matches!(s.kernel_type.as_str(), "realtime" | "64k-pages") {
            spec.kernel_type = s.kernel_type.clone();
        }
        if mc
            .metadata
            .annotations
            .contains_key(GENERATED_BY_ANNOTATION)
        {
            continue;
        }
        if !s.os_image_url.is_empty() {
            spec.os_image_url = s.os_image_url.clone();
        }
        if !s.base_os_extensions_container_image.is_empty() {
            spec.base_os_extensions_container_image = s.base_os_extensions_container_image.clone();
        }
    }
    if spec.kernel_type != "default" && spec.extensions.iter().any(|e| e == "kernel-devel") {
        return Err(format!(
            "installing the kernel-devel extension is not supported with kernelType {}",
            spec.kernel_type
        ));
    }
    Ok(spec)
}

/// Below this many items work is not split across threads.
const PARALLEL_MIN: usize = 64;

fn threads_for(items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(items / PARALLEL_MIN).max(1)
}

/// `f` over the items, in contiguous chunks on scoped threads; results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Merges configs in order, child over parent; see the module docs. No
/// config gives an empty one. Large inputs are split into contiguous runs
/// merged on separate threads, then merged together (the same result as the
/// left fold, which inputs that [`needs_left_fold`] take instead).
pub fn merge_all(configs: Vec<Config>) -> Config {
    if needs_left_fold(&configs) {
        return merge_sequential(configs);
    }
    let threads = threads_for(configs.len());
    if threads == 1 {
        return merge_tree(configs);
    }
    let chunk = configs.len().div_ceil(threads);
    let mut runs: Vec<Vec<Config>> = Vec::new();
    let mut it = configs.into_iter().peekable();
    while it.peek().is_some() {
        runs.push(it.by_ref().take(chunk).collect());
    }
    let merged: Vec<Config> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| s.spawn(move || merge_tree(run)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    merge_tree(merged)
}

/// Pairwise merges in a balanced tree, on this thread.
fn merge_tree(configs: Vec<Config>) -> Config {
    let mut level = configs;
    if level.is_empty() {
        return Config::default();
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(parent) = it.next() {
            next.push(match it.next() {
                Some(child) => merge_pair(&parent, child),
                None => parent,
            });
        }
        level = next;
    }
    level.pop().unwrap_or_default()
}

/// One merge step with OpenShift's compression rule: the child's files
/// without `compression` get `""` for the merge, so they replace the
/// parent's compression, and `""` is unset again afterwards.
pub fn merge_pair(parent: &Config, mut child: Config) -> Config {
    for f in &mut child.storage.files {
        if f.contents.compression.is_none() {
            f.contents.compression = Some(String::new());
        }
    }
    let mut out = ignition::merge::merge(parent, &child);
    for f in &mut out.storage.files {
        if f.contents.compression.as_deref() == Some("") {
            f.contents.compression = None;
        }
    }
    out
}

/// True when merge order matters beyond associativity: a node path in more
/// than one of files/directories/links, a kernel argument in both lists, or
/// an HTTP header without a value (which deletes the parent's header).
pub fn needs_left_fold(configs: &[Config]) -> bool {
    use std::collections::HashMap;
    let mut node_kind: HashMap<&str, u8> = HashMap::new();
    let mut karg_kind: HashMap<&str, u8> = HashMap::new();
    let moves = |map: &mut HashMap<_, u8>, key, kind| *map.entry(key).or_insert(kind) != kind;
    for c in configs {
        let s = &c.storage;
        let nodes = (s.files.iter().map(|f| (f.path.as_str(), 0)))
            .chain(s.directories.iter().map(|d| (d.path.as_str(), 1)))
            .chain(s.links.iter().map(|l| (l.path.as_str(), 2)));
        for (path, kind) in nodes {
            if moves(&mut node_kind, path, kind) {
                return true;
            }
        }
        let k = &c.kernel_arguments;
        let kargs = (k.should_exist.iter().map(|a| (a.as_str(), 0)))
            .chain(k.should_not_exist.iter().map(|a| (a.as_str(), 1)));
        for (arg, kind) in kargs {
            if moves(&mut karg_kind, arg, kind) {
                return true;
            }
        }
        let resources = (s
            .files
            .iter()
            .flat_map(|f| std::iter::once(&f.contents).chain(&f.append)))
        .chain(s.luks.iter().map(|l| &l.key_file))
        .chain(&c.ignition.config.merge)
        .chain(std::iter::once(&c.ignition.config.replace))
        .chain(&c.ignition.security.tls.certificate_authorities);
        for r in resources {
            if r.http_headers.iter().any(|h| h.value.is_none()) {
                return true;
            }
        }
    }
    false
}

/// The left fold OpenShift does; [`merge_all`] gives the same result.
pub fn merge_sequential(configs: Vec<Config>) -> Config {
    let mut it = configs.into_iter();
    let Some(mut out) = it.next() else {
        return Config::default();
    };
    for c in it {
        out = merge_pair(&out, c);
    }
    out
}
