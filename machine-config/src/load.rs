//! Loading the admin's YAML: a directory of `*.yaml`/`*.yml` files, each
//! with one or more `---`-separated documents of the four kinds (or a `List`
//! of them, as `oc get -o yaml` prints).
//!
//! Files are read in name order; hidden files and subdirectories are
//! skipped. Empty documents are skipped. A document is refused, with an
//! [`InputError`] naming the file and the document (1-based; 0 for the file
//! as a whole), when: it is not valid YAML; it is not a mapping; its `kind`
//! is missing or unknown; its `apiVersion` is not
//! `machineconfiguration.openshift.io/v1`; a field is unknown or of the wrong
//! type (with the path to it); it has no `metadata.name`; an object of the
//! same kind and name was already loaded (the first one is kept); or it
//! fails validation: a MachineConfig's Ignition config (the engine's errors
//! with their JSON paths), its `kernelType`, special mode bits; a pool's
//! selectors; a KubeletConfig's or ContainerRuntimeConfig's pool selector and
//! settings. Refused objects are left out of [`Loaded::inputs`].
//!
//! As Kubernetes' YAML (1.1) reads them, an unquoted `mode: 0644` inside
//! `spec.config` is octal (420); the YAML 1.2 parser used here reads it as
//! the string "0644", so such strings of octal digits under a `mode` key are
//! converted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::Value as Yaml;

use crate::generate;
use crate::model::{
    ContainerRuntimeConfig, KubeletConfig, MachineConfig, MachineConfigPool, API_VERSION,
};
use crate::{validate, Inputs};

/// The result of loading: what could be taken, and what could not.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub inputs: Inputs,
    pub errors: Vec<InputError>,
}

/// A document that could not be taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}, document {document}: {message}", file.display())]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based index of the document in the file; 0: the file as a whole.
    pub document: usize,
    pub message: String,
}

/// Loads every `*.yaml`/`*.yml` file of `dir` (not recursively).
pub fn load_dir(dir: &Path) -> Loaded {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Loaded {
                inputs: Inputs::default(),
                errors: vec![InputError {
                    file: dir.to_path_buf(),
                    document: 0,
                    message: format!("cannot read directory: {e}"),
                }],
            }
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && p.is_file()
        })
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut texts = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p) {
            Ok(t) => texts.push((p, t)),
            Err(e) => errors.push(InputError {
                file: p,
                document: 0,
                message: format!("cannot read file: {e}"),
            }),
        }
    }
    let mut loaded = load_texts(texts);
    errors.append(&mut loaded.errors);
    loaded.errors = errors;
    loaded
}

/// Loads files given as (name, text), in the order given.
pub fn load_texts(files: impl IntoIterator<Item = (PathBuf, String)>) -> Loaded {
    let mut loader = Loader::default();
    for (path, text) in files {
        loader.file(&path, &text);
    }
    Loaded {
        inputs: loader.inputs,
        errors: loader.errors,
    }
}

#[derive(Default)]
struct Loader {
    inputs: Inputs,
    errors: Vec<InputError>,
    /// (kind, name) → where it was first defined.
    seen: HashMap<(String, String), (PathBuf, usize)>,
}

impl Loader {
    fn file(&mut self, path: &Path, text: &str) {
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let document = i + 1;
            let err = |message: String| InputError {
                file: path.to_path_buf(),
                document,
                message,
            };
            let value = match <Yaml as serde::Deserialize>::deserialize(doc) {
                Ok(v) => v,
                Err(e) => {
                    self.errors.push(err(format!("invalid YAML: {e}")));
                    // The parser cannot go on past a syntax error.
                    break;
                }
            };
            if value.is_null() {
                continue;
            }
            if let Err(message) = self.document(path, document, value) {
                self.errors.push(err(message));
            }
        }
    }

    fn document(&mut self, path: &Path, document: usize, value: Yaml) -> Result<(), String> {
        let Yaml::Mapping(map) = &value else {
            return Err("a document must be a mapping with apiVersion, kind and metadata".into());
        };
        let kind = match map.get("kind") {
            Some(Yaml::String(k)) => k.clone(),
            Some(_) => return Err("kind must be a string".into()),
            None => return Err("kind is missing".into()),
        };
        if kind == "List" {
            let items = match map.get("items") {
                Some(Yaml::Sequence(items)) => items.clone(),
                None | Some(Yaml::Null) => Vec::new(),
                Some(_) => return Err("items of a List must be a sequence".into()),
            };
            for (i, item) in items.into_iter().enumerate() {
                if let Err(m) = self.document(path, document, item) {
                    self.errors.push(InputError {
                        file: path.to_path_buf(),
                        document,
                        message: format!("items[{i}]: {m}"),
                    });
                }
            }
            return Ok(());
        }
        let api = map.get("apiVersion").and_then(Yaml::as_str).unwrap_or("");
        if api != API_VERSION {
            return Err(format!(
                "{kind}: apiVersion must be {API_VERSION}, not {api:?}"
            ));
        }
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Yaml::as_str)
            .unwrap_or("")
            .to_string();
        let what = if name.is_empty() {
            kind.clone()
        } else {
            format!("{kind} {name}")
        };
        if name.is_empty() {
            return Err(format!("{kind}: metadata.name is missing"));
        }
        let result = match kind.as_str() {
            "MachineConfig" => decode::<MachineConfig>(value).and_then(|mut mc| {
                octal_modes(&mut mc.spec.config);
                validate::machine_config(&mc)?;
                Ok(Object::Mc(mc))
            }),
            "MachineConfigPool" => decode::<MachineConfigPool>(value).and_then(|p| {
                validate::pool(&p)?;
                Ok(Object::Pool(p))
            }),
            "KubeletConfig" => decode::<KubeletConfig>(value).and_then(|k| {
                generate::check_kubelet_config(&k)?;
                Ok(Object::Kubelet(k))
            }),
            "ContainerRuntimeConfig" => decode::<ContainerRuntimeConfig>(value).and_then(|c| {
                generate::check_container_runtime_config(&c)?;
                Ok(Object::Ctr(c))
            }),
            other => {
                return Err(format!(
                    "unknown kind {other:?} (expected MachineConfig, MachineConfigPool, \
                     KubeletConfig or ContainerRuntimeConfig)"
                ))
            }
        };
        let object = result.map_err(|m| format!("{what}: {m}"))?;
        let key = (kind.clone(), name.clone());
        if let Some((file, doc)) = self.seen.get(&key) {
            return Err(format!(
                "{what}: duplicate name (first defined in {}, document {doc})",
                file.display()
            ));
        }
        self.seen.insert(key, (path.to_path_buf(), document));
        match object {
            Object::Mc(o) => self.inputs.machine_configs.push(o),
            Object::Pool(o) => self.inputs.pools.push(o),
            Object::Kubelet(o) => self.inputs.kubelet_configs.push(o),
            Object::Ctr(o) => self.inputs.container_runtime_configs.push(o),
        }
        Ok(())
    }
}

enum Object {
    Mc(MachineConfig),
    Pool(MachineConfigPool),
    Kubelet(KubeletConfig),
    Ctr(ContainerRuntimeConfig),
}

/// Decodes with the path of the field at fault in the message.
fn decode<T: DeserializeOwned>(value: Yaml) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// `"0644"` under a `mode` key → 420 (see the module docs).
fn octal_modes(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "mode" {
                    if let serde_json::Value::String(s) = v {
                        if s.len() > 1
                            && s.starts_with('0')
                            && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
                        {
                            if let Ok(n) = i64::from_str_radix(s, 8) {
                                *v = n.into();
                                continue;
                            }
                        }
                    }
                }
                octal_modes(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(octal_modes),
        _ => {}
    }
}
