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

/// Ctrl-C during a scenario: the scenario's directory goes, the exit status is 130. The image
/// is a blank disk, so the guest never boots and the scenario is still waiting when the
/// signal comes.
#[test]
fn an_interrupt_removes_the_scenario_directory() {
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("qemu-img") || !have("qemu-system-x86_64") {
        eprintln!("SKIP: needs qemu-img and qemu-system-x86_64 (scripts/install-deps)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("image");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(image.join("build.json"), r#"{"ref":"r","commit":"c"}"#).unwrap();
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(image.join("disk.qcow2"))
        .arg("64M")
        .status()
        .unwrap();
    assert!(status.success());

    let child = Command::new(BIN)
        .args(["run", "first-boot", "--image-dir"])
        .arg(&image)
        .env("TMPDIR", &work)
        .env("MOORING_ACCEL", "tcg")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let entries = || std::fs::read_dir(&work).unwrap().count();
    let start = std::time::Instant::now();
    while entries() == 0 && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(entries(), 1, "the scenario made its directory");
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted; removing"), "{stderr}");
    assert_eq!(entries(), 0, "left behind: {stderr}");
}
