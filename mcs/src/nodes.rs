//! The node API and FleetLock endpoints (`/v1/...`; the contract is in
//! [`machine_config::node_api`] and `docs/mcs.md`): authentication, the
//! long-poll, and persistence of the [`Fleet`] in `nodes.json`.
//!
//! Every change is made on a copy of the fleet, written to `nodes.json`
//! (temporary file, fsync, rename; mode 0600) and only then kept, so a
//! failed write answers 500 and changes nothing. Refused calls (401, 403)
//! are logged with the peer address and change nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use machine_config::node_api::{
    self, kind, ApiError, DesiredResponse, FleetLockRequest, RegisterRequest, RegisterResponse,
    StatusReport,
};
use serde::Serialize;

use crate::fleet::{Fleet, LockRefused, PoolPolicy, NODES_FILE};
use crate::metrics::Metrics;
use crate::snapshot::Shared;
use crate::state::atomic_write;
use crate::tokens::{self, BootstrapTokens};

type Resp = Response<Full<Bytes>>;

/// The fleet, the bootstrap tokens and what the handlers need.
pub struct NodeService {
    fleet: Mutex<Fleet>,
    tokens: Mutex<BootstrapTokens>,
    nodes_file: PathBuf,
    state_dir: PathBuf,
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    /// `--allow-anonymous-config`: `/config/<pool>` without a token, as OpenShift's MCS.
    anonymous_config: std::sync::atomic::AtomicBool,
}

/// One request to a `/v1/` path.
pub struct ApiRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub peer: Option<SocketAddr>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An error answer: status and `{"kind", "value"}`.
struct Refusal(StatusCode, &'static str, String);

type Handled = Result<Resp, Refusal>;

impl NodeService {
    /// Loads `nodes.json` and the bootstrap tokens of `state_dir`.
    pub fn open(
        state_dir: &Path,
        shared: Arc<Shared>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let nodes_file = state_dir.join(NODES_FILE);
        let fleet = match std::fs::read_to_string(&nodes_file) {
            Ok(text) => Fleet::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", nodes_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Fleet::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", nodes_file.display()),
        };
        if !fleet.nodes.is_empty() {
            tracing::info!(nodes = fleet.nodes.len(), "loaded the registered nodes");
        }
        Ok(NodeService {
            fleet: Mutex::new(fleet),
            tokens: Mutex::new(BootstrapTokens::open(state_dir)?),
            nodes_file,
            state_dir: state_dir.to_path_buf(),
            shared,
            metrics,
            anonymous_config: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Serve `/config/<pool>` to anyone (`--allow-anonymous-config`), as OpenShift's MCS does.
    pub fn set_allow_anonymous_config(&self, allow: bool) {
        self.anonymous_config
            .store(allow, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a `/config/<pool>` request may have the pool's config (which carries the
    /// pool's bootstrap token): `Authorization: Bearer` with the pool's bootstrap token or
    /// the node token of a node of that pool, unless anonymous access is allowed. A refusal
    /// is logged (at `warn`, with the peer) and its reason returned.
    pub fn config_access(
        &self,
        pool: &str,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<(), String> {
        if self
            .anonymous_config
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        let result = match bearer(headers) {
            Err(Refusal(_, _, m)) => Err(m),
            Ok(token) if self.is_bootstrap(pool, token) => Ok(()),
            Ok(token) => {
                let fleet = lock(&self.fleet);
                match fleet.node_by_token(&tokens::hash(token)) {
                    Some(n) if n.pool == pool => Ok(()),
                    _ => Err(format!(
                        "not the bootstrap token of pool {pool:?} nor a node token of that pool"
                    )),
                }
            }
        };
        if let Err(m) = &result {
            let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            tracing::warn!(peer = %peer, pool = %pool, "refused /config/{pool} from {peer}: {m}");
        }
        result
    }

    /// A copy of the fleet as it is now.
    pub fn fleet(&self) -> Fleet {
        lock(&self.fleet).clone()
    }

    /// Rendered configs nodes are at or moving to.
    pub fn in_use(&self) -> std::collections::HashSet<String> {
        lock(&self.fleet).in_use()
    }

    /// Runs `f` with the bootstrap tokens (the reloader creates and re-reads them).
    pub fn with_tokens<R>(&self, f: impl FnOnce(&mut BootstrapTokens) -> R) -> R {
        f(&mut lock(&self.tokens))
    }

    /// Applies `change` to a copy of the fleet, persists it, then keeps it.
    fn change<R>(&self, change: impl FnOnce(&mut Fleet) -> R) -> Result<R, Refusal> {
        let mut fleet = lock(&self.fleet);
        let mut next = fleet.clone();
        let r = change(&mut next);
        if next != *fleet {
            let mut json = serde_json::to_vec_pretty(&next).unwrap_or_default();
            json.push(b'\n');
            if let Err(e) = atomic_write(&self.nodes_file, &json, 0o600) {
                tracing::error!("cannot record the change: {e:#}");
                return Err(Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    kind::INTERNAL,
                    format!("cannot record the change, nothing changed: {e:#}"),
                ));
            }
            *fleet = next;
        }
        Ok(r)
    }

    /// Answers a request to a `/v1/` path.
    pub async fn handle(&self, req: ApiRequest<'_>) -> Resp {
        let endpoint = endpoint_label(req.path);
        let result = self.route(&req).await;
        let resp = match result {
            Ok(r) => r,
            Err(Refusal(status, k, value)) => {
                if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    tracing::warn!(
                        peer = ?req.peer,
                        method = %req.method,
                        path = req.path,
                        status = status.as_u16(),
                        "node API call refused: {value}"
                    );
                } else {
                    tracing::info!(method = %req.method, path = req.path, status = status.as_u16(), kind = k, "{value}");
                }
                api_error(status, k, &value)
            }
        };
        self.metrics.node_api(endpoint, resp.status().as_u16());
        resp
    }

    async fn route(&self, req: &ApiRequest<'_>) -> Handled {
        let post = req.method == Method::POST;
        let get = req.method == Method::GET;
        let wrong_method = |allowed: &str| {
            Err(Refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                kind::METHOD_NOT_ALLOWED,
                format!("{} takes {allowed}", req.path),
            ))
        };
        match req.path {
            node_api::REGISTER_PATH if post => self.register(req),
            node_api::REGISTER_PATH => wrong_method("POST"),
            node_api::PRE_REBOOT_PATH | node_api::STEADY_STATE_PATH if post => self.fleet_lock(req),
            node_api::PRE_REBOOT_PATH | node_api::STEADY_STATE_PATH => wrong_method("POST"),
            p => {
                if let Some(name) = p.strip_prefix(node_api::RENDERED_PREFIX) {
                    return if get {
                        self.rendered(req, name)
                    } else {
                        wrong_method("GET")
                    };
                }
                let rest = p.strip_prefix(node_api::NODES_PREFIX).unwrap_or("");
                match rest.split_once('/') {
                    Some((name, "desired")) if get => self.desired(req, name).await,
                    Some((_, "desired")) => wrong_method("GET"),
                    Some((name, "status")) if post => self.status(req, name),
                    Some((_, "status")) => wrong_method("POST"),
                    _ => Err(Refusal(
                        StatusCode::NOT_FOUND,
                        kind::NOT_FOUND,
                        format!("no such path {p:?}"),
                    )),
                }
            }
        }
    }

    /// The bootstrap token check, re-reading the tokens file when it changed.
    fn is_bootstrap(&self, pool: &str, token: &str) -> bool {
        let mut t = lock(&self.tokens);
        t.refresh();
        t.check(pool, token)
    }

    /// The node `name` when `token` is its token.
    fn node_auth(&self, req: &ApiRequest<'_>, name: &str) -> Result<(String, String), Refusal> {
        let token = bearer(req.headers)?;
        let fleet = lock(&self.fleet);
        match fleet.authenticate(name, &tokens::hash(token)) {
            Some(n) => Ok((n.name.clone(), n.pool.clone())),
            None => Err(unauthorized(format!(
                "not a valid node token for node {name:?}"
            ))),
        }
    }

    fn register(&self, req: &ApiRequest<'_>) -> Handled {
        let token = bearer(req.headers)?;
        let r: RegisterRequest = parse_body(&req.body)?;
        if !node_api::valid_name(&r.name) || !node_api::valid_name(&r.pool) {
            return Err(bad_request(format!(
                "invalid node or pool name: {:?}, {:?}",
                r.name, r.pool
            )));
        }
        if !self.is_bootstrap(&r.pool, token) {
            return Err(unauthorized(format!(
                "not the bootstrap token of pool {:?} (registering node {:?})",
                r.pool, r.name
            )));
        }
        if !self.shared.get().pools.contains_key(&r.pool) {
            return Err(Refusal(
                StatusCode::NOT_FOUND,
                kind::NOT_FOUND,
                format!("unknown pool {:?}", r.pool),
            ));
        }
        let node_token = tokens::generate();
        let hash = tokens::hash(&node_token);
        self.change(|f| f.register(&r.name, &r.pool, hash, now()))?;
        tracing::info!(node = %r.name, pool = %r.pool, "node registered");
        Ok(json(
            StatusCode::OK,
            &RegisterResponse {
                name: r.name,
                pool: r.pool,
                node_token,
            },
        ))
    }

    async fn desired(&self, req: &ApiRequest<'_>, name: &str) -> Handled {
        let (name, pool) = self.node_auth(req, name)?;
        let mut current: Option<String> = None;
        let mut wait = 0u64;
        for (k, v) in query_pairs(req.query.unwrap_or("")) {
            match k {
                "current" if !v.is_empty() => current = Some(v.to_string()),
                "wait" => {
                    wait = v
                        .parse()
                        .map_err(|_| bad_request(format!("wait={v:?}: not a number of seconds")))?
                }
                _ => {}
            }
        }
        let deadline = Instant::now() + Duration::from_secs(wait.min(node_api::MAX_WAIT_SECS));
        let mut changes = self.shared.subscribe();
        loop {
            changes.borrow_and_update();
            let snapshot = self.shared.get();
            let Some(served) = snapshot.served(&pool) else {
                return Err(Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    kind::NOT_FOUND,
                    format!("pool {pool:?} has no rendered config"),
                ));
            };
            let policy = snapshot.policies.get(&pool).cloned().unwrap_or_default();
            let pool_config = served.rendered.name.clone();
            let desired =
                lock(&self.fleet).desired(&name, &pool_config, &policy, current.as_deref());
            if current.as_deref() != Some(desired.as_str()) {
                return Ok(json(
                    StatusCode::OK,
                    &DesiredResponse {
                        machine_config_path: node_api::rendered_path(&desired),
                        desired_config: desired,
                        pool_config,
                        paused: policy.paused,
                    },
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changes.changed()).await.is_err() {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                return Ok(r);
            }
        }
    }

    fn status(&self, req: &ApiRequest<'_>, name: &str) -> Handled {
        let (name, _) = self.node_auth(req, name)?;
        let r: StatusReport = parse_body(&req.body)?;
        for c in [&r.current_config, &r.desired_config] {
            if !node_api::valid_name(c) {
                return Err(bad_request(format!("invalid rendered config name {c:?}")));
            }
        }
        let released = self.change(|f| f.report(&name, &r, now()))?;
        tracing::info!(node = %name, state = %r.state, current = %r.current_config, desired = %r.desired_config, reason = %r.reason, "node status");
        if released {
            tracing::info!(node = %name, "slot released: Done on the desired config");
        }
        let fleet = lock(&self.fleet);
        let st = fleet.statuses().into_iter().find(|n| n.name == name);
        Ok(json(StatusCode::OK, &st))
    }

    fn rendered(&self, req: &ApiRequest<'_>, name: &str) -> Handled {
        let token = bearer(req.headers)?;
        let hash = tokens::hash(token);
        let node_pool = lock(&self.fleet)
            .node_by_token(&hash)
            .map(|n| n.pool.clone());
        let pool = match node_pool {
            Some(p) => p,
            None => {
                let t = lock(&self.tokens);
                let pools: Vec<String> = self.shared.get().pools.keys().cloned().collect();
                pools
                    .into_iter()
                    .find(|p| t.check(p, token))
                    .ok_or_else(|| unauthorized("not a valid node or bootstrap token".into()))?
            }
        };
        let not_found = || {
            Refusal(
                StatusCode::NOT_FOUND,
                kind::NOT_FOUND,
                format!("no rendered config {name:?} for pool {pool:?}"),
            )
        };
        // rendered-<pool>-<hash>: the hash has no '-', so the pool is exact.
        let ours = name
            .strip_prefix(&format!("rendered-{pool}-"))
            .is_some_and(|h| !h.is_empty() && !h.contains('-'));
        if !ours || !node_api::valid_name(name) {
            return Err(not_found());
        }
        let snapshot = self.shared.get();
        if let Some(s) = snapshot.served(&pool).filter(|s| s.rendered.name == name) {
            return Ok(reply(StatusCode::OK, s.machine_config_json()));
        }
        let path = crate::state::rendered_file(&self.state_dir, name);
        match std::fs::read(&path) {
            Ok(b) => Ok(reply(StatusCode::OK, Bytes::from(b))),
            Err(_) => Err(not_found()),
        }
    }

    fn fleet_lock(&self, req: &ApiRequest<'_>) -> Handled {
        let pre_reboot = req.path == node_api::PRE_REBOOT_PATH;
        let invalid =
            |m: String| Refusal(StatusCode::BAD_REQUEST, kind::INVALID_CLIENT_IDENTITY, m);
        let header = req
            .headers
            .get(node_api::FLEET_LOCK_HEADER)
            .and_then(|v| v.to_str().ok());
        if header != Some("true") {
            return Err(invalid(format!(
                "the request needs the header `{}: true`",
                node_api::FLEET_LOCK_HEADER
            )));
        }
        let body: FleetLockRequest = serde_json::from_slice(&req.body)
            .map_err(|e| invalid(format!("the body is not FleetLock's client_params: {e}")))?;
        let (id, group) = (&body.client_params.id, &body.client_params.group);
        if !node_api::valid_name(id) || !node_api::valid_name(group) {
            return Err(invalid(format!(
                "invalid client id {id:?} or group {group:?}"
            )));
        }
        let token = bearer(req.headers)?;
        let hash = tokens::hash(token);
        let by_node = lock(&self.fleet)
            .node_by_token(&hash)
            .map(|n| (n.name.clone(), n.pool.clone()));
        match by_node {
            Some((n, p)) if &n == id && &p == group => {}
            Some((n, p)) => {
                return Err(Refusal(
                    StatusCode::FORBIDDEN,
                    kind::FORBIDDEN,
                    format!(
                    "the token of node {n:?} (pool {p:?}) cannot act for {id:?} in group {group:?}"
                ),
                ))
            }
            None if self.is_bootstrap(group, token) => {}
            None => {
                return Err(unauthorized(format!(
                    "not a node token nor the bootstrap token of group {group:?}"
                )))
            }
        }
        let snapshot = self.shared.get();
        let Some(policy) = snapshot.policies.get(group.as_str()) else {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                kind::UNKNOWN_GROUP,
                format!("unknown group {group:?}: not a pool"),
            ));
        };
        let policy: PoolPolicy = policy.clone();
        if pre_reboot {
            match self.change(|f| f.lock(group, id, &policy))? {
                Ok(newly) => {
                    if newly {
                        tracing::info!(node = %id, pool = %group, "slot taken");
                    }
                }
                Err(refused) => {
                    let k = match refused {
                        LockRefused::Paused => kind::FAILED_LOCK_PAUSED,
                        LockRefused::Full { .. } => kind::FAILED_LOCK,
                    };
                    return Err(Refusal(StatusCode::CONFLICT, k, refused.to_string()));
                }
            }
        } else {
            let released = self
                .change(|f| f.unlock(group, id))
                .map_err(|Refusal(s, _, v)| Refusal(s, kind::FAILED_UNLOCK, v))?;
            if released {
                tracing::info!(node = %id, pool = %group, "slot released");
            }
        }
        Ok(reply(StatusCode::OK, Bytes::new()))
    }
}

/// The metrics label of a `/v1/` path (bounded: no names).
fn endpoint_label(path: &str) -> &'static str {
    match path {
        node_api::REGISTER_PATH => "register",
        node_api::PRE_REBOOT_PATH => "pre-reboot",
        node_api::STEADY_STATE_PATH => "steady-state",
        p if p.starts_with(node_api::RENDERED_PREFIX) => "rendered",
        p if p.ends_with("/desired") => "desired",
        p if p.ends_with("/status") => "status",
        _ => "other",
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("no `Authorization: Bearer <token>` header".into()))
}

fn unauthorized(m: String) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, kind::UNAUTHORIZED, m)
}

fn bad_request(m: String) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, kind::BAD_REQUEST, m)
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

/// `a=b&c=d` (values are rendered names and numbers: no decoding needed).
fn query_pairs(q: &str) -> impl Iterator<Item = (&str, &str)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn reply(status: StatusCode, body: Bytes) -> Resp {
    let len = body.len();
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    if len > 0 {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Resp {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    reply(status, Bytes::from(body))
}

/// A `/v1/` error answer.
pub fn api_error(status: StatusCode, k: &str, value: &str) -> Resp {
    json(
        status,
        &ApiError {
            kind: k.to_string(),
            value: value.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_queries() {
        assert_eq!(endpoint_label("/v1/nodes/a/desired"), "desired");
        assert_eq!(endpoint_label("/v1/nodes/register"), "register");
        assert_eq!(endpoint_label("/v1/rendered/x"), "rendered");
        assert_eq!(endpoint_label("/v1/x"), "other");
        let q: Vec<_> = query_pairs("current=r1&wait=30&x").collect();
        assert_eq!(q, [("current", "r1"), ("wait", "30"), ("x", "")]);
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h).ok(), Some("abc"));
    }
}
