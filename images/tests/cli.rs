//! Runs the built binary: help, usage errors, missing release binaries.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_images");

#[test]
fn help_names_the_contract() {
    let out = Command::new(BIN)
        .args(["build", "--help"])
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--output",
        "--manifest",
        "--cache",
        "--bin-dir",
        "MOORING_CACHE",
    ] {
        assert!(text.contains(flag), "{flag} missing from: {text}");
    }
}

#[test]
fn unknown_subcommand_exits_2() {
    let out = Command::new(BIN).arg("disk").output().expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_release_binaries_exit_1_with_the_build_command() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["build", "--output"])
        .arg(d.path().join("out"))
        .arg("--cache")
        .arg(d.path().join("cache"))
        .arg("--bin-dir")
        .arg(d.path())
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ignition, mcd, rpm-ostree")
            && err.contains("cargo build --release --workspace"),
        "{err}"
    );
}
