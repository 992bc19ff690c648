//! The state file Go Ignition keeps between stages (`/run/ignition/state`):
//! `{"fetchedConfigs":[{"kind":"user","source":"file","referenced":false}],
//! "luksPersistKeyFiles":null,"notatedDirectories":null}` plus a newline,
//! mode 0600 in a 0700 directory. Fields we do not use yet are kept as read.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fetched_configs: Vec<FetchedConfig>,
    #[serde(default)]
    pub luks_persist_key_files: serde_json::Value,
    #[serde(default)]
    pub notated_directories: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedConfig {
    pub kind: String,
    pub source: String,
    pub referenced: bool,
}

impl FetchedConfig {
    pub fn new(kind: &str, source: &str, referenced: bool) -> Self {
        FetchedConfig {
            kind: kind.into(),
            source: source.into(),
            referenced,
        }
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<FetchedConfig>, D::Error> {
    Ok(Option::<Vec<FetchedConfig>>::deserialize(d)?.unwrap_or_default())
}

impl State {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, String> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("parsing state file {}: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("reading state file {}: {e}", path.display())),
        }
    }

    /// The bytes [`State::save`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(self).unwrap_or_default();
        b.push(b'\n');
        b
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let fail = |what: &str, e: io::Error| format!("{what} state file {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| fail("creating the directory of the", e))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail("writing", e))?;
        io::Write::write_all(&mut f, &self.to_bytes()).map_err(|e| fail("writing", e))
    }

    /// Whether a user config (not only base configs) was fetched.
    pub fn user_config_provided(&self) -> bool {
        self.fetched_configs.iter().any(|c| c.kind == "user")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_go_writes_and_reads_it_back() {
        let mut s = State::default();
        s.fetched_configs
            .push(FetchedConfig::new("base", "system", false));
        assert_eq!(
            String::from_utf8(s.to_bytes()).unwrap(),
            "{\"fetchedConfigs\":[{\"kind\":\"base\",\"source\":\"system\",\"referenced\":false}],\"luksPersistKeyFiles\":null,\"notatedDirectories\":null}\n"
        );
        let go = br#"{"fetchedConfigs":null,"luksPersistKeyFiles":{"a":"data:,k"},"notatedDirectories":["/x"]}"#;
        let back: State = serde_json::from_slice(go).unwrap();
        assert!(back.fetched_configs.is_empty());
        assert_eq!(back.notated_directories, serde_json::json!(["/x"]));
    }
}
