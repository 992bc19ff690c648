//! `mcd start --metrics-listen ADDR`: Prometheus text (format 0.0.4) at `http://ADDR/metrics`,
//! served by one small thread over plain HTTP/1.1 (one request per connection; no async runtime,
//! no dependency). Counters of updates applied, failed updates, drift detections, reboots and
//! rollbacks; a gauge of the node's state.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

/// The states the gauge knows (the node API's, and `Rebooting` while the reboot is under way).
pub const STATES: &[&str] = &["Working", "Done", "Degraded", "Unreconcilable", "Rebooting"];

#[derive(Debug, Default)]
pub struct Metrics {
    pub updates_applied: AtomicU64,
    pub update_failures: AtomicU64,
    pub drift_detections: AtomicU64,
    pub reboots: AtomicU64,
    pub rollbacks: AtomicU64,
    state: Mutex<&'static str>,
    config: Mutex<String>,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the node's state (one of [`STATES`]) and current config.
    pub fn set_state(&self, state: &str, config: &str) {
        if let Some(s) = STATES.iter().find(|s| **s == state) {
            *self.state.lock().expect("metrics lock") = s;
        }
        *self.config.lock().expect("metrics lock") = config.to_string();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "mcd_updates_applied_total",
            "Updates applied and verified (the node reported Done at the new config).",
            &self.updates_applied,
        );
        counter(
            &mut out,
            "mcd_update_failures_total",
            "Updates that failed (rolled back, failed actions, failed verification).",
            &self.update_failures,
        );
        counter(
            &mut out,
            "mcd_drift_detections_total",
            "Times the on-disk state was found to differ from the current config.",
            &self.drift_detections,
        );
        counter(
            &mut out,
            "mcd_reboots_total",
            "Reboots into an update (or the reboot hook under --root).",
            &self.reboots,
        );
        counter(
            &mut out,
            "mcd_rollbacks_total",
            "Unhealthy new deployments rolled back after the reboot.",
            &self.rollbacks,
        );
        let state = *self.state.lock().expect("metrics lock");
        out.push_str(
            "# HELP mcd_state The node's state (1 for the current one).\n# TYPE mcd_state gauge\n",
        );
        for s in STATES {
            let _ = writeln!(out, "mcd_state{{state=\"{s}\"}} {}", u8::from(*s == state));
        }
        let config = self.config.lock().expect("metrics lock").clone();
        out.push_str("# HELP mcd_current_config The config the node is at (always 1).\n# TYPE mcd_current_config gauge\n");
        let _ = writeln!(
            out,
            "mcd_current_config{{config=\"{}\"}} 1",
            config.replace('\\', "\\\\").replace('"', "\\\"")
        );
        out
    }
}

/// Binds `addr` and serves the metrics from a thread; the bound address is returned.
pub fn serve(addr: SocketAddr, m: Arc<Metrics>) -> Result<SocketAddr> {
    let l = TcpListener::bind(addr).with_context(|| format!("--metrics-listen {addr}"))?;
    let bound = l.local_addr().context("metrics listener address")?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in l.incoming() {
                match conn {
                    Ok(s) => {
                        if let Err(e) = answer(s, &m) {
                            tracing::debug!("metrics request: {e:#}");
                        }
                    }
                    Err(e) => tracing::warn!("metrics listener: {e}"),
                }
            }
        })
        .context("starting the metrics thread")?;
    tracing::info!("metrics at http://{bound}/metrics");
    Ok(bound)
}

/// One request: `GET`/`HEAD /metrics` is 200, another path 404, another method 405.
fn answer(mut s: TcpStream, m: &Metrics) -> Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", m.render()),
        ("GET" | "HEAD", _) => ("404 Not Found", "not found\n".to_string()),
        _ => ("405 Method Not Allowed", "method not allowed\n".to_string()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") { "Allow: GET, HEAD\r\n" } else { "" }
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    s.write_all(resp.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_over_http() {
        let m = Arc::new(Metrics::default());
        Metrics::inc(&m.updates_applied);
        Metrics::inc(&m.drift_detections);
        Metrics::inc(&m.drift_detections);
        m.set_state("Degraded", "rendered-worker-1");
        let addr = serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&m)).unwrap();
        let get = |req: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let r = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("\nmcd_updates_applied_total 1\n"), "{r}");
        assert!(r.contains("\nmcd_drift_detections_total 2\n"), "{r}");
        assert!(r.contains("mcd_state{state=\"Degraded\"} 1"), "{r}");
        assert!(r.contains("mcd_state{state=\"Done\"} 0"), "{r}");
        assert!(
            r.contains("mcd_current_config{config=\"rendered-worker-1\"} 1"),
            "{r}"
        );
        assert!(get("GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    }
}
