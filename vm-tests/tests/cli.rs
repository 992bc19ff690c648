//! Runs the built binary: help, list, usage errors, and `run` of an unknown scenario.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_vm-tests");

#[test]
fn help_exits_0() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("vm-tests run"), "{text}");
    assert!(text.contains("--image-dir"), "{text}");
}

#[test]
fn list_names_every_scenario() {
    let out = Command::new(BIN).arg("list").output().expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "first-boot",
        "fleet-join",
        "rebootless-change",
        "os-update",
        "bad-update",
        "bad-first-boot-config",
        "live-and-network-boot",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing: {text}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["run"][..],
        &["frob"][..],
        &["run", "--nope", "all"][..],
    ] {
        let out = Command::new(BIN).args(args).output().expect("run binary");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn unknown_scenario_is_an_error() {
    let out = Command::new(BIN)
        .args(["run", "no-such-scenario"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scenario 'no-such-scenario'"));
}
