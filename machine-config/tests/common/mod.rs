//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Read;

use machine_config::{load_texts, Inputs};

/// Loads YAML documents; panics on any input error.
pub fn inputs(yaml: &str) -> Inputs {
    let loaded = load_texts([("test.yaml".into(), yaml.to_string())]);
    assert!(
        loaded.errors.is_empty(),
        "input errors: {:?}",
        loaded.errors
    );
    loaded.inputs
}

/// A MachineConfig document with a role label and a spec (YAML, indented
/// as under `spec:`, or empty).
pub fn mc(name: &str, role: &str, spec: &str) -> String {
    let spec = if spec.trim().is_empty() {
        "spec: {}".to_string()
    } else {
        format!("spec:\n{}", indent(spec, 2))
    };
    format!(
        "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
         metadata:\n  name: {name}\n  labels:\n    machineconfiguration.openshift.io/role: {role}\n{spec}\n"
    )
}

/// A MachineConfig with an Ignition config (JSON) and nothing else.
pub fn mc_ign(name: &str, role: &str, ignition_json: &str) -> String {
    mc(name, role, &format!("config: {ignition_json}"))
}

pub fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A pool document.
pub fn pool(name: &str, selector_yaml: &str) -> String {
    format!(
        "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\n\
         metadata:\n  name: {name}\n  labels:\n    pools.operator.machineconfiguration.openshift.io/{name}: \"\"\n\
         spec:\n  machineConfigSelector:\n{}\n  nodeSelector:\n    matchLabels:\n      node-role.kubernetes.io/{name}: \"\"\n",
        indent(selector_yaml, 4)
    )
}

/// The decoded (and gunzipped) contents of a file of a config.
pub fn file_text(cfg: &ignition::Config, path: &str) -> String {
    let f = cfg
        .storage
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path}"));
    let src = f.contents.source.as_deref().expect("file has contents");
    let data = ignition::dataurl::decode(src).expect("data URL").data;
    let bytes = match f.contents.compression.as_deref() {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&data[..])
                .read_to_end(&mut out)
                .expect("gzip");
            out
        }
        None | Some("") => data,
        Some(other) => panic!("compression {other}"),
    };
    String::from_utf8(bytes).expect("utf-8")
}

/// A base64 data URL of bytes.
pub fn data_url(bytes: &[u8]) -> String {
    machine_config::generate::data_url(bytes)
}

/// A gzip-compressed base64 data URL of text.
pub fn gzip_data_url(text: &str) -> String {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    data_url(&enc.finish().expect("gzip"))
}

/// An Ignition 3.2.0 config with one plain file.
pub fn ign_file(path: &str, text: &str) -> String {
    format!(
        r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"{path}","contents":{{"source":"{}"}}}}]}}}}"#,
        data_url(text.as_bytes())
    )
}

/// Parses documents into Inputs without any validation (to reach the
/// render-time checks).
pub fn raw_inputs(yaml: &str) -> Inputs {
    use serde::Deserialize;
    let mut inputs = Inputs::default();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v = serde_yaml::Value::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        match v.get("kind").and_then(|k| k.as_str()).expect("kind") {
            "MachineConfig" => inputs
                .machine_configs
                .push(serde_yaml::from_value(v).expect("mc")),
            "MachineConfigPool" => inputs.pools.push(serde_yaml::from_value(v).expect("pool")),
            "KubeletConfig" => inputs
                .kubelet_configs
                .push(serde_yaml::from_value(v).expect("kc")),
            "ContainerRuntimeConfig" => inputs
                .container_runtime_configs
                .push(serde_yaml::from_value(v).expect("ctrcfg")),
            k => panic!("kind {k}"),
        }
    }
    inputs
}
