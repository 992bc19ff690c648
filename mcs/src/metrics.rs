//! Prometheus metrics (text format 0.0.4) on `--metrics-listen` (plain HTTP,
//! `GET /metrics`; off unless given; meant for 127.0.0.1 or a scrape network):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mcs_config_requests_total` | counter | `pool`, `version` (the spec served) |
//! | `mcs_node_api_requests_total` | counter | `endpoint` (register, desired, status, rendered, pre-reboot, steady-state, other), `code` |
//! | `mcs_nodes` | gauge | `pool`, `state` (Working, Done, Degraded, Unreconcilable, Unknown: registered, no report yet) |
//! | `mcs_slots_held` | gauge | `pool` |
//! | `mcs_pool_paused` | gauge | `pool` |

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use machine_config::node_api::NodeState;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::nodes::NodeService;

/// Counters updated by the handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    config: Mutex<BTreeMap<(String, String), u64>>,
    node_api: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Metrics {
    /// A config served to a pool in a spec version.
    pub fn config(&self, pool: &str, version: &str) {
        let mut m = self.config.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((pool.to_string(), version.to_string()))
            .or_default() += 1;
    }

    pub fn node_api(&self, endpoint: &'static str, code: u16) {
        let mut m = self.node_api.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((endpoint, code)).or_default() += 1;
    }

    /// The text exposition.
    pub fn render(&self, svc: &NodeService) -> String {
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP mcs_config_requests_total Ignition configs served, by pool and spec version.\n# TYPE mcs_config_requests_total counter\n");
        for ((pool, v), n) in self.config.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "mcs_config_requests_total{{pool=\"{}\",version=\"{}\"}} {n}",
                esc(pool),
                esc(v)
            );
        }
        out.push_str("# HELP mcs_node_api_requests_total Node API and FleetLock requests, by endpoint and status code.\n# TYPE mcs_node_api_requests_total counter\n");
        for ((e, code), n) in self
            .node_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "mcs_node_api_requests_total{{endpoint=\"{e}\",code=\"{code}\"}} {n}"
            );
        }
        let fleet = svc.fleet();
        let snapshot = svc.shared.get();
        let mut by_state: BTreeMap<(String, &str), u64> = BTreeMap::new();
        for pool in snapshot.pools.keys() {
            for s in NodeState::ALL {
                by_state.insert((pool.clone(), s.as_str()), 0);
            }
        }
        for n in fleet.nodes.values() {
            let s = n.state.map_or("Unknown", NodeState::as_str);
            *by_state.entry((n.pool.clone(), s)).or_default() += 1;
        }
        out.push_str("# HELP mcs_nodes Registered nodes, by pool and last reported state.\n# TYPE mcs_nodes gauge\n");
        for ((pool, s), n) in &by_state {
            let _ = writeln!(out, "mcs_nodes{{pool=\"{}\",state=\"{s}\"}} {n}", esc(pool));
        }
        out.push_str(
            "# HELP mcs_slots_held Rollout slots held, by pool.\n# TYPE mcs_slots_held gauge\n",
        );
        for pool in snapshot.pools.keys() {
            let n = fleet.slots.get(pool).map_or(0, |s| s.len());
            let _ = writeln!(out, "mcs_slots_held{{pool=\"{}\"}} {n}", esc(pool));
        }
        out.push_str("# HELP mcs_pool_paused Whether the pool is paused (1) or not (0).\n# TYPE mcs_pool_paused gauge\n");
        for (pool, p) in &snapshot.policies {
            let _ = writeln!(
                out,
                "mcs_pool_paused{{pool=\"{}\"}} {}",
                esc(pool),
                u8::from(p.paused)
            );
        }
        out
    }
}

/// Serves `GET /metrics` on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, svc: Arc<NodeService>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let svc = svc.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let svc = svc.clone();
                        async move {
                            let mut r = if req.uri().path() == "/metrics" {
                                let mut r = Response::new(Full::new(Bytes::from(svc.metrics.render(&svc))));
                                r.headers_mut().insert(
                                    hyper::header::CONTENT_TYPE,
                                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                                );
                                r
                            } else {
                                Response::new(Full::new(Bytes::from_static(b"see /metrics\n")))
                            };
                            if req.uri().path() != "/metrics" {
                                *r.status_mut() = StatusCode::NOT_FOUND;
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        }
    }
}
