//! The status model (`status.json` in the state directory) and `mcs status`.

use std::path::Path;

use anyhow::Context;
use machine_config::InputError;
use serde::{Deserialize, Serialize};

/// The file in the state directory.
pub const STATUS_FILE: &str = "status.json";

/// What `mcs serve` last knew. JSON: `{"pools": [...], "nodes": [...], ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub pools: Vec<PoolStatus>,
    /// Nodes and their configs: empty until the node API (issue #7).
    pub nodes: Vec<serde_json::Value>,
    /// Documents of the input directory that could not be taken.
    #[serde(default)]
    pub input_errors: Vec<InputErrorStatus>,
    /// The input directory.
    #[serde(default)]
    pub dir: String,
    /// When this was written (Unix seconds).
    #[serde(default)]
    pub updated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub name: String,
    /// The rendered config served (`rendered-<pool>-<hash>`); null if none.
    pub rendered_config: Option<String>,
    pub paused: bool,
    /// The MachineConfigs merged, in merge order.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Why the latest render failed (the previous one is still served).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputErrorStatus {
    pub file: String,
    /// 1-based document in the file; 0: the file as a whole.
    pub document: usize,
    pub message: String,
}

impl From<&InputError> for InputErrorStatus {
    fn from(e: &InputError) -> Self {
        InputErrorStatus {
            file: e.file.display().to_string(),
            document: e.document,
            message: e.message.clone(),
        }
    }
}

/// Reads `status.json` of a state directory.
pub fn read(state_dir: &Path) -> anyhow::Result<Status> {
    let path = state_dir.join(STATUS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (has `mcs serve --state-dir {}` run?)",
            path.display(),
            state_dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a status file", path.display()))
}

impl Status {
    /// The human-readable form of `mcs status`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let width = self
            .pools
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "{:width$}  {:48}  {:6}  STATE\n",
            "POOL", "RENDERED CONFIG", "PAUSED"
        ));
        for p in &self.pools {
            let state = match &p.error {
                None => "ok".to_string(),
                Some(e) if p.rendered_config.is_some() => {
                    format!("render failed, serving the previous config: {e}")
                }
                Some(e) => format!("render failed: {e}"),
            };
            out.push_str(&format!(
                "{:width$}  {:48}  {:6}  {state}\n",
                p.name,
                p.rendered_config.as_deref().unwrap_or("-"),
                if p.paused { "yes" } else { "no" },
            ));
        }
        if self.input_errors.is_empty() {
            out.push_str("input errors: none\n");
        } else {
            out.push_str(&format!("input errors ({}):\n", self.input_errors.len()));
            for e in &self.input_errors {
                out.push_str(&format!(
                    "  {}, document {}: {}\n",
                    e.file, e.document, e.message
                ));
            }
        }
        if self.nodes.is_empty() {
            out.push_str("nodes: none known (node tracking comes with issue #7)\n");
        } else {
            out.push_str(&format!("nodes: {}\n", self.nodes.len()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_and_text() {
        let s = Status {
            pools: vec![PoolStatus {
                name: "worker".into(),
                rendered_config: Some("rendered-worker-0123".into()),
                paused: true,
                sources: vec!["00-worker".into()],
                error: Some("boom".into()),
            }],
            input_errors: vec![InputErrorStatus {
                file: "/d/a.yaml".into(),
                document: 2,
                message: "invalid YAML".into(),
            }],
            ..Status::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["pools"][0]["renderedConfig"], "rendered-worker-0123");
        assert_eq!(v["pools"][0]["paused"], true);
        assert_eq!(v["nodes"], serde_json::json!([]));
        assert_eq!(v["inputErrors"][0]["file"], "/d/a.yaml");
        let t = s.to_text();
        assert!(t.contains("worker"), "{t}");
        assert!(t.contains("serving the previous config: boom"), "{t}");
        assert!(t.contains("/d/a.yaml, document 2: invalid YAML"), "{t}");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
