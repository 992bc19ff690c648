//! The status model (`status.json` in the state directory) and `mcs status`.

use std::path::Path;

use anyhow::Context;
use machine_config::node_api::{NodeState, NodeStatus};
use machine_config::InputError;
use serde::{Deserialize, Serialize};

use crate::fleet::{Fleet, NODES_FILE};

/// The file in the state directory.
pub const STATUS_FILE: &str = "status.json";

/// What `mcs serve` last knew. JSON: `{"pools": [...], "nodes": [...], ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub pools: Vec<PoolStatus>,
    /// Registered nodes: state, configs, reason (from `nodes.json`).
    pub nodes: Vec<NodeStatus>,
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
    /// Registered nodes of the pool.
    #[serde(default)]
    pub machine_count: usize,
    /// Nodes Done at the pool's rendered config.
    #[serde(default)]
    pub updated_machine_count: usize,
    /// Nodes Done (at any config): not updating, not degraded.
    #[serde(default)]
    pub ready_machine_count: usize,
    /// Nodes Degraded or Unreconcilable.
    #[serde(default)]
    pub degraded_machine_count: usize,
}

impl PoolStatus {
    /// Every node is Done at the pool's config (OpenShift's `UPDATED`).
    pub fn updated(&self) -> bool {
        self.updated_machine_count == self.machine_count && self.error.is_none()
    }
    /// OpenShift's `UPDATING`: some node is not at the config yet and the pool is not paused.
    pub fn updating(&self) -> bool {
        !self.paused && self.updated_machine_count < self.machine_count
    }
    pub fn degraded(&self) -> bool {
        self.degraded_machine_count > 0
    }
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

/// Reads `status.json` (pools, input errors) and `nodes.json` (nodes) of a
/// state directory, and counts each pool's machines.
pub fn read(state_dir: &Path) -> anyhow::Result<Status> {
    let path = state_dir.join(STATUS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (has `mcs serve --state-dir {}` run?)",
            path.display(),
            state_dir.display()
        )
    })?;
    let mut status: Status = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a status file", path.display()))?;
    let nodes = state_dir.join(NODES_FILE);
    match std::fs::read_to_string(&nodes) {
        Ok(text) => {
            let fleet =
                Fleet::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", nodes.display()))?;
            status.nodes = fleet.statuses();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", nodes.display())),
    }
    status.count_machines();
    Ok(status)
}

impl Status {
    /// Fills each pool's machine counts from `nodes`.
    pub fn count_machines(&mut self) {
        for p in &mut self.pools {
            let mine: Vec<&NodeStatus> = self.nodes.iter().filter(|n| n.pool == p.name).collect();
            p.machine_count = mine.len();
            p.ready_machine_count = mine
                .iter()
                .filter(|n| n.state == Some(NodeState::Done))
                .count();
            p.updated_machine_count = mine
                .iter()
                .filter(|n| {
                    n.state == Some(NodeState::Done)
                        && n.current_config.is_some()
                        && n.current_config == p.rendered_config
                })
                .count();
            p.degraded_machine_count = mine
                .iter()
                .filter(|n| {
                    matches!(
                        n.state,
                        Some(NodeState::Degraded) | Some(NodeState::Unreconcilable)
                    )
                })
                .count();
        }
    }

    /// The human-readable form of `mcs status`: pools as `oc get mcp` shows
    /// them, then nodes, then input errors.
    pub fn to_text(&self) -> String {
        let yes = |b: bool| if b { "True" } else { "False" };
        let mut rows: Vec<Vec<String>> = vec![[
            "NAME",
            "CONFIG",
            "UPDATED",
            "UPDATING",
            "DEGRADED",
            "PAUSED",
            "MACHINECOUNT",
            "READYMACHINECOUNT",
            "UPDATEDMACHINECOUNT",
            "DEGRADEDMACHINECOUNT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()];
        for p in &self.pools {
            rows.push(vec![
                p.name.clone(),
                p.rendered_config.clone().unwrap_or_else(|| "-".into()),
                yes(p.updated()).into(),
                yes(p.updating()).into(),
                yes(p.degraded()).into(),
                yes(p.paused).into(),
                p.machine_count.to_string(),
                p.ready_machine_count.to_string(),
                p.updated_machine_count.to_string(),
                p.degraded_machine_count.to_string(),
            ]);
        }
        let mut out = table(&rows);
        for p in &self.pools {
            match &p.error {
                None => {}
                Some(e) if p.rendered_config.is_some() => out.push_str(&format!(
                    "pool {}: render failed, serving the previous config: {e}\n",
                    p.name
                )),
                Some(e) => out.push_str(&format!("pool {}: render failed: {e}\n", p.name)),
            }
        }
        out.push('\n');
        if self.nodes.is_empty() {
            out.push_str("nodes: none registered\n");
        } else {
            let mut rows: Vec<Vec<String>> = vec![[
                "NODE", "POOL", "STATE", "CURRENT", "DESIRED", "SLOT", "REASON",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()];
            for n in &self.nodes {
                rows.push(vec![
                    n.name.clone(),
                    n.pool.clone(),
                    n.state.map_or("-".into(), |s| s.to_string()),
                    n.current_config.clone().unwrap_or_else(|| "-".into()),
                    n.desired_config.clone().unwrap_or_else(|| "-".into()),
                    if n.holds_slot { "held" } else { "-" }.into(),
                    n.reason.clone(),
                ]);
            }
            out.push_str(&table(&rows));
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
        out
    }
}

/// Left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{v:w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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
                ..PoolStatus::default()
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
        assert!(
            t.contains("MACHINECOUNT") && t.contains("nodes: none registered"),
            "{t}"
        );
        assert!(t.contains("/d/a.yaml, document 2: invalid YAML"), "{t}");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
