//! Runs the built binary: `mcd start` without `mcs.json` exits 1, usage errors exit 2, `--help` works.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mcd");

#[test]
fn start_without_mcs_json_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(dir.path())
        .args(["start", "--node-name", "n1"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/etc/machine-config-daemon/mcs.json"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "must not print anything on stdout");
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["plan"][..], &["no-such"], &["validate", "--bogus"]] {
        let out = Command::new(BIN).args(args).output().expect("run binary");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_exits_0() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for c in [
        "once-from",
        "plan",
        "validate",
        "recover",
        "firstboot-complete-machineconfig",
        "start",
    ] {
        assert!(help.contains(c), "help lacks {c}");
    }
}
