//! `mcd start`: the daemon loop. Registers with the MCS (node API, `machine_config::node_api`),
//! long-polls the pool's desired rendered config, and moves the node there with the one-node
//! plan/apply of [`crate::commands`]'s building blocks; takes a FleetLock slot before any drain
//! or reboot; reports Working, Done, Degraded and Unreconcilable; watches for drift
//! ([`drift`]). A server that cannot be reached leaves the node as it is; every call is retried
//! with backoff. See docs/mcd.md ("The daemon").

pub mod client;
pub mod drift;
pub mod metrics;
pub mod settings;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use ignition::exec::root::Root;
use machine_config::node_api::{self, DesiredResponse, NodeState as ApiState, StatusReport};

use crate::apply;
use crate::commands::Ctx;
use crate::config::Desired;
use crate::logging::ids;
use crate::paths;
use crate::plan::{self, Plan};
use crate::policy::{Action, Policy};
use crate::state::{self, NodeState};
use crate::verify::{self, BootCheck};
use client::{CallError, CallResult, Client};
use metrics::Metrics;
use settings::{Backoff, Settings, REBOOT_HOOK_ENV, SETTINGS_PATH};

/// Everything both threads (the update loop and the drift watcher) share.
struct Daemon {
    root: Root,
    sysroot: Option<std::path::PathBuf>,
    node: String,
    pool: String,
    bootstrap: String,
    client: Client,
    settings: Settings,
    token: Mutex<String>,
    /// Held while the node is being changed: no drift check meanwhile.
    busy: Mutex<()>,
    /// The config the node is at.
    current: Mutex<Arc<Desired>>,
    /// The last drift reported (empty: none).
    drift: Mutex<Vec<String>>,
    /// Set when the verification after a reboot failed (Degraded with this reason): the drift
    /// watcher does not report Done while it is set; a successful update clears it.
    boot_failed: Mutex<Option<String>>,
    /// The config whose boot failed its verification: the update loop does not try it again
    /// by itself (it polls with it as `current`, as for a refused one); the admin's next
    /// config (another one, or the one the node is back at) ends it.
    failed_target: Mutex<Option<String>>,
    boot_check: BootCheck,
    boot_timeout: std::time::Duration,
    metrics: Arc<Metrics>,
}

/// `mcd start`'s options.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The node's name; the host name when `None`.
    pub node_name: Option<String>,
    /// The boot-complete check after a reboot into an update (as `mcd verify-boot`'s).
    pub boot_check: BootCheck,
    pub boot_timeout: std::time::Duration,
    /// Where to serve Prometheus metrics (off when `None`).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// How an update attempt ended (errors aside: those are reported Degraded and retried).
enum Outcome {
    /// The node is at the new config and reported Done.
    Done,
    /// The plan is refused: reported Unreconcilable; wait for another desired config.
    Unreconcilable,
    /// The desired config changed while waiting for a slot.
    Superseded,
}

/// `mcd start`: runs until killed.
pub fn start(ctx: &Ctx, opts: StartOptions) -> Result<()> {
    let node = match opts.node_name {
        Some(n) => n,
        None => host_name()?,
    };
    if !node_api::valid_name(&node) {
        anyhow::bail!("node name {node:?} is not valid (letters, digits, '.', '-', '_')");
    }
    let settings = Settings::load(&ctx.root.host(SETTINGS_PATH))?;
    let mcs = client::read_mcs_json(&ctx.root)?;
    let bootstrap = std::fs::read_to_string(ctx.root.host(node_api::BOOTSTRAP_TOKEN_PATH))
        .with_context(|| format!("reading {}", node_api::BOOTSTRAP_TOKEN_PATH))?
        .trim()
        .to_string();
    let client = Client::new(&mcs, settings.poll_wait_seconds)?;
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = opts.metrics_listen {
        metrics::serve(addr, Arc::clone(&metrics))?;
    }
    crate::commands::recover_journal(ctx)?;
    let current = Arc::new(state::current_light(&ctx.root)?);
    let token = std::fs::read_to_string(ctx.root.host(node_api::NODE_TOKEN_PATH))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    let d = Arc::new(Daemon {
        root: ctx.root.clone(),
        sysroot: ctx.sysroot.clone(),
        node,
        pool: mcs.pool.clone(),
        bootstrap,
        client,
        settings,
        token: Mutex::new(token),
        busy: Mutex::new(()),
        current: Mutex::new(current),
        drift: Mutex::new(Vec::new()),
        boot_failed: Mutex::new(None),
        failed_target: Mutex::new(None),
        boot_check: opts.boot_check,
        boot_timeout: opts.boot_timeout,
        metrics,
    });
    tracing::info!(node = %d.node, pool = %d.pool, servers = ?mcs.servers, "mcd start: node {} in pool {}", d.node, d.pool);
    if d.token().is_empty() {
        d.retry("register", || d.register());
    }
    d.adopt();
    d.startup();
    let watcher = Arc::clone(&d);
    std::thread::Builder::new()
        .name("drift".into())
        .spawn(move || watcher.watch())
        .context("starting the drift watcher")?;
    d.run_loop();
    Ok(())
}

/// `currentConfig` of the `node-annotations.json` the served config carries.
fn annotated_config(root: &Root) -> Option<String> {
    let raw = std::fs::read(root.host(NODE_ANNOTATIONS)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get("machineconfiguration.openshift.io/currentConfig")?
        .as_str()
        .map(str::to_string)
}

/// In-root path of the annotations the served config carries.
const NODE_ANNOTATIONS: &str = "/etc/machine-config-daemon/node-annotations.json";

fn host_name() -> Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("gethostname");
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

impl Daemon {
    fn token(&self) -> String {
        self.token.lock().expect("token lock").clone()
    }

    fn current(&self) -> Arc<Desired> {
        Arc::clone(&self.current.lock().expect("current lock"))
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            root: self.root.clone(),
            sysroot: self.sysroot.clone(),
        }
    }

    /// Registers with the bootstrap token and keeps the node token (0600).
    fn register(&self) -> CallResult<()> {
        let r = self
            .client
            .register(&self.node, &self.pool, &self.bootstrap)?;
        let data = format!("{}\n", r.node_token);
        if let Err(e) = apply::fsops::write_atomic(
            &self.root,
            node_api::NODE_TOKEN_PATH,
            data.as_bytes(),
            node_api::TOKEN_MODE,
            None,
            true,
        ) {
            tracing::error!("keeping the node token: {e:#}");
        }
        *self.token.lock().expect("token lock") = r.node_token;
        tracing::info!("registered as {} in pool {}", self.node, self.pool);
        Ok(())
    }

    /// One call with the node token; a 401 means the token was replaced: register, call again.
    fn call<T>(&self, f: impl Fn(&Client, &str) -> CallResult<T>) -> CallResult<T> {
        match f(&self.client, &self.token()) {
            Err(CallError::Unauthorized(m)) => {
                tracing::warn!("node token refused ({m}); registering again");
                self.register()?;
                f(&self.client, &self.token())
            }
            r => r,
        }
    }

    /// Calls until it succeeds or is refused; an unreachable server is retried with backoff.
    fn retry<T>(&self, what: &str, f: impl Fn() -> CallResult<T>) -> Option<T> {
        let mut b = Backoff::new(self.settings.max_backoff_seconds);
        loop {
            match f() {
                Ok(v) => return Some(v),
                Err(e @ CallError::Unavailable(_)) => {
                    let pause = b.step();
                    tracing::warn!("{what}: {e}; retrying in {}s", pause.as_secs());
                    std::thread::sleep(pause);
                }
                Err(e) => {
                    tracing::error!("{what}: {e}");
                    return None;
                }
            }
        }
    }

    /// Reports the node's state (retried while the server is unreachable) and writes state.json.
    fn report(&self, st: ApiState, current: &str, desired: &str, reason: &str) {
        let local = match st {
            ApiState::Done => NodeState::Done,
            ApiState::Working => NodeState::Working,
            ApiState::Degraded | ApiState::Unreconcilable => NodeState::Degraded,
        };
        if let Err(e) = state::set(&self.root, local, reason, current, desired) {
            tracing::error!("writing the state file: {e:#}");
        }
        self.metrics.set_state(&st.to_string(), current);
        match st {
            ApiState::Done => {
                tracing::info!(message_id = ids::DONE, config = %current, "Done at {current}")
            }
            ApiState::Working => {
                tracing::info!(config = %desired, "Working: {current} -> {desired} {reason}")
            }
            _ => {
                tracing::error!(message_id = ids::DEGRADED, config = %desired, "{st}: {reason}")
            }
        }
        let report = StatusReport {
            state: st,
            current_config: current.into(),
            desired_config: desired.into(),
            reason: reason.into(),
        };
        self.retry("status report", || {
            self.call(|c, t| c.status(&self.node, t, &report))
        });
    }

    fn validate(&self, cfg: &Desired) -> Vec<String> {
        crate::validate::validate(&self.root, cfg, self.sysroot.as_deref())
    }

    /// The first report: after a reboot into a new config (`pending.json`), its verification
    /// ([`Daemon::after_reboot`]); otherwise the node as it is (Done, or Degraded with the
    /// drift). A Done node holds no slot.
    fn startup(&self) {
        match crate::pending::read(&self.root) {
            Ok(Some(p)) => {
                tracing::info!("verifying {} after the reboot", p.to);
                if let Err(e) = self.after_reboot() {
                    tracing::error!("verifying after the reboot: {e:#}");
                }
                return;
            }
            Ok(None) => {}
            Err(e) => tracing::error!("{e:#}"),
        }
        let cur = self.current();
        let drift = self.validate(&cur);
        if drift.is_empty() {
            self.report(ApiState::Done, cur.name(), cur.name(), "");
            self.retry("steady-state", || {
                self.call(|c, t| c.steady_state(&self.node, &self.pool, t))
            });
        } else {
            self.report_drift(&cur, drift);
        }
    }

    /// First start after Ignition: `currentconfig` is missing, or is the encapsulated first-boot
    /// config (its Ignition part emptied, as the MCS serves it). Ignition wrote the files, so
    /// fetch the full rendered config by name (from `currentconfig`, else from
    /// `node-annotations.json`) and, when the disk matches it, record it as current: the first
    /// update then diffs against what is really on the node (no spurious reboot).
    fn adopt(&self) {
        let cur = self.current();
        let name = if !self.root.host(paths::CURRENT_CONFIG).exists() {
            annotated_config(&self.root)
        } else if cur.config_empty {
            Some(cur.name().to_string())
        } else {
            None
        };
        let Some(name) = name else { return };
        self.record_if_on_disk(&name, "written by Ignition");
    }

    /// Fetches the rendered config `name` from the MCS and, when the disk matches it, records
    /// it as current (`currentconfig` and the daemon's copy); returns it then.
    fn record_if_on_disk(&self, name: &str, why: &str) -> Option<Arc<Desired>> {
        if !node_api::valid_name(name) {
            return None;
        }
        let path = node_api::rendered_path(name);
        let raw = self.retry(&format!("fetching {name}"), || {
            self.call(|c, t| c.rendered(&path, t))
        })?;
        let mut full = match crate::source::desired(&raw, &path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("config {name}: {e:#}");
                return None;
            }
        };
        let drift = self.validate(&full);
        if !drift.is_empty() {
            tracing::warn!(
                "not recording {name} as current: the disk does not match it: {}",
                drift.join("; ")
            );
            return None;
        }
        let written = state::current_bytes(&full).and_then(|b| {
            apply::fsops::write_atomic(&self.root, paths::CURRENT_CONFIG, &b, 0o644, None, true)
        });
        match written {
            Ok(()) => {
                tracing::info!("recorded {name} ({why}) as the current config");
                full.lighten();
                let full = Arc::new(full);
                *self.current.lock().expect("current lock") = Arc::clone(&full);
                Some(full)
            }
            Err(e) => {
                tracing::error!("writing {}: {e:#}", paths::CURRENT_CONFIG);
                None
            }
        }
    }

    fn report_drift(&self, cur: &Desired, drift: Vec<String>) {
        Metrics::inc(&self.metrics.drift_detections);
        let reason = format!(
            "on-disk state does not match {}: {}",
            cur.name(),
            drift.join("; ")
        );
        self.report(ApiState::Degraded, cur.name(), cur.name(), &reason);
        *self.drift.lock().expect("drift lock") = drift;
    }

    /// The drift watcher (own thread): inotify events on the managed paths, the `lstat`
    /// polling fallback every `watchIntervalSeconds`, a full validation every
    /// `validateIntervalSeconds`.
    fn watch(&self) {
        let interval = std::time::Duration::from_secs(self.settings.watch_interval_seconds);
        let full = std::time::Duration::from_secs(self.settings.validate_interval_seconds);
        let mut last_full = Instant::now();
        let mut last: Option<(String, std::collections::BTreeMap<String, drift::Stamp>)> = None;
        let mut inotify = match drift::Inotify::new() {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!("inotify: {e}; polling the managed paths only");
                None
            }
        };
        let mut armed = String::new();
        let mut last_poll = Instant::now();
        // Woken at least once a second: to re-arm the watches after an update, and for the
        // polling fallback and the full validation when they are due.
        let tick = interval.min(std::time::Duration::from_secs(1));
        loop {
            let event = match inotify.as_mut() {
                Some(i) => i.wait(tick),
                None => {
                    std::thread::sleep(tick);
                    false
                }
            };
            let _busy = self.busy.lock().expect("busy lock");
            let cur = self.current();
            let rearm = inotify.is_some() && armed != cur.name();
            let poll = last_poll.elapsed() >= interval;
            let due = last_full.elapsed() >= full;
            if !(event || rearm || poll || due) {
                continue;
            }
            let paths = drift::managed_paths(&cur);
            if let (Some(i), true) = (inotify.as_mut(), rearm) {
                let n = i.arm(&self.root, &paths);
                tracing::debug!("inotify: watching {n} directories for {}", cur.name());
                armed = cur.name().to_string();
            }
            let mut changed = event;
            if poll || !last.as_ref().is_some_and(|(n, _)| n == cur.name()) {
                last_poll = Instant::now();
                let snap = drift::snapshot(&self.root, &paths);
                changed |= !last
                    .as_ref()
                    .is_some_and(|(name, s)| name == cur.name() && *s == snap);
                last = Some((cur.name().to_string(), snap));
            }
            drop(paths);
            if !changed && !due {
                continue;
            }
            if event {
                tracing::debug!("inotify: a managed path changed");
            }
            last_full = Instant::now();
            let found = self.validate(&cur);
            let before = self.drift.lock().expect("drift lock").clone();
            if found == before {
                continue;
            }
            if found.is_empty() {
                if self.boot_failed.lock().expect("boot lock").is_some() {
                    // Degraded by the verification after the reboot: stays until an update.
                    self.drift.lock().expect("drift lock").clear();
                    continue;
                }
                tracing::info!("drift from {} is gone", cur.name());
                self.report(ApiState::Done, cur.name(), cur.name(), "");
                self.drift.lock().expect("drift lock").clear();
            } else {
                self.report_drift(&cur, found);
            }
        }
    }

    /// The update loop: long-poll, update, repeat.
    fn run_loop(&self) {
        let mut backoff = Backoff::new(self.settings.max_backoff_seconds);
        // What the server is told the node is at: the current config, or a refused target
        // (so that the long-poll waits for another one instead of answering it again).
        let mut polled = self.polled_after_failure();
        loop {
            let wait = self.settings.poll_wait_seconds;
            let d = match self.call(|c, t| c.desired(&self.node, t, &polled, wait)) {
                Ok(None) => continue,
                Ok(Some(d)) => d,
                Err(e) => {
                    let pause = backoff.step();
                    tracing::warn!(
                        "desired config: {e}; keeping the node as it is, retrying in {}s",
                        pause.as_secs()
                    );
                    std::thread::sleep(pause);
                    continue;
                }
            };
            let cur = self.current();
            if d.desired_config == cur.name() {
                if polled != cur.name() && self.drift.lock().expect("drift lock").is_empty() {
                    // Back to where the node is, after a refused target or a failed boot
                    // (the node is back at its previous config): Done, the slot released.
                    let boot_failed = self.boot_failed.lock().expect("boot lock").take();
                    *self.failed_target.lock().expect("target lock") = None;
                    self.report(ApiState::Done, cur.name(), cur.name(), "");
                    if boot_failed.is_some() {
                        self.retry("steady-state", || {
                            self.call(|c, t| c.steady_state(&self.node, &self.pool, t))
                        });
                    }
                    polled = cur.name().to_string();
                } else {
                    backoff.sleep();
                }
                continue;
            }
            match self.update(&d) {
                Ok(Outcome::Done) => {
                    backoff.reset();
                    polled = self.current().name().to_string();
                }
                Ok(Outcome::Unreconcilable) => polled = d.desired_config.clone(),
                Ok(Outcome::Superseded) => {}
                Err(e) => {
                    // Failed before the apply: poll from the old config (answered at once,
                    // retried); failed after it: the drift watcher reports the way back. A
                    // failed boot is not retried: poll from its config.
                    polled = self.polled_after_failure();
                    let pause = backoff.step();
                    tracing::warn!(
                        "update to {} failed: {e:#}; retrying in {}s",
                        d.desired_config,
                        pause.as_secs()
                    );
                    std::thread::sleep(pause);
                }
            }
        }
    }

    /// What the long-poll names as `current`: the config whose boot failed, else the current one.
    fn polled_after_failure(&self) -> String {
        self.failed_target
            .lock()
            .expect("target lock")
            .clone()
            .unwrap_or_else(|| self.current().name().to_string())
    }

    fn fetch(&self, d: &DesiredResponse) -> Result<Desired> {
        let raw = self
            .retry("fetching the rendered config", || {
                self.call(|c, t| c.rendered(&d.machine_config_path, t))
            })
            .ok_or_else(|| anyhow!("{} refused", d.machine_config_path))?;
        let new = crate::source::desired(&raw, &d.machine_config_path)?;
        if new.name() != d.desired_config {
            anyhow::bail!(
                "{} holds {}, not {}",
                d.machine_config_path,
                new.name(),
                d.desired_config
            );
        }
        Ok(new)
    }

    /// Moves the node to the desired config of `d`.
    fn update(&self, d: &DesiredResponse) -> Result<Outcome> {
        let new = self.fetch(d)?;
        let old = self.current();
        let force_file = self.root.host(paths::FORCE_FILE);
        let force = force_file.exists();
        let policy = Policy::load(&self.root.host(paths::POLICY))?;
        let p = plan::plan(&old, &new, &policy, force);
        if !p.refused.is_empty() {
            let reason = format!(
                "unreconcilable: {}",
                p.refused
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            self.report(ApiState::Unreconcilable, old.name(), new.name(), &reason);
            return Ok(Outcome::Unreconcilable);
        }
        let disruptive = p.reboot() || p.drain();
        if disruptive && !self.take_slot(new.name())? {
            return Ok(Outcome::Superseded);
        }
        let _busy = self.busy.lock().expect("busy lock");
        if force {
            std::fs::remove_file(&force_file)
                .with_context(|| format!("removing {}", paths::FORCE_FILE))?;
            tracing::info!(
                "{} present: skipping the on-disk validation once",
                paths::FORCE_FILE
            );
        } else {
            let drift = self.validate(&old);
            if !drift.is_empty() {
                let reason = format!(
                    "on-disk state does not match {}: {}",
                    old.name(),
                    drift.join("; ")
                );
                Metrics::inc(&self.metrics.drift_detections);
                self.report(ApiState::Degraded, old.name(), new.name(), &reason);
                *self.drift.lock().expect("drift lock") = drift;
                anyhow::bail!("{reason}");
            }
        }
        tracing::info!(message_id = ids::UPDATE_STARTED, from = %old.name(), to = %new.name(), "update {} -> {} started", old.name(), new.name());
        self.report(
            ApiState::Working,
            old.name(),
            new.name(),
            &p.reasons.join("; "),
        );
        if p.drain() || p.reboot() {
            self.drain(old.name(), new.name());
        }
        let opts = apply::Options {
            sysroot: self.sysroot.clone(),
            full: false,
        };
        if let Err(e) = apply::apply(&self.root, &old, &new, &p, &opts) {
            self.fail(old.name(), new.name(), &format!("{e:#}"));
            return Err(e);
        }
        tracing::info!(message_id = ids::UPDATE_APPLIED, config = %new.name(), "applied {}", new.name());
        let mut new = new;
        new.lighten();
        let new = Arc::new(new);
        *self.current.lock().expect("current lock") = Arc::clone(&new);
        self.drift.lock().expect("drift lock").clear();
        *self.boot_failed.lock().expect("boot lock") = None;
        *self.failed_target.lock().expect("target lock") = None;
        drop(old);
        self.live_actions(&new, &p)?;
        if p.reboot() {
            drop(new);
            self.reboot()?;
            if !self.after_reboot()? {
                anyhow::bail!("the verification after the reboot failed");
            }
            return Ok(Outcome::Done);
        }
        self.verify(&new)?;
        if disruptive {
            self.retry("steady-state", || {
                self.call(|c, t| c.steady_state(&self.node, &self.pool, t))
            });
        }
        Ok(Outcome::Done)
    }

    /// `POST /v1/pre-reboot` until granted; `false` when the desired config moved meanwhile.
    fn take_slot(&self, target: &str) -> Result<bool> {
        let mut b = Backoff::new(self.settings.max_backoff_seconds);
        loop {
            match self.call(|c, t| c.pre_reboot(&self.node, &self.pool, t)) {
                Ok(()) => {
                    tracing::info!("holding a rollout slot of pool {}", self.pool);
                    return Ok(true);
                }
                Err(e @ CallError::Unavailable(_)) => {
                    tracing::warn!("rollout slot: {e}");
                }
                Err(e) if e.lock_busy() => {
                    tracing::info!("waiting for a rollout slot: {e}");
                    let cur = self.current();
                    if let Ok(Some(now)) = self.call(|c, t| c.desired(&self.node, t, cur.name(), 0))
                    {
                        if now.desired_config != target {
                            tracing::info!(
                                "desired config moved to {} while waiting",
                                now.desired_config
                            );
                            return Ok(false);
                        }
                    }
                }
                Err(e) => return Err(anyhow!("rollout slot: {e}")),
            }
            b.sleep();
        }
    }

    /// Runs the drain hook until it succeeds (keeping the slot), with backoff.
    fn drain(&self, from: &str, to: &str) {
        let argv = &self.settings.drain_command;
        if argv.is_empty() {
            tracing::info!("drain: no drain command configured (embedded mode)");
            return;
        }
        let mut b = Backoff::new(self.settings.max_backoff_seconds);
        loop {
            match settings::run_hook("drain", argv, &[("MCD_NODE_NAME", &self.node)]) {
                Ok(()) => return,
                Err(e) => {
                    let reason = format!("drain failed, keeping the slot and retrying: {e:#}");
                    self.report(ApiState::Working, from, to, &reason);
                    b.sleep();
                }
            }
        }
    }

    /// Reloads and restarts (booted), or reports them as skipped (under a root).
    fn live_actions(&self, new: &Desired, p: &Plan) -> Result<()> {
        let booted = apply::booted(&self.root);
        let live: Vec<_> = p
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::Reboot | Action::Drain))
            .cloned()
            .collect();
        match crate::systemd::run_actions(booted, &live, !p.diff.units.is_empty()) {
            Ok(lines) => {
                lines.iter().for_each(|l| tracing::info!("{l}"));
                Ok(())
            }
            Err(e) => {
                let reason = format!(
                    "applied {}, but the post-update actions failed: {e:#}",
                    new.name()
                );
                self.fail(new.name(), new.name(), &reason);
                Err(anyhow!(reason))
            }
        }
    }

    /// On the booted system: logind's Reboot, then wait to be stopped (the next start verifies
    /// with [`Daemon::after_reboot`]). Under another root: `$MCD_REBOOT_HOOK` (a shell command)
    /// if set; the caller then carries on as the node that came back.
    fn reboot(&self) -> Result<()> {
        let Some(p) = crate::pending::read(&self.root)? else {
            anyhow::bail!("rebooting: no pending update ({})", paths::PENDING);
        };
        let name = p.to.as_str();
        tracing::info!(message_id = ids::REBOOTING, config = %name, "rebooting into {name}");
        Metrics::inc(&self.metrics.reboots);
        self.metrics.set_state("Rebooting", &p.from);
        state::set(&self.root, NodeState::Rebooting, "", name, name)?;
        if apply::booted(&self.root) {
            crate::systemd::Bus::system()?.reboot()?;
            loop {
                std::thread::park();
            }
        }
        self.reboot_hook(name)
    }

    /// Under a root: `$MCD_REBOOT_HOOK` stands for the reboot (environment `MCD_NODE_NAME`,
    /// `MCD_ROOT`, `MCD_CONFIG`); a failing hook makes the node Degraded.
    fn reboot_hook(&self, config: &str) -> Result<()> {
        match std::env::var(REBOOT_HOOK_ENV) {
            Ok(cmd) if !cmd.is_empty() => {
                let root = self.root.dir().display().to_string();
                let argv = ["sh".to_string(), "-c".to_string(), cmd];
                let env = [
                    ("MCD_NODE_NAME", self.node.as_str()),
                    ("MCD_ROOT", root.as_str()),
                    ("MCD_CONFIG", config),
                ];
                if let Err(e) = settings::run_hook("reboot hook", &argv, &env) {
                    let reason = format!("{e:#}");
                    self.fail(config, config, &reason);
                    return Err(e);
                }
            }
            _ => {
                tracing::info!("reboot: skipped (no systemd under --root; {REBOOT_HOOK_ENV} unset)")
            }
        }
        Ok(())
    }

    /// After the reboot into an update: `mcd verify-boot`'s checks and decision
    /// ([`verify::verify`]: the booted deployment, the boot-complete check, files, units and
    /// kernel arguments). Verified: the config is recorded as current, Done is reported (which
    /// releases the slot) and steady-state is sent; `true`. Otherwise Degraded with the reason
    /// (an unhealthy deployment rolled back first: on the booted system the rollback's reboot
    /// comes next; under a root the reboot hook stands for it and the boot back is verified at
    /// once); `false`. The slot stays held while the node is Degraded, as an unavailable node
    /// counts against `maxUnavailable`.
    fn after_reboot(&self) -> Result<bool> {
        loop {
            let out = verify::verify(&self.ctx(), &self.boot_check, self.boot_timeout)?;
            let cur = Arc::new(state::current_light(&self.root)?);
            *self.current.lock().expect("current lock") = Arc::clone(&cur);
            match out {
                None => return Ok(true),
                Some(verify::Outcome::Verified { to }) => {
                    tracing::info!("verified {to} after the reboot");
                    *self.boot_failed.lock().expect("boot lock") = None;
                    *self.failed_target.lock().expect("target lock") = None;
                    Metrics::inc(&self.metrics.updates_applied);
                    self.report(ApiState::Done, cur.name(), cur.name(), "");
                    self.retry("steady-state", || {
                        self.call(|c, t| c.steady_state(&self.node, &self.pool, t))
                    });
                    return Ok(true);
                }
                Some(verify::Outcome::Degraded {
                    to,
                    reason,
                    back_at,
                }) => {
                    *self.boot_failed.lock().expect("boot lock") = Some(reason.clone());
                    *self.failed_target.lock().expect("target lock") = Some(to.clone());
                    // Back on the previous deployment: the node is at the config it came from
                    // when the disk matches it (an OS-only update), so that taking the failed
                    // config back is all it takes to recover.
                    let at = back_at
                        .and_then(|from| self.record_if_on_disk(&from, "booted back into it"))
                        .unwrap_or(cur);
                    self.fail(at.name(), &to, &reason);
                    return Ok(false);
                }
                Some(verify::Outcome::RolledBack { to, reason }) => {
                    Metrics::inc(&self.metrics.rollbacks);
                    *self.boot_failed.lock().expect("boot lock") = Some(reason.clone());
                    // Counted as a failure once, when the boot back is verified (Degraded).
                    self.report(ApiState::Degraded, cur.name(), &to, &reason);
                    if apply::booted(&self.root) {
                        // verify asked logind to reboot into the previous deployment.
                        loop {
                            std::thread::park();
                        }
                    }
                    Metrics::inc(&self.metrics.reboots);
                    self.reboot_hook(&to)?;
                }
            }
        }
    }

    /// Validates the node at `new` and reports Done (releasing the slot), or Degraded.
    fn verify(&self, new: &Desired) -> Result<()> {
        let drift = self.validate(new);
        if !drift.is_empty() {
            let reason = format!("after the update to {}: {}", new.name(), drift.join("; "));
            self.fail(new.name(), new.name(), &reason);
            *self.drift.lock().expect("drift lock") = drift;
            anyhow::bail!(reason);
        }
        Metrics::inc(&self.metrics.updates_applied);
        self.report(ApiState::Done, new.name(), new.name(), "");
        Ok(())
    }

    /// Reports an update that failed: Degraded with the reason, counted.
    fn fail(&self, current: &str, desired: &str, reason: &str) {
        Metrics::inc(&self.metrics.update_failures);
        self.report(ApiState::Degraded, current, desired, reason);
    }
}
