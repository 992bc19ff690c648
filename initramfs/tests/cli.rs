//! Runs the built binary: unbuilt subcommands must fail loudly, `--help` must work.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_initramfs");

#[test]
fn subcommand_exits_2_with_issue_on_stderr() {
    let out = Command::new(BIN)
        .args(["build"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("initramfs build: not implemented yet (tracked in issue #8)"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "must not print anything on stdout");
}

#[test]
fn help_exits_0() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Planned usage"));
}
