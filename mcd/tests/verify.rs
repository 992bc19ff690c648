//! `mcd verify-boot` under a root, with a stand-in `rpm-ostree` that logs its arguments and
//! prints a `status --json` the test controls (the boot itself is simulated by changing it).

mod common;
use common::*;
use serde_json::json;

/// Replaces the node's stand-in: logs arguments; `status` prints `status.json`; `rebase`
/// switches `status.json` to `staged.json` when there is one (the new deployment is staged).
fn fake_rpm_ostree(n: &Node) {
    let d = n.dir.path().display().to_string();
    std::fs::write(
        n.dir.path().join("rpm-ostree"),
        format!(
            "#!/bin/sh\necho \"$@\" >> {d}/rpm-ostree.log\nfor a in \"$@\"; do case $a in\n\
             status) cat {d}/status.json; exit 0;;\n\
             rebase) [ -f {d}/staged.json ] && cp {d}/staged.json {d}/status.json; exit 0;;\n\
             esac; done\nexit 0\n"
        ),
    )
    .unwrap();
    // The root is an ostree sysroot as far as mcd can tell: it asks rpm-ostree.
    std::fs::create_dir_all(n.root().join("ostree")).unwrap();
}

fn dep(csum: &str, origin: &str, booted: bool, staged: bool) -> serde_json::Value {
    json!({"osname": "debian", "checksum": csum, "serial": 0, "origin": origin, "booted": booted, "staged": staged})
}

fn set_status(n: &Node, file: &str, deps: &[serde_json::Value]) {
    std::fs::write(
        n.dir.path().join(file),
        json!({"deployments": deps}).to_string(),
    )
    .unwrap();
}

/// A node at rendered-1 on deployment aaa, updated to rendered-2 (osImageURL r:os/b, staged as
/// bbb, reboot pending).
fn updated_node() -> Node {
    let n = Node::new();
    fake_rpm_ostree(&n);
    set_status(&n, "status.json", &[dep("aaa", "r:os/a", true, false)]);
    let files = |c: &str| json!({"storage": {"files": [file("/etc/app.conf", c, 0o644)]}});
    let v1 = n.config(
        "v1.json",
        &mc(
            "rendered-1",
            files("one\n"),
            json!({"osImageURL": "r:os/a"}),
        ),
    );
    let v2 = n.config(
        "v2.json",
        &mc(
            "rendered-2",
            files("two\n"),
            json!({"osImageURL": "r:os/b"}),
        ),
    );
    // The first config (the node already runs r:os/a: the rebase changes nothing).
    n.ok(&["once-from", &v1]);
    n.ok(&["verify-boot"]);
    assert_eq!(n.state()["state"], "Done");
    set_status(
        &n,
        "staged.json",
        &[
            dep("bbb", "r:os/b", false, true),
            dep("aaa", "r:os/a", true, false),
        ],
    );
    let o = n.mcd(&["once-from", &v2], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(n.rpm_ostree_log().contains("rebase r:os/b"));
    assert_eq!(n.state()["state"], "Rebooting");
    let p: serde_json::Value =
        serde_json::from_str(&n.read("/etc/machine-config-daemon/pending.json")).unwrap();
    assert_eq!(p["to"], "rendered-2");
    assert_eq!(p["previous"], "aaa.0");
    assert_eq!(p["expected"], "bbb");
    n
}

#[test]
fn healthy_boot_records_the_config() {
    let n = updated_node();
    // The reboot: bbb is booted.
    set_status(
        &n,
        "status.json",
        &[
            dep("bbb", "r:os/b", true, false),
            dep("aaa", "r:os/a", false, false),
        ],
    );
    std::fs::create_dir_all(n.root().join("run")).unwrap();
    std::fs::write(n.root().join("run/boot-ok"), "").unwrap();
    let out = n.ok(&[
        "verify-boot",
        "--boot-check",
        "file:/run/boot-ok",
        "--timeout",
        "2",
    ]);
    assert!(out.contains("verified rendered-2"), "{out}");
    assert_eq!(n.state()["state"], "Done");
    assert!(!n.exists("/etc/machine-config-daemon/pending.json"));
    assert!(!n.rpm_ostree_log().contains("rollback"));
    // Nothing pending any more.
    assert!(n.ok(&["verify-boot"]).contains("no update waiting"));
}

#[test]
fn unhealthy_boot_rolls_back_and_degrades() {
    let n = updated_node();
    set_status(
        &n,
        "status.json",
        &[
            dep("bbb", "r:os/b", true, false),
            dep("aaa", "r:os/a", false, false),
        ],
    );
    let start = std::time::Instant::now();
    let o = n.mcd(
        &[
            "verify-boot",
            "--boot-check",
            "command:test -e /nonexistent-mcd-check",
            "--timeout",
            "0.5s",
        ],
        &[],
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rolled back to the previous deployment"),
        "{out}"
    );
    assert!(out.contains("reboot: skipped"), "{out}");
    // The rollback was asked for, and after it only read-only calls (the daemon looks up the
    // previous deployment to mark the record in its /etc).
    let log = n.rpm_ostree_log();
    let lines: Vec<&str> = log.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.ends_with("rollback"))
        .unwrap_or_else(|| panic!("no rollback in the rpm-ostree log:\n{log}"));
    assert!(
        lines[at + 1..].iter().all(|l| l.contains("status")),
        "{log}"
    );
    let st = n.state();
    assert_eq!(st["state"], "Degraded");
    assert!(
        st["reason"].as_str().unwrap().contains("not healthy"),
        "{st}"
    );
    // Booted back into aaa: stays Degraded, the record goes, no second rollback.
    set_status(
        &n,
        "status.json",
        &[
            dep("aaa", "r:os/a", true, false),
            dep("bbb", "r:os/b", false, false),
        ],
    );
    let o = n.mcd(&["verify-boot"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(n.state()["state"], "Degraded");
    assert!(n.state()["reason"]
        .as_str()
        .unwrap()
        .contains("was rolled back"));
    assert!(!n.exists("/etc/machine-config-daemon/pending.json"));
    assert_eq!(n.rpm_ostree_log().matches("rollback").count(), 1);
}

#[test]
fn boot_loader_fallback_and_drift_degrade_without_rollback() {
    let n = updated_node();
    // The new deployment never came up: the previous one is booted.
    let o = n.mcd(&["verify-boot"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let st = n.state();
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("previous deployment aaa is booted"),
        "{st}"
    );
    assert!(!n.rpm_ostree_log().contains("rollback"));

    // Booted fine, but a file drifted: Degraded, `mcd recover` is the way out.
    let n = updated_node();
    set_status(
        &n,
        "status.json",
        &[
            dep("bbb", "r:os/b", true, false),
            dep("aaa", "r:os/a", false, false),
        ],
    );
    std::fs::write(n.root().join("etc/app.conf"), "edited\n").unwrap();
    let o = n.mcd(&["verify-boot"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(n.state()["reason"]
        .as_str()
        .unwrap()
        .contains("file /etc/app.conf: contents differ"));
    assert!(!n.rpm_ostree_log().contains("rollback"));
    n.ok(&["recover"]);
    assert_eq!(n.state()["state"], "Done");
}
