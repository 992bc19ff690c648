//! Config acquisition: fetch-offline / neednet / fetch against a local HTTP
//! server, system configs, kernel command line, qemu fw_cfg, retries.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// A tiny HTTP/1.1 server: path -> list of (status, body) served in turn
/// (the last one repeats); it records each request's head.
type Routes = Arc<Mutex<HashMap<String, Vec<(u16, String)>>>>;

struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: Vec<(&str, Vec<(u16, String)>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: Routes = Arc::new(Mutex::new(
        routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect(),
    ));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            reqs.lock().unwrap().push(head);
            let (status, body) = {
                let mut r = routes.lock().unwrap();
                match r.get_mut(&path) {
                    Some(list) if list.len() > 1 => list.remove(0),
                    Some(list) => list[0].clone(),
                    None => (404, String::new()),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.read(&mut [0u8; 0]);
        }
    });
    Server { base, requests }
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["root", "sys"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("cmdline"), "quiet\n").unwrap();
        std::fs::write(dir.path().join("boot_id"), "b00t\n").unwrap();
        Env { dir }
    }
    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn stage(&self, platform: &str, stage: &str, config: Option<&str>) -> Output {
        if let Some(c) = config {
            std::fs::write(self.p("user.ign"), c).unwrap();
        }
        Command::new(env!("CARGO_BIN_EXE_ignition"))
            .args([
                "-platform",
                platform,
                "-stage",
                stage,
                "-log-to-stdout",
                "-fetch-timeout",
                "10s",
            ])
            .arg("-root")
            .arg(self.p("root"))
            .arg("-config-cache")
            .arg(self.p("run/ignition.json"))
            .arg("-state-file")
            .arg(self.p("run/ignition/state"))
            .arg("-neednet")
            .arg(self.p("run/ignition/neednet"))
            .env("IGNITION_CONFIG_FILE", self.p("user.ign"))
            .env("IGNITION_SYSTEM_CONFIG_DIR", self.p("sys"))
            .env("IGNITION_KERNEL_CMDLINE_PATH", self.p("cmdline"))
            .env("IGNITION_QEMU_FW_CFG_PATH", self.p("fw_cfg_raw"))
            .env("IGNITION_BOOT_ID_PATH", self.p("boot_id"))
            .output()
            .unwrap()
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn state(e: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(e.p("run/ignition/state")).unwrap()).unwrap()
}

#[test]
fn fetch_offline_signals_neednet_and_fetch_completes() {
    let remote = r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/remote","contents":{"source":"data:,from-remote"}}]}}"#;
    let srv = serve(vec![("/remote.ign", vec![(200, remote.to_string())])]);
    let e = Env::new();
    let pointer = format!(
        r#"{{"ignition":{{"version":"3.4.0","config":{{"merge":[{{"source":"{}/remote.ign","httpHeaders":[{{"name":"X-Token","value":"t0k"}}]}}]}}}}}}"#,
        srv.base
    );

    ok(&e.stage("file", "fetch-offline", Some(&pointer)));
    assert!(e.p("run/ignition/neednet").exists());
    assert!(
        !e.p("run/ignition.json").exists(),
        "no cache while the config is incomplete"
    );
    assert!(
        srv.requests.lock().unwrap().is_empty(),
        "fetch-offline must not use the network"
    );

    ok(&e.stage("file", "fetch", None));
    let cache = e.p("run/ignition.json");
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["storage"]["files"][0]["path"], "/etc/remote");
    let req = srv.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        req.contains("accept: application/vnd.coreos.ignition+json;version=3.6.0, */*;q=0.1"),
        "{req}"
    );
    assert!(req.contains("x-token: t0k"), "{req}");
    let fetched = &state(&e)["fetchedConfigs"];
    assert!(fetched
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == &serde_json::json!({"kind":"user","source":"file","referenced":false})));
    assert!(
        fetched
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c
                == &serde_json::json!({"kind":"user","source":"/remote.ign","referenced":true}))
    );

    ok(&e.stage("file", "files", None));
    assert_eq!(
        std::fs::read_to_string(e.p("root/etc/remote")).unwrap(),
        "from-remote"
    );
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.p("root/etc/.ignition-result.json")).unwrap())
            .unwrap();
    assert_eq!(result["userConfigProvided"], true);
}

#[test]
fn a_complete_config_with_remote_files_is_cached_and_needs_net() {
    let srv = serve(vec![("/blob", vec![(200, "blob".to_string())])]);
    let e = Env::new();
    let cfg = format!(
        r#"{{"ignition":{{"version":"3.4.0"}},"storage":{{"files":[{{"path":"/blob","contents":{{"source":"{}/blob"}}}}]}}}}"#,
        srv.base
    );
    ok(&e.stage("file", "fetch-offline", Some(&cfg)));
    assert!(e.p("run/ignition.json").exists());
    assert!(e.p("run/ignition/neednet").exists());
    ok(&e.stage("file", "files", None));
    assert_eq!(std::fs::read_to_string(e.p("root/blob")).unwrap(), "blob");
}

#[test]
fn retries_server_errors_and_fails_on_404_with_the_url() {
    let srv = serve(vec![(
        "/flaky",
        vec![
            (500, String::new()),
            (503, String::new()),
            (200, "ok".to_string()),
        ],
    )]);
    let e = Env::new();
    let cfg = format!(
        r#"{{"ignition":{{"version":"3.4.0","timeouts":{{"httpTotal":20}}}},"storage":{{"files":[{{"path":"/flaky","contents":{{"source":"{0}/flaky"}}}},{{"path":"/other","contents":{{"source":"data:,x"}}}}]}}}}"#,
        srv.base
    );
    ok(&e.stage("file", "fetch", Some(&cfg)));
    ok(&e.stage("file", "files", None));
    assert_eq!(std::fs::read_to_string(e.p("root/flaky")).unwrap(), "ok");
    assert_eq!(srv.requests.lock().unwrap().len(), 3);

    let e = Env::new();
    let cfg = format!(
        r#"{{"ignition":{{"version":"3.4.0"}},"storage":{{"files":[{{"path":"/other","contents":{{"source":"data:,x"}}}},{{"path":"/gone","contents":{{"source":"{0}/gone"}}}}]}}}}"#,
        srv.base
    );
    ok(&e.stage("file", "fetch", Some(&cfg)));
    let out = e.stage("file", "files", None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "$.storage.files.1.contents (/gone): {}/gone: not found",
            srv.base
        )),
        "{err}"
    );
    assert!(!e.p("root/other").exists(), "fetch before you cut");
}

#[test]
fn system_configs_merge_under_the_user_config() {
    let e = Env::new();
    std::fs::create_dir_all(e.p("sys/base.d")).unwrap();
    std::fs::create_dir_all(e.p("sys/base.platform.d/file")).unwrap();
    let file = |path: &str, v: &str| {
        format!(
            r#"{{"ignition":{{"version":"3.3.0"}},"storage":{{"files":[{{"path":"{path}","overwrite":true,"contents":{{"source":"data:,{v}"}}}}]}}}}"#
        )
    };
    std::fs::write(e.p("sys/base.d/10-a.ign"), file("/etc/base", "base")).unwrap();
    std::fs::write(e.p("sys/base.d/20-b.ign"), file("/etc/shared", "base")).unwrap();
    std::fs::write(e.p("sys/base.d/ignored.txt"), "not a config").unwrap();
    std::fs::write(
        e.p("sys/base.platform.d/file/x.ign"),
        file("/etc/platform", "platform"),
    )
    .unwrap();
    std::fs::write(e.p("sys/base.platform.d/qemu.ign"), "not read").unwrap();
    ok(&e.stage("file", "fetch", Some(&file("/etc/shared", "user"))));
    ok(&e.stage("file", "files", None));
    let read = |p: &str| std::fs::read_to_string(e.p(&format!("root{p}"))).unwrap();
    assert_eq!(read("/etc/base"), "base");
    assert_eq!(read("/etc/platform"), "platform");
    assert_eq!(read("/etc/shared"), "user");
}

#[test]
fn kernel_command_line_url_and_qemu_fw_cfg() {
    let cfg = r#"{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/from-cmdline"}]}}"#;
    let srv = serve(vec![("/c.ign", vec![(200, cfg.to_string())])]);
    let e = Env::new();
    std::fs::write(
        e.p("cmdline"),
        format!("quiet ignition.config.url={}/c.ign rw\n", srv.base),
    )
    .unwrap();
    // fetch-offline on metal: the URL needs the network.
    ok(&e.stage("metal", "fetch-offline", None));
    assert!(e.p("run/ignition/neednet").exists());
    ok(&e.stage("metal", "fetch", None));
    ok(&e.stage("metal", "files", None));
    assert!(e.p("root/from-cmdline").exists());
    assert!(state(&e)["fetchedConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["source"] == "cmdline"));

    // qemu: the blob is the config; a missing blob is an empty config.
    let e = Env::new();
    ok(&e.stage("qemu", "fetch-offline", None));
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.p("run/ignition.json")).unwrap()).unwrap();
    assert_eq!(cached, serde_json::json!({"ignition":{"version":"3.6.0"}}));
    assert!(!e.p("run/ignition/neednet").exists());
    std::fs::write(
        e.p("fw_cfg_raw"),
        cfg.replace("/from-cmdline", "/from-qemu"),
    )
    .unwrap();
    ok(&e.stage("qemu", "fetch-offline", None));
    ok(&e.stage("qemu", "files", None));
    assert!(e.p("root/from-qemu").exists());
}

#[test]
fn bad_configs_fail_with_one_line_naming_the_source() {
    let e = Env::new();
    let out = e.stage(
        "file",
        "fetch",
        Some(r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"rel"}]}}"#),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user.ign is not valid: error at $.storage.files.0.path"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!e.p("run/ignition.json").exists());

    // A dry run of fetch writes neither cache nor state.
    let e = Env::new();
    let out = e.stage("file", "fetch", Some(r#"{"ignition":{"version":"3.4.0"}}"#));
    ok(&out);
    let e2 = Env::new();
    std::fs::write(e2.p("user.ign"), r#"{"ignition":{"version":"3.4.0"}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ignition"))
        .args([
            "-platform",
            "file",
            "-stage",
            "fetch",
            "-dry-run",
            "-config-cache",
        ])
        .arg(e2.p("cache.json"))
        .arg("-state-file")
        .arg(e2.p("state"))
        .env("IGNITION_CONFIG_FILE", e2.p("user.ign"))
        .env("IGNITION_SYSTEM_CONFIG_DIR", e2.p("sys"))
        .env("IGNITION_KERNEL_CMDLINE_PATH", e2.p("cmdline"))
        .output()
        .unwrap();
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[dry-run] fetch: write the config cache")
    );
    assert!(!e2.p("cache.json").exists() && !e2.p("state").exists());
}
