//! Runs the built binary for what needs no sysroot: help, usage errors, refused references.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rpm-ostree");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run binary")
}

#[test]
fn help_lists_the_commands() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "status",
        "upgrade",
        "rebase",
        "deploy",
        "rollback",
        "kargs",
        "cleanup",
        "finalize-deployment",
    ] {
        assert!(text.contains(cmd), "help lacks {cmd}: {text}");
    }
    assert_eq!(run(&["--version"]).status.code(), Some(0));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["no-such-command"][..],
        &["status", "--no-such-option"],
        &[],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
}

#[test]
fn container_references_are_refused_clearly() {
    for r in [
        "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable",
        "ostree-remote-image:fedora:docker://quay.io/fedora/fedora-coreos:stable",
        "ostree-image-signed:docker://quay.io/x:latest",
        "docker://quay.io/x:latest",
    ] {
        let out = run(&["--sysroot=/nonexistent", "rebase", r]);
        assert_eq!(out.status.code(), Some(1), "{r}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("container image references are not supported yet"),
            "{err}"
        );
        assert!(err.contains(r), "{err}");
    }
}

#[test]
fn missing_sysroot_is_named() {
    let out = run(&["--sysroot=/nonexistent/sysroot", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loading sysroot /nonexistent/sysroot"),
        "{err}"
    );
}
