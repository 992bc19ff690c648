//! Runs the built binary: help and usage errors.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_initramfs");

#[test]
fn help_names_the_build_command() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("build"), "{text}");
    let out = Command::new(BIN)
        .args(["build", "--help"])
        .output()
        .expect("run binary");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--root", "--kver", "--ignition", "--output"] {
        assert!(text.contains(flag), "{flag} missing from: {text}");
    }
}

#[test]
fn missing_arguments_exit_2() {
    let out = Command::new(BIN).arg("build").output().expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
}
