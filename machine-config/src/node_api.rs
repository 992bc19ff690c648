//! The node API between `mcs` (server) and `mcd` (daemon), and the FleetLock
//! protocol for rollout slots: paths, headers, files and the JSON types of
//! every request and response. Both sides use these types, so the daemon
//! needs no dependency on the server. `docs/mcs.md` ("Node API") is the
//! prose contract; this module is its single source for names.
//!
//! All endpoints are on the server's TLS port and take
//! `Authorization: Bearer <token>`:
//!
//! | request | token | success |
//! |---|---|---|
//! | `POST /v1/nodes/register` [`RegisterRequest`] | the pool's bootstrap token | 200 [`RegisterResponse`] |
//! | `GET /v1/nodes/<name>/desired?current=R&wait=S` | that node's token | 200 [`DesiredResponse`], or 304 when the desired config is still `R` after `S` seconds |
//! | `POST /v1/nodes/<name>/status` [`StatusReport`] | that node's token | 200 [`NodeStatus`] (as recorded) |
//! | `GET /v1/rendered/<rendered-name>` | a node token or bootstrap token of the config's pool | 200, the rendered MachineConfig (JSON) |
//! | `POST /v1/pre-reboot` [`FleetLockRequest`] + `fleet-lock-protocol: true` | node token (own id) or the group's bootstrap token | 200, empty body |
//! | `POST /v1/steady-state` [`FleetLockRequest`] + `fleet-lock-protocol: true` | same | 200, empty body |
//!
//! Every error on `/v1/` is an [`ApiError`] (`{"kind": ..., "value": ...}`,
//! FleetLock's error shape), with the kinds in [`kind`].

use serde::{Deserialize, Serialize};

/// Where the served config puts the server's coordinates ([`McsJson`]).
pub const MCS_JSON_PATH: &str = "/etc/machine-config-daemon/mcs.json";
/// Where the served config puts the pool's bootstrap token (mode 0600, the token and a newline).
pub const BOOTSTRAP_TOKEN_PATH: &str = "/etc/machine-config-daemon/bootstrap-token";
/// Where the daemon is expected to keep the node token it received (mode 0600).
pub const NODE_TOKEN_PATH: &str = "/etc/machine-config-daemon/node-token";
/// Mode of the token files.
pub const TOKEN_MODE: u32 = 0o600;

/// `POST`: register a node.
pub const REGISTER_PATH: &str = "/v1/nodes/register";
/// Prefix of the per-node endpoints (`/v1/nodes/<name>/desired`, `/v1/nodes/<name>/status`).
pub const NODES_PREFIX: &str = "/v1/nodes/";
/// Prefix of `GET /v1/rendered/<name>`.
pub const RENDERED_PREFIX: &str = "/v1/rendered/";
/// FleetLock: take (or keep) a rollout slot.
pub const PRE_REBOOT_PATH: &str = "/v1/pre-reboot";
/// FleetLock: release the slot if held.
pub const STEADY_STATE_PATH: &str = "/v1/steady-state";
/// FleetLock's request header; its value must be `true`.
pub const FLEET_LOCK_HEADER: &str = "fleet-lock-protocol";

/// The longest `wait` the server honours (seconds); larger values are cut to it.
pub const MAX_WAIT_SECS: u64 = 300;
/// The largest request body the server reads (bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// `GET /v1/nodes/<name>/desired` with its query.
pub fn desired_path(node: &str, current: Option<&str>, wait_secs: u64) -> String {
    let mut p = format!("{NODES_PREFIX}{node}/desired?wait={wait_secs}");
    if let Some(c) = current {
        p.push_str("&current=");
        p.push_str(c);
    }
    p
}

/// `POST /v1/nodes/<name>/status`.
pub fn status_path(node: &str) -> String {
    format!("{NODES_PREFIX}{node}/status")
}

/// `GET /v1/rendered/<name>`.
pub fn rendered_path(rendered: &str) -> String {
    format!("{RENDERED_PREFIX}{rendered}")
}

/// Whether a node or pool name is acceptable in paths and files: 1 to 253
/// characters of ASCII letters, digits, `.`, `-` and `_`, not starting with `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// `/etc/machine-config-daemon/mcs.json`: how the daemon reaches its server.
///
/// ```json
/// {"servers": ["https://mcs.example.com:22623"], "pool": "worker",
///  "caBundle": "-----BEGIN CERTIFICATE-----\n..."}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McsJson {
    /// Base URLs of the server, tried in order (no trailing slash).
    pub servers: Vec<String>,
    /// The pool the node belongs to.
    pub pool: String,
    /// PEM certificates to trust for the servers; `null` when the server was
    /// given its own certificate (`--tls-cert`): then the system roots apply.
    #[serde(default)]
    pub ca_bundle: Option<String>,
}

/// `POST /v1/nodes/register` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The node's name ([`valid_name`]); registering again replaces the node's token.
    pub name: String,
    /// Its pool; the bearer token must be this pool's bootstrap token.
    pub pool: String,
}

/// `POST /v1/nodes/register` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub name: String,
    pub pool: String,
    /// The node's own token for every later call; the server keeps only its hash.
    pub node_token: String,
}

/// `GET /v1/nodes/<name>/desired` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredResponse {
    /// The rendered config the node should be at (`rendered-<pool>-<hash>`).
    pub desired_config: String,
    /// The pool's latest rendered config (differs from `desiredConfig` while the pool is paused).
    pub pool_config: String,
    pub paused: bool,
    /// Where to fetch the desired MachineConfig (a path on the same server: `/v1/rendered/<name>`).
    pub machine_config_path: String,
}

/// A node's state, spelled as OpenShift's MCD spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeState {
    Working,
    Done,
    Degraded,
    Unreconcilable,
}

impl NodeState {
    pub const ALL: [NodeState; 4] = [
        NodeState::Working,
        NodeState::Done,
        NodeState::Degraded,
        NodeState::Unreconcilable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Working => "Working",
            NodeState::Done => "Done",
            NodeState::Degraded => "Degraded",
            NodeState::Unreconcilable => "Unreconcilable",
        }
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/nodes/<name>/status` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub state: NodeState,
    /// The rendered config the node is at.
    pub current_config: String,
    /// The rendered config it is moving to (equal to `currentConfig` when Done).
    pub desired_config: String,
    /// Why (Degraded, Unreconcilable) or what (Working); empty otherwise.
    #[serde(default)]
    pub reason: String,
}

/// A node as the server records it (also the `nodes` of `mcs status --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub name: String,
    pub pool: String,
    /// `null` until the node's first status report.
    pub state: Option<NodeState>,
    pub current_config: Option<String>,
    pub desired_config: Option<String>,
    #[serde(default)]
    pub reason: String,
    /// Whether the node holds a rollout slot of its pool.
    #[serde(default)]
    pub holds_slot: bool,
    /// Unix seconds of the last registration and of the last report.
    #[serde(default)]
    pub registered: u64,
    #[serde(default)]
    pub updated: u64,
}

/// FleetLock request body: `{"client_params": {"id": "<node>", "group": "<pool>"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetLockRequest {
    pub client_params: ClientParams,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientParams {
    /// The lock holder: the node name.
    pub id: String,
    /// The reboot group: the pool.
    pub group: String,
}

impl FleetLockRequest {
    pub fn new(id: &str, group: &str) -> Self {
        FleetLockRequest {
            client_params: ClientParams {
                id: id.to_string(),
                group: group.to_string(),
            },
        }
    }
}

/// Every error of a `/v1/` endpoint (FleetLock's error shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A short identifier from [`kind`].
    pub kind: String,
    /// A description for people.
    pub value: String,
}

/// The error kinds (a small, fixed set: FleetLock clients use them as metric labels).
pub mod kind {
    /// 400: the FleetLock header is missing or not `true`, or the body has
    /// no `client_params.id`/`group` (airlock's kind).
    pub const INVALID_CLIENT_IDENTITY: &str = "invalid_client_identity";
    /// 400: the FleetLock group is not a pool (airlock's kind).
    pub const UNKNOWN_GROUP: &str = "unknown_group";
    /// 409: every slot of the pool is taken (`maxUnavailable`) (airlock's kind).
    pub const FAILED_LOCK: &str = "failed_lock";
    /// 409: the pool is paused: no new slots.
    pub const FAILED_LOCK_PAUSED: &str = "failed_lock_paused";
    /// 500: the slot could not be released (the state could not be written).
    pub const FAILED_UNLOCK: &str = "failed_unlock";
    /// 401: no bearer token, or not a valid one for this call.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403: a valid node token used for another node or pool.
    pub const FORBIDDEN: &str = "forbidden";
    /// 400: a body or query that does not parse or validate.
    pub const BAD_REQUEST: &str = "bad_request";
    /// 404: no such node, pool, rendered config or path.
    pub const NOT_FOUND: &str = "not_found";
    /// 405: wrong method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 500: the server could not record the change (nothing changed).
    pub const INTERNAL: &str = "internal_error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        let r: FleetLockRequest =
            serde_json::from_str(r#"{"client_params":{"id":"n1","group":"worker"}}"#).unwrap();
        assert_eq!(r, FleetLockRequest::new("n1", "worker"));
        let s: StatusReport = serde_json::from_str(
            r#"{"state":"Degraded","currentConfig":"a","desiredConfig":"b","reason":"x"}"#,
        )
        .unwrap();
        assert_eq!(s.state, NodeState::Degraded);
        let v = serde_json::to_value(RegisterResponse {
            name: "n".into(),
            pool: "p".into(),
            node_token: "t".into(),
        })
        .unwrap();
        assert_eq!(v["nodeToken"], "t");
        let m: McsJson =
            serde_json::from_str(r#"{"servers":["https://h:22623"],"pool":"worker"}"#).unwrap();
        assert_eq!(m.ca_bundle, None);
        assert!(serde_json::from_str::<StatusReport>(
            r#"{"state":"done","currentConfig":"a","desiredConfig":"a"}"#
        )
        .is_err());
    }

    #[test]
    fn names_and_paths() {
        for ok in ["worker-1", "n1.example.com", "a_b"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "a?b", &"x".repeat(254)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            desired_path("n1", Some("rendered-worker-1"), 30),
            "/v1/nodes/n1/desired?wait=30&current=rendered-worker-1"
        );
        assert_eq!(status_path("n1"), "/v1/nodes/n1/status");
        assert_eq!(rendered_path("r"), "/v1/rendered/r");
    }
}
