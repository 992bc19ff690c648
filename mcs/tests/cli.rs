//! The `mcs` binary: render, status, serve end to end, and the parts not built yet.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_mcs");

fn mcs(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run mcs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn render_name_is_stable() {
    let d = Dirs::new();
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello"),
    );
    d.write("pools.yaml", "");
    let dir = d.input();
    let dir = dir.to_str().unwrap();
    let a = mcs(&["render", "--dir", dir, "--pool", "worker"]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let b = mcs(&["render", "--dir", dir, "--pool", "worker"]);
    assert_eq!(a.stdout, b.stdout);
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&a.stdout).unwrap();
    let name = yaml["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("rendered-worker-"), "{name}");
    assert_eq!(yaml["spec"]["kernelArguments"][0], "quiet");

    // JSON gives the same object.
    let j = mcs(&["render", "--dir", dir, "--pool", "worker", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(json["metadata"]["name"], name.as_str());

    // Another directory with the same content in other files: same name.
    let e = Dirs::new();
    e.write("a.yml", &worker_file("50-worker-motd", "motd", "hello"));
    let c = mcs(&[
        "render",
        "--dir",
        e.input().to_str().unwrap(),
        "--pool",
        "worker",
        "--json",
    ]);
    let other: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(other["metadata"]["name"], name.as_str());

    // A change gives another name.
    e.write("a.yml", &worker_file("50-worker-motd", "motd", "bye"));
    let c = mcs(&[
        "render",
        "--dir",
        e.input().to_str().unwrap(),
        "--pool",
        "worker",
        "--json",
    ]);
    let changed: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_ne!(changed["metadata"]["name"], name.as_str());
}

#[test]
fn render_fails_with_the_input_errors() {
    let d = Dirs::new();
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello"),
    );
    d.write("bad.yaml", "kind: MachineConfig\napiVersion: machineconfiguration.openshift.io/v1\nmetadata: {name: x}\nspec: {kernelTyp: realtime}\n");
    let out = mcs(&[
        "render",
        "--dir",
        d.input().to_str().unwrap(),
        "--pool",
        "worker",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("kernelTyp"),
        "{err}"
    );

    let out = mcs(&[
        "render",
        "--dir",
        d.input().to_str().unwrap(),
        "--pool",
        "infra",
    ]);
    assert_eq!(out.status.code(), Some(1));

    std::fs::remove_file(d.input().join("bad.yaml")).unwrap();
    let out = mcs(&[
        "render",
        "--dir",
        d.input().to_str().unwrap(),
        "--pool",
        "infra",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown pool \"infra\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serve_then_status() {
    let d = Dirs::new();
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello"),
    );
    d.write("broken.yaml", "a: [");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--dir",
            d.input().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--state-dir", d.state().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcs serve");
    let start = Instant::now();
    while !d.state().join("status.json").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = mcs(&[
        "status",
        "--state-dir",
        d.state().to_str().unwrap(),
        "--json",
    ]);
    let human = mcs(&["status", "--state-dir", d.state().to_str().unwrap()]);
    let _ = child.kill();
    let served = child.wait_with_output().unwrap();
    let log = text(&served.stderr);
    assert!(
        out.status.success(),
        "{}\nserver log:\n{log}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], serde_json::json!([]));
    let pools = v["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 2, "{v}");
    assert_eq!(pools[1]["name"], "worker");
    assert!(pools[1]["renderedConfig"]
        .as_str()
        .unwrap()
        .starts_with("rendered-worker-"));
    assert_eq!(pools[1]["paused"], false);
    assert!(pools[0]["error"].is_string(), "master selects nothing: {v}");
    assert!(v["inputErrors"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("broken.yaml"));
    let h = text(&human.stdout);
    assert!(
        h.contains("rendered-worker-") && h.contains("broken.yaml"),
        "{h}"
    );
    // The log names the bad file, on stderr.
    assert!(log.contains("broken.yaml"), "{log}");
}

#[test]
fn status_without_state_fails_clearly() {
    let out = mcs(&["status", "--state-dir", "/nonexistent/mcs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("status.json"));
}

#[test]
fn pointer_needs_the_state_dir_ca() {
    let out = mcs(&[
        "pointer",
        "--state-dir",
        "/nonexistent/mcs",
        "--pool",
        "worker",
        "--url",
        "https://x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("ca.crt"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(mcs(&["pointer", "--pool", "worker"]).status.code(), Some(2));
}

#[test]
fn token_rotate_writes_a_new_token() {
    let d = Dirs::new();
    std::fs::create_dir(d.state()).unwrap();
    let state = d.state();
    let state = state.to_str().unwrap();
    let out = mcs(&["token", "rotate", "--state-dir", state, "--pool", "worker"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = std::fs::read_to_string(d.state().join("bootstrap-tokens.json")).unwrap();
    let out = mcs(&["token", "rotate", "--state-dir", state, "--pool", "worker"]);
    assert!(
        text(&out.stderr).contains("rotated"),
        "{}",
        text(&out.stderr)
    );
    let second = std::fs::read_to_string(d.state().join("bootstrap-tokens.json")).unwrap();
    assert_ne!(first, second);
    assert!(out.stdout.is_empty(), "the token is not printed");
    let out = mcs(&[
        "token",
        "rotate",
        "--state-dir",
        "/nonexistent/mcs",
        "--pool",
        "worker",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn help_and_usage_errors() {
    let out = mcs(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    for s in ["serve", "render", "status", "pointer", "token"] {
        assert!(text(&out.stdout).contains(s));
    }
    assert_eq!(mcs(&["serve"]).status.code(), Some(2), "--dir is required");
    assert_eq!(mcs(&["nope"]).status.code(), Some(2));
}
