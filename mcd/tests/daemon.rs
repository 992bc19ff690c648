//! `mcd start` against a real `mcs serve` process on loopback over TLS: two daemons on two
//! temporary roots, each provisioned by our `ignition` (fetch and files stages, from the config
//! `mcs` serves) and `mcd firstboot-complete-machineconfig`.
//!
//! The `mcs` and `ignition` binaries are spawned from the target directory; `cargo test -p mcd`
//! does not build them (a dev-dependency builds a library, not a binary), `cargo build
//! --workspace` or `cargo test --workspace` does. Without them the test is skipped with a
//! printed reason.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MCD: &str = env!("CARGO_BIN_EXE_mcd");
/// Generous bound for every condition the test waits for.
const LIMIT: Duration = Duration::from_secs(30);

fn bin(name: &str) -> PathBuf {
    Path::new(MCD).parent().unwrap().join(name)
}

fn mc(name: &str, config: &str) -> String {
    format!(
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: {name}\n  labels:\n    \
         machineconfiguration.openshift.io/role: worker\nspec:\n  config:\n    ignition: {{version: 3.2.0}}\n{config}"
    )
}

fn motd(text: &str) -> String {
    mc(
        "50-worker-motd",
        &format!("    storage:\n      files:\n      - path: /etc/motd\n        mode: 0644\n        contents: {{source: 'data:,{text}'}}\n"),
    )
}

fn ssh(keys: &[&str]) -> String {
    let list = keys
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    mc(
        "60-worker-ssh",
        &format!(
            "    passwd:\n      users:\n      - name: core\n        sshAuthorizedKeys: [{list}]\n"
        ),
    )
}

fn pool(paused: bool) -> String {
    format!(
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: worker\nspec:\n  \
         machineConfigSelector:\n    matchLabels:\n      machineconfiguration.openshift.io/role: worker\n  \
         paused: {paused}\n  maxUnavailable: 1\n"
    )
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Env {
    dir: tempfile::TempDir,
    port: u16,
    /// Each node's metrics port (`mcd start --metrics-listen`).
    metrics: std::cell::RefCell<Vec<(String, u16)>>,
}

impl Env {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn input(&self) -> PathBuf {
        self.path("in")
    }
    fn state(&self) -> PathBuf {
        self.path("state")
    }
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
    /// Through a rename, as editors do.
    fn write(&self, file: &str, text: &str) {
        let tmp = self.dir.path().join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.input().join(file)).unwrap();
    }
    fn serve(&self) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("mcs.log"))
            .unwrap();
        let child = Command::new(bin("mcs"))
            .arg("serve")
            .arg("--dir")
            .arg(self.input())
            .arg("--state-dir")
            .arg(self.state())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--advertise-url", &self.url()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proc(child);
        wait_for("mcs serving", || {
            self.state().join("ca.crt").exists() && self.get_config().is_some()
        });
        p
    }
    fn agent(&self) -> ureq::Agent {
        let pem = std::fs::read(self.state().join("ca.crt")).unwrap();
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent()
    }
    /// The served Ignition config of the worker pool (spec 3.6.0), fetched with the pool's
    /// bootstrap token (`mcs serve` refuses `/config/<pool>` without it).
    fn get_config(&self) -> Option<Vec<u8>> {
        let tokens: Value = serde_json::from_slice(
            &std::fs::read(self.state().join("bootstrap-tokens.json")).ok()?,
        )
        .ok()?;
        let token = tokens["pools"]["worker"].as_str()?;
        let mut r = self
            .agent()
            .get(&format!("{}/config/worker", self.url()))
            .header(
                "Accept",
                "application/vnd.coreos.ignition+json;version=3.6.0",
            )
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.body_mut().read_to_vec().ok()
    }
    fn status(&self) -> Value {
        let out = Command::new(bin("mcs"))
            .args(["status", "--json", "--state-dir"])
            .arg(self.state())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
    fn rendered(&self) -> String {
        self.status()["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "worker"))
            .and_then(|p| p["renderedConfig"].as_str())
            .unwrap_or("")
            .to_string()
    }
    fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            "mcs.log",
            "n1.log",
            "n2.log",
            "reboots.log",
            "drain.log",
            "rpm-ostree.log",
        ] {
            s.push_str(&format!(
                "--- {f}\n{}\n",
                std::fs::read_to_string(self.path(f)).unwrap_or_default()
            ));
        }
        s
    }

    /// A root as a new machine leaves its initramfs: our `ignition` (fetch, files) from the
    /// pointer config of `mcs pointer`, then `mcd firstboot-complete-machineconfig`.
    fn provision(&self, name: &str) -> PathBuf {
        let root = self.path(name);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("home/core")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\ncore:x:1000:1000:core:/home/core:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\ncore:x:1000:\n").unwrap();
        // The pointer config a new machine boots with: our ignition fetches the
        // pool's config from mcs over HTTPS, trusting the CA the pointer carries.
        let pointer = Command::new(bin("mcs"))
            .arg("pointer")
            .arg("--state-dir")
            .arg(self.state())
            .args(["--pool", "worker", "--url", &self.url()])
            .output()
            .unwrap();
        assert!(
            pointer.status.success(),
            "mcs pointer: {}",
            String::from_utf8_lossy(&pointer.stderr)
        );
        let cfg = self.path(&format!("{name}.ign"));
        std::fs::write(&cfg, &pointer.stdout).unwrap();
        let run = self.path(&format!("{name}-run"));
        std::fs::create_dir_all(&run).unwrap();
        for stage in ["fetch", "files"] {
            let out = Command::new(bin("ignition"))
                .args([
                    "-platform",
                    "file",
                    "-stage",
                    stage,
                    "-log-to-stdout",
                    "-root",
                ])
                .arg(&root)
                .arg("-config-cache")
                .arg(run.join("config.json"))
                .arg("-state-file")
                .arg(run.join("state"))
                .arg("-neednet")
                .arg(run.join("neednet"))
                .env("IGNITION_CONFIG_FILE", &cfg)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ignition {stage}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = Command::new(MCD)
            .arg("--root")
            .arg(&root)
            .arg("firstboot-complete-machineconfig")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "firstboot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Short pauses so that the test runs quickly (documented in docs/mcd.md). The
        // lstat polling is made too slow to matter: drift must be seen through inotify.
        std::fs::write(
            root.join("etc/machine-config-daemon/daemon.json"),
            r#"{"maxBackoffSeconds": 1, "watchIntervalSeconds": 3600, "pollWaitSeconds": 30}"#,
        )
        .unwrap();
        root
    }

    /// A stand-in `rpm-ostree` for the daemons (the roots are not ostree deployments): logs
    /// its arguments (`rollback` after an unhealthy boot) and succeeds.
    fn fake_rpm_ostree(&self) -> PathBuf {
        let p = self.path("rpm-ostree");
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\nexit 0\n",
                self.path("rpm-ostree.log").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// The Prometheus text of a node's `mcd start --metrics-listen`.
    fn scrape(&self, node: &str) -> String {
        let port = self
            .metrics
            .borrow()
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, p)| *p)
            .unwrap();
        let mut r = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.body_mut().read_to_string().unwrap()
    }

    /// A metric's value in a node's scrape (`name` with its labels, as printed).
    fn metric(&self, node: &str, name: &str) -> f64 {
        let text = self.scrape(node);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {text}"))
    }

    fn node(&self, name: &str) -> Value {
        self.status()["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// `mcd start` on a root; the reboot hook records each reboot and the slots held meanwhile,
    /// and stands for the boot: it creates `/run/boot-ok` (the boot-complete check the daemons
    /// are given) unless the root has a `fail-boot` file.
    fn daemon(&self, name: &str, root: &Path) -> Proc {
        let hook = format!(
            "echo start $MCD_NODE_NAME >> {log}; {mcs} status --json --state-dir {state} > {dir}/slots-$MCD_NODE_NAME-$(date +%s%N).json; \
             rm -f $MCD_ROOT/run/boot-ok; sleep 1; [ -e $MCD_ROOT/fail-boot ] || {{ mkdir -p $MCD_ROOT/run; touch $MCD_ROOT/run/boot-ok; }}; \
             echo end $MCD_NODE_NAME >> {log}",
            log = self.path("reboots.log").display(),
            mcs = bin("mcs").display(),
            state = self.state().display(),
            dir = self.dir.path().display(),
        );
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).unwrap();
        let port = free_port();
        self.metrics.borrow_mut().push((name.to_string(), port));
        let child = Command::new(MCD)
            .arg("--root")
            .arg(root)
            .args(["start", "--node-name", name])
            .args(["--boot-check", "file:/run/boot-ok", "--boot-timeout", "2s"])
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .env("MCD_REBOOT_HOOK", hook)
            .env("MCD_RPM_OSTREE", self.fake_rpm_ostree())
            .env("MCD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// Waits until both nodes are Done at `config` (and holds at most one slot all the while).
    fn both_done_at(&self, config: &str) {
        wait_for_env(self, &format!("both nodes Done at {config}"), || {
            let st = self.status();
            let nodes = st["nodes"].as_array().cloned().unwrap_or_default();
            let holders = nodes.iter().filter(|n| n["holdsSlot"] == true).count();
            assert!(holders <= 1, "two slots held at once: {st:#}");
            nodes.len() == 2
                && nodes
                    .iter()
                    .all(|n| n["state"] == "Done" && n["currentConfig"] == config)
        });
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_env(env: &Env, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        if t.elapsed() > LIMIT {
            panic!("timed out waiting for {what}\n{}", env.logs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p.trim_start_matches('/'))).unwrap_or_default()
}

const KEY1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 one@test";
const KEY2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey2 two@test";
const KEYS: &str = "/home/core/.ssh/authorized_keys.d/ignition";

#[test]
fn two_daemons_follow_their_pool() {
    for b in ["mcs", "ignition"] {
        if !bin(b).exists() {
            eprintln!(
                "skipping: {} is not built (run `cargo build --workspace` or `cargo test --workspace`)",
                bin(b).display()
            );
            return;
        }
    }
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        port: free_port(),
        metrics: Default::default(),
    };
    std::fs::create_dir_all(env.input()).unwrap();
    env.write("pool.yaml", &pool(false));
    env.write("50-motd.yaml", &motd("hello"));
    let mut mcs = env.serve();
    let r1 = env.provision("r1");
    let r2 = env.provision("r2");
    // n1 has a drain command, failing while `drain-fails` exists.
    std::fs::write(
        r1.join("etc/machine-config-daemon/daemon.json"),
        format!(
            r#"{{"maxBackoffSeconds": 1, "watchIntervalSeconds": 3600, "pollWaitSeconds": 30,
                "drainCommand": ["sh", "-c", "echo drain >> {d}/drain.log; test ! -e {d}/drain-fails"]}}"#,
            d = env.dir.path().display()
        ),
    )
    .unwrap();
    let _d1 = env.daemon("n1", &r1);
    let _d2 = env.daemon("n2", &r2);

    // Both register and report Done at the config Ignition wrote.
    let first = env.rendered();
    env.both_done_at(&first);
    for r in [&r1, &r2] {
        let token = r.join("etc/machine-config-daemon/node-token");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // A new SSH key reaches both, without a reboot.
    env.write("60-ssh.yaml", &ssh(&[KEY1]));
    wait_for_env(&env, "a new rendered config", || env.rendered() != first);
    let with_key = env.rendered();
    env.both_done_at(&with_key);
    for r in [&r1, &r2] {
        assert!(read(r, KEYS).contains(KEY1), "{}", env.logs());
    }
    assert_eq!(
        read(env.dir.path(), "reboots.log"),
        "",
        "no reboot for a key"
    );
    assert_eq!(read(env.dir.path(), "drain.log"), "", "no drain for a key");
    // Metrics, scraped over HTTP: the update counted, the state gauge at Done.
    for n in ["n1", "n2"] {
        assert_eq!(env.metric(n, "mcd_updates_applied_total"), 1.0);
        assert_eq!(env.metric(n, "mcd_state{state=\"Done\"}"), 1.0);
        assert_eq!(env.metric(n, "mcd_state{state=\"Degraded\"}"), 0.0);
        assert_eq!(env.metric(n, "mcd_drift_detections_total"), 0.0);
    }

    // Drift: a managed file edited by hand makes the node Degraded with the path; restored, Done.
    std::fs::write(r1.join("etc/motd"), "tampered").unwrap();
    wait_for_env(&env, "n1 Degraded with /etc/motd", || {
        env.status()["nodes"].as_array().is_some_and(|n| {
            n.iter().any(|n| {
                n["name"] == "n1"
                    && n["state"] == "Degraded"
                    && n["reason"].as_str().unwrap_or("").contains("/etc/motd")
            })
        })
    });
    assert!(env.metric("n1", "mcd_drift_detections_total") >= 1.0);
    assert_eq!(env.metric("n1", "mcd_state{state=\"Degraded\"}"), 1.0);
    std::fs::write(r1.join("etc/motd"), "hello").unwrap();
    env.both_done_at(&with_key);
    assert_eq!(env.metric("n1", "mcd_state{state=\"Done\"}"), 1.0);

    // A change that needs a reboot: one node at a time (maxUnavailable 1). n1's drain fails
    // at first: it keeps its slot (n2 gets none meanwhile) and retries until the drain works.
    std::fs::write(env.path("drain-fails"), "").unwrap();
    env.write("50-motd.yaml", &motd("rebooted"));
    wait_for_env(&env, "a new rendered config", || env.rendered() != with_key);
    let rebooted = env.rendered();
    wait_for_env(&env, "n1 retrying its drain with the slot", || {
        let n1 = env.node("n1");
        n1["state"] == "Working"
            && n1["holdsSlot"] == true
            && n1["reason"].as_str().unwrap_or("").contains("drain failed")
            && read(env.dir.path(), "drain.log").lines().count() >= 3
    });
    assert_eq!(env.node("n2")["holdsSlot"], false);
    assert_eq!(read(&r1, "/etc/motd"), "hello", "applied before the drain");
    std::fs::remove_file(env.path("drain-fails")).unwrap();
    env.both_done_at(&rebooted);
    let log = read(env.dir.path(), "reboots.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    let (a, b) = (&lines[0][6..], &lines[2][6..]);
    assert_ne!(a, b, "{log}");
    assert_eq!(
        lines,
        [
            format!("start {a}"),
            format!("end {a}"),
            format!("start {b}"),
            format!("end {b}")
        ],
        "reboots overlapped"
    );
    // While each node rebooted, it held the pool's only slot.
    let mut snaps = 0;
    for e in std::fs::read_dir(env.dir.path()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("slots-") {
            let node = rest.split('-').next().unwrap();
            let st: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            let holders: Vec<_> = st["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["holdsSlot"] == true)
                .map(|n| n["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(holders, [node.to_string()], "{st:#}");
            snaps += 1;
        }
    }
    assert_eq!(snaps, 2);
    for r in [&r1, &r2] {
        assert_eq!(read(r, "/etc/motd"), "rebooted");
        // Verified after the reboot (boot-complete check, files): the record is gone.
        assert!(!r.join("etc/machine-config-daemon/pending.json").exists());
        let st: Value =
            serde_json::from_str(&read(r, "/etc/machine-config-daemon/state.json")).unwrap();
        assert_eq!(st["state"], "Done", "{st}");
    }
    for n in ["n1", "n2"] {
        assert!(
            read(env.dir.path(), &format!("{n}.log")).contains("verified"),
            "{}",
            env.logs()
        );
        assert_eq!(env.metric(n, "mcd_reboots_total"), 1.0);
    }
    assert!(read(env.dir.path(), "rpm-ostree.log").is_empty());

    // Paused: the new config is rendered but held back; unpaused, it goes out.
    env.write("pool.yaml", &pool(true));
    wait_for_env(&env, "the pool paused", || {
        env.status()["pools"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["paused"] == true))
    });
    env.write("60-ssh.yaml", &ssh(&[KEY1, KEY2]));
    wait_for_env(&env, "a new rendered config", || env.rendered() != rebooted);
    let held = env.rendered();
    // Long enough for a daemon to have picked it up (a key goes out in well under a second).
    std::thread::sleep(Duration::from_secs(3));
    env.both_done_at(&rebooted);
    for r in [&r1, &r2] {
        assert!(!read(r, KEYS).contains(KEY2), "paused, yet applied");
    }

    // Restarting mcs loses nothing: nodes, states and tokens are still there; the unpause
    // after the restart reaches both nodes with their old tokens.
    let tokens: Vec<String> = [&r1, &r2]
        .iter()
        .map(|r| read(r, "/etc/machine-config-daemon/node-token"))
        .collect();
    drop(mcs);
    mcs = env.serve();
    env.both_done_at(&rebooted);
    env.write("pool.yaml", &pool(false));
    env.both_done_at(&held);
    for r in [&r1, &r2] {
        assert!(read(r, KEYS).contains(KEY2), "{}", env.logs());
    }
    let after: Vec<String> = [&r1, &r2]
        .iter()
        .map(|r| read(r, "/etc/machine-config-daemon/node-token"))
        .collect();
    assert_eq!(tokens, after, "no re-registration was needed");

    // A change the daemon cannot make (a directory): Unreconcilable, nothing touched; taken
    // back, the pool renders the same config again and both nodes are Done there.
    env.write(
        "70-dir.yaml",
        &mc(
            "70-worker-dir",
            "    storage:\n      directories:\n      - path: /var/lib/extra\n        mode: 0755\n",
        ),
    );
    wait_for_env(&env, "both nodes Unreconcilable", || {
        env.status()["nodes"].as_array().is_some_and(|n| {
            n.len() == 2
                && n.iter().all(|n| {
                    n["state"] == "Unreconcilable"
                        && n["currentConfig"] == held.as_str()
                        && n["reason"].as_str().unwrap_or("").contains("director")
                })
        })
    });
    for r in [&r1, &r2] {
        assert!(!r.join("var/lib/extra").exists());
    }
    std::fs::remove_file(env.input().join("70-dir.yaml")).unwrap();
    env.both_done_at(&held);

    // A reboot into a deployment that does not come up healthy (the boot-complete check times
    // out): rolled back (`rpm-ostree rollback`), the boot back verified, Degraded with the
    // reason. The node keeps its slot, so the other one does not start.
    for r in [&r1, &r2] {
        std::fs::write(r.join("fail-boot"), "").unwrap();
    }
    env.write("50-motd.yaml", &motd("unhealthy"));
    wait_for_env(&env, "a new rendered config", || env.rendered() != held);
    let sick = env.rendered();
    let mut failed = String::new();
    wait_for_env(&env, "a node Degraded after its rollback", || {
        for n in ["n1", "n2"] {
            let node = env.node(n);
            if node["state"] == "Degraded"
                && node["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("was rolled back")
            {
                failed = n.to_string();
                return true;
            }
        }
        false
    });
    let node = env.node(&failed);
    assert!(
        node["reason"].as_str().unwrap().contains("not healthy"),
        "{node}"
    );
    assert_eq!(node["holdsSlot"], true, "{node}");
    assert_eq!(node["desiredConfig"], sick.as_str(), "{node}");
    assert_eq!(
        read(env.dir.path(), "rpm-ostree.log")
            .matches("rollback")
            .count(),
        1,
        "{}",
        env.logs()
    );
    let other = if failed == "n1" { "n2" } else { "n1" };
    let o = env.node(other);
    assert_eq!(o["holdsSlot"], false, "{o}");
    assert_eq!(o["currentConfig"], held.as_str(), "{o}");
    assert_eq!(env.metric(&failed, "mcd_rollbacks_total"), 1.0);
    assert_eq!(env.metric(&failed, "mcd_state{state=\"Degraded\"}"), 1.0);
    assert!(env.metric(&failed, "mcd_update_failures_total") >= 1.0);
    if std::env::var_os("MCD_TEST_SHOW_LOGS").is_some() {
        eprintln!("{}", env.logs());
    }
    drop(mcs);
}
