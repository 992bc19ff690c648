//! A rendered pool as the bytes served for one Ignition spec version, as
//! OpenShift's MCS builds them (`GetConfig` and its appenders in
//! machine-config-operator's `pkg/server`):
//!
//! 1. For a spec older than 3.3 (which has no `kernelArguments`), the
//!    config's `kernelArguments.shouldExist` move to the MachineConfig's
//!    `spec.kernelArguments`, where the daemon applies them on first boot;
//!    `shouldNotExist` cannot be moved and is an error.
//! 2. Files are appended: [`NODE_ANNOTATIONS_PATH`] (the node annotations the
//!    daemon sets on first boot: current, desired and first-pivot config =
//!    the rendered name, state `Done`) and, last,
//!    [`ENCAPSULATED_PATH`] (the rendered MachineConfig as compact JSON, its
//!    `spec.config` emptied to `{"ignition":{"version":V}}` with V the served
//!    version, since Ignition itself applies the config). Both have mode 0644,
//!    `overwrite: true` and a percent-encoded `data:,` URL. A file of the
//!    rendered config at the same path is replaced (OpenShift appends a
//!    duplicate, which makes the config invalid).
//! 3. The result is down-translated to the version
//!    ([`ignition::downtranslate::to_spec`]) and serialized compactly.

use std::collections::BTreeMap;

use ignition::model::File;
use ignition::{Config, SpecVersion};
use machine_config::{MachineConfig, RenderedPool};

/// The annotations the daemon sets on its node on first boot.
pub const NODE_ANNOTATIONS_PATH: &str = "/etc/machine-config-daemon/node-annotations.json";
/// The MachineConfig the daemon's first-boot service applies.
pub const ENCAPSULATED_PATH: &str = "/etc/ignition-machine-config-encapsulated.json";
/// The mode of the appended files (0644).
pub const APPENDED_MODE: i64 = 0o644;

pub const CURRENT_CONFIG: &str = "machineconfiguration.openshift.io/currentConfig";
pub const DESIRED_CONFIG: &str = "machineconfiguration.openshift.io/desiredConfig";
pub const FIRST_PIVOT_CONFIG: &str = "machineconfiguration.openshift.io/firstPivotConfig";
pub const STATE: &str = "machineconfiguration.openshift.io/state";

/// Why a config cannot be served in a version; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve {name} as spec {version}: {message}")]
    NotExpressible {
        name: String,
        version: SpecVersion,
        message: String,
    },
}

/// A file mooring appends for its node API (`mcs.json`, the bootstrap token):
/// after the rendered config's files, before the node annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    pub path: String,
    pub contents: String,
    pub mode: i64,
}

/// The served body of `rendered` in spec `version` (see the module docs),
/// with `node_files` appended.
pub fn config_bytes(
    rendered: &RenderedPool,
    node_files: &[NodeFile],
    version: SpecVersion,
) -> Result<Vec<u8>, ServeError> {
    let err = |message: String| ServeError::NotExpressible {
        name: rendered.name.clone(),
        version,
        message,
    };
    let mut config = rendered.ignition.clone();
    let mut mc = rendered.machine_config.clone();
    migrate_kernel_arguments(&mut config, &mut mc, version).map_err(err)?;
    for f in node_files {
        append_file(&mut config, &f.path, &f.contents, f.mode);
    }
    append_file(
        &mut config,
        NODE_ANNOTATIONS_PATH,
        &node_annotations(&rendered.name),
        APPENDED_MODE,
    );
    append_file(
        &mut config,
        ENCAPSULATED_PATH,
        &encapsulated(&mc, version).map_err(err)?,
        APPENDED_MODE,
    );
    let value =
        ignition::downtranslate::to_spec(&config, version).map_err(|e| err(e.to_string()))?;
    serde_json::to_vec(&value).map_err(|e| err(format!("cannot serialize: {e}")))
}

/// Step 1 of the module docs.
fn migrate_kernel_arguments(
    config: &mut Config,
    mc: &mut MachineConfig,
    version: SpecVersion,
) -> Result<(), String> {
    if version.since(3) {
        return Ok(());
    }
    let kargs = &mut config.kernel_arguments;
    if !kargs.should_not_exist.is_empty() {
        return Err(format!(
            "$.kernelArguments.shouldNotExist: not expressible in spec {version} \
             (kernelArguments needs 3.3.0, and a MachineConfig has no place for arguments to remove)"
        ));
    }
    mc.spec
        .kernel_arguments
        .extend(std::mem::take(&mut kargs.should_exist));
    Ok(())
}

/// The JSON of [`NODE_ANNOTATIONS_PATH`].
pub fn node_annotations(rendered_name: &str) -> String {
    let map = BTreeMap::from([
        (CURRENT_CONFIG, rendered_name),
        (DESIRED_CONFIG, rendered_name),
        (FIRST_PIVOT_CONFIG, rendered_name),
        (STATE, "Done"),
    ]);
    serde_json::to_string(&map).unwrap_or_default()
}

/// The JSON of [`ENCAPSULATED_PATH`].
fn encapsulated(mc: &MachineConfig, version: SpecVersion) -> Result<String, String> {
    let mut mc = mc.clone();
    mc.spec.config = serde_json::json!({"ignition": {"version": version.to_string()}});
    serde_json::to_string(&mc).map_err(|e| format!("cannot serialize the MachineConfig: {e}"))
}

/// Adds a file (`mode`, overwrite) with `contents`, replacing one at the same path.
pub fn append_file(config: &mut Config, path: &str, contents: &str, mode: i64) {
    config.storage.files.retain(|f| f.path != path);
    let mut file = File {
        path: path.to_string(),
        overwrite: Some(true),
        mode: Some(mode),
        ..File::default()
    };
    file.contents.source = Some(data_url(contents.as_bytes()));
    config.storage.files.push(file);
}

/// A `data:,` URL with the bytes percent-encoded (all but unreserved characters).
pub fn data_url(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(6 + bytes.len() * 2);
    out.push_str("data:,");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(yaml_spec: &str) -> RenderedPool {
        let yaml = format!(
            "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
             metadata:\n  name: 50-w\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
             spec:\n{yaml_spec}\n"
        );
        let loaded = machine_config::load_texts([("t.yaml".into(), yaml)]);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        machine_config::render_pool(&loaded.inputs, "worker").unwrap()
    }

    fn file_text(cfg: &Config, path: &str) -> String {
        let f = cfg.storage.files.iter().find(|f| f.path == path).unwrap();
        assert_eq!(f.mode, Some(0o644));
        assert_eq!(f.overwrite, Some(true));
        let url = f.contents.source.as_deref().unwrap();
        String::from_utf8(ignition::dataurl::decode(url).unwrap().data).unwrap()
    }

    #[test]
    fn data_url_round_trips() {
        let text = "{\"a\": \"b c/d%é\"}\n";
        let url = data_url(text.as_bytes());
        assert!(url.starts_with("data:,%7B%22a%22"), "{url}");
        let back = ignition::dataurl::decode(&url).unwrap().data;
        assert_eq!(back, text.as_bytes());
    }

    #[test]
    fn appends_annotations_and_encapsulated_in_every_version() {
        let r = rendered("  kernelArguments: [quiet]\n  config:\n    ignition: {version: 3.2.0}\n    storage:\n      files:\n      - {path: /etc/motd, contents: {source: 'data:,hi'}}");
        for v in crate::negotiate::SERVED {
            let bytes = config_bytes(&r, &[], v).unwrap();
            let parsed = ignition::parse(&bytes).unwrap();
            assert!(!parsed.report.has_errors(), "{v}: {:?}", parsed.report);
            assert_eq!(parsed.source_version, v);
            let cfg = parsed.config;
            let ann: BTreeMap<String, String> =
                serde_json::from_str(&file_text(&cfg, NODE_ANNOTATIONS_PATH)).unwrap();
            assert_eq!(ann[CURRENT_CONFIG], r.name);
            assert_eq!(ann[DESIRED_CONFIG], r.name);
            assert_eq!(ann[STATE], "Done");
            let mc: serde_json::Value =
                serde_json::from_str(&file_text(&cfg, ENCAPSULATED_PATH)).unwrap();
            assert_eq!(mc["metadata"]["name"], r.name.as_str());
            assert_eq!(mc["kind"], "MachineConfig");
            assert_eq!(mc["spec"]["kernelArguments"], serde_json::json!(["quiet"]));
            assert_eq!(mc["spec"]["config"]["ignition"]["version"], v.to_string());
            assert_eq!(cfg.storage.files.last().unwrap().path, ENCAPSULATED_PATH);
            assert!(cfg.storage.files.iter().any(|f| f.path == "/etc/motd"));
        }
    }

    #[test]
    fn replaces_a_file_at_an_appended_path() {
        let r = rendered("  config:\n    ignition: {version: 3.2.0}\n    storage:\n      files:\n      - {path: /etc/machine-config-daemon/node-annotations.json, contents: {source: 'data:,x'}}");
        let cfg = ignition::parse(&config_bytes(&r, &[], SpecVersion::LATEST).unwrap())
            .unwrap()
            .config;
        let n = cfg
            .storage
            .files
            .iter()
            .filter(|f| f.path == NODE_ANNOTATIONS_PATH)
            .count();
        assert_eq!(n, 1);
        assert!(file_text(&cfg, NODE_ANNOTATIONS_PATH).contains("Done"));
    }

    #[test]
    fn ignition_kernel_arguments_move_to_the_machine_config_before_3_3() {
        let r = rendered("  kernelArguments: [a]\n  config:\n    ignition: {version: 3.3.0}\n    kernelArguments:\n      shouldExist: [b]");
        let old = ignition::parse(&config_bytes(&r, &[], SpecVersion::new(3, 2)).unwrap())
            .unwrap()
            .config;
        assert!(old.kernel_arguments.should_exist.is_empty());
        let mc: serde_json::Value =
            serde_json::from_str(&file_text(&old, ENCAPSULATED_PATH)).unwrap();
        assert_eq!(mc["spec"]["kernelArguments"], serde_json::json!(["a", "b"]));
        let new = ignition::parse(&config_bytes(&r, &[], SpecVersion::new(3, 3)).unwrap())
            .unwrap()
            .config;
        assert_eq!(new.kernel_arguments.should_exist, ["b"]);

        let r = rendered("  config:\n    ignition: {version: 3.3.0}\n    kernelArguments:\n      shouldNotExist: [b]");
        let e = config_bytes(&r, &[], SpecVersion::new(3, 1)).unwrap_err();
        assert!(
            e.to_string().contains("$.kernelArguments.shouldNotExist"),
            "{e}"
        );
    }

    #[test]
    fn not_expressible_names_the_field() {
        let r = rendered("  config:\n    ignition: {version: 3.2.0}\n    storage:\n      luks:\n      - {name: a, device: /dev/vdb}");
        let e = config_bytes(&r, &[], SpecVersion::new(3, 1)).unwrap_err();
        assert!(e.to_string().contains("$.storage.luks"), "{e}");
        assert!(config_bytes(&r, &[], SpecVersion::new(3, 2)).is_ok());
    }
}
