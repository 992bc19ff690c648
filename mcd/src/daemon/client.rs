//! The node-API client: blocking HTTPS (ureq, rustls) to the servers of `mcs.json`, trusting
//! only its `caBundle` (the system roots when it is `null`). Every call goes to the first server
//! that answers; the types are `machine_config::node_api`'s.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use machine_config::node_api::{
    self, ApiError, DesiredResponse, FleetLockRequest, McsJson, NodeStatus, RegisterRequest,
    RegisterResponse, StatusReport,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call did not succeed, as the loop needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No server answered, or it answered 5xx: keep the node as it is, retry with backoff.
    #[error("MCS unreachable: {0}")]
    Unavailable(String),
    /// 401: the node token was replaced or the server lost its state: register again.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Any other refusal (4xx) with the server's error.
    #[error("HTTP {status}: {kind}: {value}")]
    Refused {
        status: u16,
        kind: String,
        value: String,
    },
}

impl CallError {
    /// 409 `failed_lock` or `failed_lock_paused`.
    pub fn lock_busy(&self) -> bool {
        matches!(self, CallError::Refused { status: 409, .. })
    }
}

/// Where the system's CA bundle is (Debian, Fedora).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

pub type CallResult<T> = std::result::Result<T, CallError>;

pub struct Client {
    servers: Vec<String>,
    agent: ureq::Agent,
}

/// What a successful call returned: the status and the body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    /// `wait_secs`: the long-poll wait, so that the response timeout is longer than it.
    pub fn new(cfg: &McsJson, wait_secs: u64) -> Result<Client> {
        if cfg.servers.is_empty() {
            return Err(anyhow!("{}: no servers", node_api::MCS_JSON_PATH));
        }
        let tls = match &cfg.ca_bundle {
            Some(pem) => {
                let certs: Vec<_> = ureq::tls::parse_pem(pem.as_bytes())
                    .filter_map(|i| match i {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(anyhow!(
                        "{}: caBundle holds no PEM certificate",
                        node_api::MCS_JSON_PATH
                    ));
                }
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build()
            }
            None => {
                // `null`: the server has its own certificate; the system roots apply.
                let system: Vec<_> = SYSTEM_BUNDLES
                    .iter()
                    .find_map(|p| std::fs::read(p).ok())
                    .map(|b| {
                        ureq::tls::parse_pem(&b)
                            .filter_map(|i| match i {
                                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let roots = if system.is_empty() {
                    ureq::tls::RootCerts::WebPki
                } else {
                    ureq::tls::RootCerts::new_with_certs(&system)
                };
                ureq::tls::TlsConfig::builder().root_certs(roots).build()
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .user_agent(concat!("mcd/mooring-", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(wait_secs + 30)))
            .build()
            .new_agent();
        Ok(Client {
            servers: cfg
                .servers
                .iter()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect(),
            agent,
        })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Vec<u8>>,
    ) -> CallResult<Answer> {
        let mut last = String::new();
        for base in &self.servers {
            let url = format!("{base}{path}");
            let auth = format!("Bearer {token}");
            let result = if method == "GET" {
                self.agent.get(&url).header("Authorization", &auth).call()
            } else {
                self.agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header(node_api::FLEET_LOCK_HEADER, "true")
                    .header("Content-Type", "application/json")
                    .send(body.clone().unwrap_or_default())
            };
            let mut resp = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("{method} {url}: {e}");
                    last = format!("{url}: {e}");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let body = match resp.body_mut().with_config().limit(64 << 20).read_to_vec() {
                Ok(b) => b,
                Err(e) => {
                    last = format!("{url}: reading the body: {e}");
                    continue;
                }
            };
            if status >= 500 {
                last = format!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body));
                continue;
            }
            if status == 200 || status == 304 {
                return Ok(Answer { status, body });
            }
            let err: ApiError = serde_json::from_slice(&body).unwrap_or(ApiError {
                kind: String::new(),
                value: String::from_utf8_lossy(&body).into_owned(),
            });
            if status == 401 {
                return Err(CallError::Unauthorized(err.value));
            }
            return Err(CallError::Refused {
                status,
                kind: err.kind,
                value: err.value,
            });
        }
        Err(CallError::Unavailable(last))
    }

    fn json<T: DeserializeOwned>(a: &Answer, what: &str) -> CallResult<T> {
        serde_json::from_slice(&a.body)
            .map_err(|e| CallError::Unavailable(format!("{what}: invalid answer: {e}")))
    }

    fn post<B: Serialize>(&self, path: &str, token: &str, body: &B) -> CallResult<Answer> {
        let data = serde_json::to_vec(body).expect("serializable");
        self.call("POST", path, token, Some(data))
    }

    pub fn register(
        &self,
        name: &str,
        pool: &str,
        bootstrap: &str,
    ) -> CallResult<RegisterResponse> {
        let req = RegisterRequest {
            name: name.into(),
            pool: pool.into(),
        };
        let a = self.post(node_api::REGISTER_PATH, bootstrap, &req)?;
        Self::json(&a, "register")
    }

    /// `None`: 304, the desired config is still `current` after `wait` seconds.
    pub fn desired(
        &self,
        node: &str,
        token: &str,
        current: &str,
        wait: u64,
    ) -> CallResult<Option<DesiredResponse>> {
        let a = self.call(
            "GET",
            &node_api::desired_path(node, Some(current), wait),
            token,
            None,
        )?;
        if a.status == 304 {
            return Ok(None);
        }
        Self::json(&a, "desired").map(Some)
    }

    /// The rendered MachineConfig at `path` (`machineConfigPath`), as JSON bytes.
    pub fn rendered(&self, path: &str, token: &str) -> CallResult<Vec<u8>> {
        Ok(self.call("GET", path, token, None)?.body)
    }

    pub fn status(&self, node: &str, token: &str, report: &StatusReport) -> CallResult<NodeStatus> {
        let a = self.post(&node_api::status_path(node), token, report)?;
        Self::json(&a, "status")
    }

    pub fn pre_reboot(&self, node: &str, pool: &str, token: &str) -> CallResult<()> {
        self.post(
            node_api::PRE_REBOOT_PATH,
            token,
            &FleetLockRequest::new(node, pool),
        )
        .map(|_| ())
    }

    pub fn steady_state(&self, node: &str, pool: &str, token: &str) -> CallResult<()> {
        self.post(
            node_api::STEADY_STATE_PATH,
            token,
            &FleetLockRequest::new(node, pool),
        )
        .map(|_| ())
    }
}

/// Reads `mcs.json` under the root.
pub fn read_mcs_json(root: &ignition::exec::root::Root) -> Result<McsJson> {
    let path = root.host(node_api::MCS_JSON_PATH);
    let raw = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&raw).with_context(|| format!("parsing {}", node_api::MCS_JSON_PATH))
}
