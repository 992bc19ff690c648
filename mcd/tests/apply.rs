//! once-from, plan, validate, recover and firstboot against temporary roots.

mod common;
use common::*;
use serde_json::json;

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "SKIP {}: needs root (chown to other users, usermod --root)",
                module_path!()
            );
            return;
        }
    };
}

#[test]
fn take_over_update_and_give_back() {
    require_root!();
    let n = Node::new();
    let (v1, v2) = v1_v2();
    let (v1, v2) = (n.config("v1.json", &v1), n.config("v2.json", &v2));
    let out = n.ok(&["once-from", &v1]);
    assert!(out.contains("applied rendered-worker-v1"), "{out}");
    // Taken over: the original kept; created: a stamp.
    assert_eq!(n.read("/etc/motd"), "motd v1\n");
    assert_eq!(
        n.read("/etc/machine-config-daemon/orig/etc/motd.mcdorig"),
        "original motd\n"
    );
    assert!(n.exists("/etc/machine-config-daemon/noorig/etc/keep.conf.mcdnoorig"));
    assert_eq!(
        std::fs::read_link(n.root().join("etc/systemd/system/m.service"))
            .unwrap()
            .to_str(),
        Some("/dev/null")
    );
    assert!(n.exists("/etc/systemd/system/multi-user.target.wants/a.service"));
    assert!(n.exists("/etc/systemd/system/gone.service.d/10-x.conf"));
    assert_eq!(
        n.read("/home/core/.ssh/authorized_keys.d/ignition"),
        "ssh-ed25519 AAAA one\n"
    );
    assert_eq!(
        n.rpm_ostree_log().trim(),
        format!(
            "--sysroot={} kargs --append=nosmt",
            std::fs::canonicalize(n.root()).unwrap().display()
        )
    );
    // The kernel arguments need a reboot: the update waits for `verify-boot` after it.
    assert_eq!(n.state()["state"], "Rebooting");
    assert!(n.exists("/etc/machine-config-daemon/pending.json"));
    n.ok(&["validate"]);
    assert!(n
        .ok(&["verify-boot"])
        .contains("verified rendered-worker-v1"));
    assert_eq!(n.state()["state"], "Done");
    assert!(!n.exists("/etc/machine-config-daemon/pending.json"));

    n.ok(&["once-from", &v2]);
    // Dropped: the original is back, the created file is gone with its stamp.
    assert_eq!(n.read("/etc/motd"), "original motd\n");
    assert!(!n.exists("/etc/machine-config-daemon/orig/etc/motd.mcdorig"));
    assert_eq!(n.read("/etc/keep.conf"), "keep v2\n");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(n.root().join("etc/keep.conf")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    let o = std::fs::metadata(n.root().join("etc/owned")).unwrap();
    assert_eq!((o.uid(), o.gid()), (1000, 1000));
    // Units: disabled, unmasked and removed, vendor unit enabled, new drop-in.
    assert!(!n.exists("/etc/systemd/system/multi-user.target.wants/a.service"));
    assert!(!n.exists("/etc/systemd/system/m.service"));
    assert!(!n.exists("/etc/systemd/system/gone.service"));
    assert!(!n.exists("/etc/systemd/system/gone.service.d/10-x.conf"));
    assert!(!n.exists("/etc/systemd/system/multi-user.target.wants/gone.service"));
    assert!(
        !n.exists("/etc/machine-config-daemon/noorig/etc/systemd/system/gone.service.mcdnoorig")
    );
    assert_eq!(
        std::fs::read_link(
            n.root()
                .join("etc/systemd/system/multi-user.target.wants/vendor.service")
        )
        .unwrap()
        .to_str(),
        Some("/usr/lib/systemd/system/vendor.service")
    );
    assert_eq!(
        n.read("/etc/systemd/system/b.service.d/20-y.conf"),
        "[Unit]\n"
    );
    // SSH keys 0600 in 0700 directories owned by core; password via usermod.
    let k = std::fs::metadata(n.root().join("home/core/.ssh/authorized_keys.d/ignition")).unwrap();
    assert_eq!((k.mode() & 0o777, k.uid()), (0o600, 1000));
    let d = std::fs::metadata(n.root().join("home/core/.ssh")).unwrap();
    assert_eq!((d.mode() & 0o777, d.uid()), (0o700, 1000));
    assert!(
        n.read("/etc/shadow").contains("core:$6$salt$hash:"),
        "{}",
        n.read("/etc/shadow")
    );
    let log = n.rpm_ostree_log();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .ends_with("kargs --delete-if-present=nosmt --append=nosmt --append=foo=\"a b\""),
        "{log}"
    );
    n.ok(&["validate"]);
    assert!(!n.exists("/etc/machine-config-daemon/journal.json"));
    assert!(!n.exists("/etc/machine-config-daemon/txn"));
}

#[test]
fn plan_changes_nothing_and_refusals_touch_nothing() {
    let n = Node::new();
    let (_, v2) = v1_v2();
    let v2 = n.config("v2.json", &v2);
    // Where a refusal records the Degraded state.
    std::fs::create_dir_all(n.root().join("etc/machine-config-daemon")).unwrap();
    let before = n.tree();
    let out = n.ok(&["plan", &v2]);
    assert!(
        out.contains("plan: write files and units, then drain, reboot"),
        "{out}"
    );
    assert!(out.contains("because the kernel arguments change"), "{out}");
    assert!(
        out.contains("keep the original of /etc/motd") || !out.contains("/etc/motd"),
        "{out}"
    );
    let js = n.ok(&["plan", "--json", &v2]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["actions"][1]["type"], "Reboot");
    assert_eq!(n.tree(), before);

    let bad = n.config(
        "bad.json",
        &mc(
            "rendered-bad",
            json!({"storage": {"disks": [{"device": "/dev/vdb", "wipeTable": true}]}}),
            json!({}),
        ),
    );
    let o = n.mcd(&["plan", &bad], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("REFUSED"));
    let o = n.mcd(&["once-from", &bad], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("spec.config.storage.disks"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(n.state()["state"], "Degraded");
    assert_eq!(n.tree(), before);
}

#[test]
fn injected_failures_roll_back_every_step() {
    require_root!();
    let (v1, v2) = v1_v2();
    let base = Node::new();
    let v1p = base.config("v1.json", &v1);
    base.ok(&["once-from", &v1p]);
    let before = base.tree();
    for step in [
        "prepare",
        "files",
        "units",
        "ssh",
        "password",
        "kargs",
        "currentconfig",
        "commit",
    ] {
        let n = Node::new();
        let (a, b) = (n.config("v1.json", &v1), n.config("v2.json", &v2));
        n.ok(&["once-from", &a]);
        let o = n.mcd(&["once-from", &b], &[("MCD_FAIL_AT", step)]);
        assert_eq!(o.status.code(), Some(1), "{step}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("injected failure at step {step}")),
            "{step}: {err}"
        );
        assert_eq!(
            n.tree(),
            before,
            "{step}: {}",
            first_difference(&n.tree(), &before)
        );
        assert_eq!(n.state()["state"], "Degraded", "{step}");
        assert!(
            n.state()["reason"].as_str().unwrap().contains(step),
            "{step}"
        );
        n.ok(&["validate"]);
        // The way out: apply again without the failure.
        n.ok(&["once-from", &b]);
        assert_eq!(n.state()["state"], "Rebooting");
        n.ok(&["verify-boot"]);
        assert_eq!(n.state()["state"], "Done");
    }
}

#[test]
fn validate_lists_drift_and_the_force_file_skips_once() {
    let n = Node::new();
    let cfg = n.config("c.json", &mc("rendered-c", json!({
        "storage": {"files": [file("/etc/a.conf", "a\n", 0o600), file("/etc/b.conf", "b\n", 0o644)]},
        "systemd": {"units": [{"name": "x.service", "enabled": true, "contents": "[Install]\nWantedBy=multi-user.target\n"}, {"name": "y.service", "mask": true}]}
    }), json!({})));
    n.ok(&["once-from", &cfg]);
    n.ok(&["validate"]);
    std::fs::write(n.root().join("etc/a.conf"), "changed\n").unwrap();
    std::fs::set_permissions(
        n.root().join("etc/b.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    std::fs::remove_file(
        n.root()
            .join("etc/systemd/system/multi-user.target.wants/x.service"),
    )
    .unwrap();
    std::fs::remove_file(n.root().join("etc/systemd/system/y.service")).unwrap();
    let o = n.mcd(&["validate"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "file /etc/a.conf: contents differ",
        "file /etc/b.conf: mode 0666, expected 0644",
        "unit x.service: not enabled",
        "unit y.service: not masked",
        "drift: 4 difference(s)",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    // once-from refuses to update a drifted node...
    let o = n.mcd(&["once-from", &cfg], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(n.state()["state"], "Degraded");
    // ...the force file skips the validation once...
    std::fs::create_dir_all(n.root().join("run")).unwrap();
    std::fs::write(n.root().join("run/machine-config-daemon-force"), "").unwrap();
    assert!(n.ok(&["validate"]).contains("skipped once"));
    assert!(!n.exists("/run/machine-config-daemon-force"));
    assert_eq!(n.mcd(&["validate"], &[]).status.code(), Some(1));
    // ...and recover re-applies the current config.
    assert!(n.ok(&["recover"]).contains("re-applied rendered-c"));
    n.ok(&["validate"]);
    assert_eq!(n.state()["state"], "Done");
    std::fs::write(n.root().join("etc/a.conf"), "changed again\n").unwrap();
    n.ok(&["recover", "--accept-on-disk"]);
    assert_eq!(n.state()["state"], "Done");
    assert_eq!(n.read("/etc/a.conf"), "changed again\n");
}

#[test]
fn ignition_config_and_pointless_updates() {
    let n = Node::new();
    let ign = n.config("c.ign", &json!({"ignition": {"version": "3.2.0"}, "storage": {"files": [
        {"path": "/var/lib/kubelet/config.json", "mode": 0o600, "contents": {"source": data("{\"auths\":{}}")}}]}}).to_string());
    let out = n.ok(&["once-from", &ign]);
    assert!(out.contains("applied ignition-"), "{out}");
    assert_eq!(n.read("/var/lib/kubelet/config.json"), "{\"auths\":{}}");
    let out = n.ok(&["once-from", &ign]);
    assert!(out.contains("nothing to do"), "{out}");
    // A pull secret change alone: no reboot, no reload.
    let ign2 = n.config("c2.ign", &json!({"ignition": {"version": "3.2.0"}, "storage": {"files": [
        {"path": "/var/lib/kubelet/config.json", "mode": 0o600, "contents": {"source": data("{\"auths\":{\"r\":{}}}")}}]}}).to_string());
    let out = n.ok(&["once-from", &ign2]);
    assert!(out.contains("(actions: none)"), "{out}");
    assert!(!out.contains("reboot"), "{out}");
}

#[test]
fn firstboot_applies_os_and_kargs_then_reboots_once() {
    let n = Node::new();
    let enc = mc(
        "rendered-worker-1",
        json!({}),
        json!({"osImageURL": "mooring:debian/stable/x86_64", "kernelArguments": ["console=ttyS0", "nosmt"]}),
    );
    std::fs::write(
        n.root()
            .join("etc/ignition-machine-config-encapsulated.json"),
        &enc,
    )
    .unwrap();
    let out = n.ok(&["firstboot-complete-machineconfig"]);
    assert!(out.contains("reboot: skipped"), "{out}");
    let log = n.rpm_ostree_log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines[0].ends_with("rebase mooring:debian/stable/x86_64"),
        "{log}"
    );
    assert!(
        lines[1].ends_with("kargs --append=console=ttyS0 --append=nosmt"),
        "{log}"
    );
    assert!(n.exists("/etc/ignition-machine-config-encapsulated.json.bak"));
    assert!(!n.exists("/etc/ignition-machine-config-encapsulated.json"));
    assert!(n
        .read("/etc/machine-config-daemon/currentconfig")
        .contains("rendered-worker-1"));
    let o = n.mcd(&["firstboot-complete-machineconfig"], &[]);
    assert_eq!(o.status.code(), Some(1), "a second run has nothing to read");
}

#[test]
fn admin_policy_turns_a_reboot_into_a_restart() {
    let n = Node::new();
    let a = n.config(
        "a.json",
        &mc(
            "r-a",
            json!({"storage": {"files": [file("/etc/chrony.conf", "a\n", 0o644)]}}),
            json!({}),
        ),
    );
    let b = n.config(
        "b.json",
        &mc(
            "r-b",
            json!({"storage": {"files": [file("/etc/chrony.conf", "b\n", 0o644)]}}),
            json!({}),
        ),
    );
    n.ok(&["once-from", &a]);
    n.ok(&["verify-boot"]);
    assert!(n.ok(&["plan", &b]).contains("drain, reboot"));
    std::fs::write(n.root().join("etc/machine-config-daemon/node-disruption-policy.json"),
        r#"{"files": [{"path": "/etc/chrony.conf", "actions": [{"type": "Restart", "restart": {"serviceName": "chronyd.service"}}]}]}"#).unwrap();
    let out = n.ok(&["once-from", &b]);
    assert!(out.contains("restart chronyd.service"), "{out}");
    assert!(!out.contains("reboot"), "{out}");
}
