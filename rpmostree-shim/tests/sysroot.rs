//! Real sysroots in temporary directories: every command against libostree, with the `ostree`
//! CLI building fixtures and, after each step, `ostree admin status` as the oracle.

mod common;

use common::{ostree, stderr, stdout, ServedRepo, TempSysroot, OS};
use serde_json::Value;

fn checksums(st: &Value) -> Vec<String> {
    st["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["checksum"].as_str().unwrap().to_string())
        .collect()
}

fn strip_ostree_arg(options: &str) -> String {
    options
        .split(' ')
        .filter(|a| !a.starts_with("ostree="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn status_matches_ostree_admin_status() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &["root=UUID=abc", "rw"]);
    let st = sys.status_json();
    let d = &st["deployments"][0];
    assert_eq!(st["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(d["id"], format!("{OS}-{c1}.0"));
    assert_eq!(d["osname"], OS);
    assert_eq!(d["serial"], 0);
    assert_eq!(d["checksum"], c1.as_str());
    assert_eq!(d["version"], "1.0");
    assert_eq!(d["origin"], "debian/stable");
    assert_eq!(d["booted"], false);
    assert_eq!(d["staged"], false);
    assert_eq!(d["pinned"], false);
    assert!(d["timestamp"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(d["base-commit-meta"]["version"], "1.0");
    assert!(st["transaction"].is_null());
    sys.assert_agrees_with_ostree();

    let text = sys.shim_ok(&["status"]);
    assert!(text.starts_with("State: idle\nDeployments:\n"), "{text}");
    assert!(text.contains("  ostree://debian/stable\n"), "{text}");
    assert!(text.contains(&format!("Commit: {c1}")), "{text}");
    assert!(text.contains("Version: 1.0 ("), "{text}");
    assert!(
        !text.contains('●'),
        "nothing is booted in a temp sysroot: {text}"
    );

    // Nothing is booted here, so --booted shows no deployment and says why.
    let out = sys.shim(&["status", "--booted", "--json"]);
    assert!(out.status.success());
    let booted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(booted["deployments"].as_array().unwrap().len(), 0);
    assert!(stderr(&out).contains("not the booted system"));

    // Pinning shows in both.
    ostree(&[
        "admin",
        "pin",
        &format!("--sysroot={}", sys.path_str()),
        "0",
    ]);
    assert_eq!(sys.status_json()["deployments"][0]["pinned"], true);
    assert!(sys.shim_ok(&["status"]).contains("Pinned: yes"));
    sys.assert_agrees_with_ostree();
}

#[test]
fn deploy_by_checksum_and_version_keeps_etc() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit("debian/stable", "1.0", &[]);
    let c2 = sys.commit("debian/stable", "2.0", &[("usr/bin/two", "2")]);
    let c3 = sys.commit("debian/stable", "3.0", &[("usr/bin/three", "3")]);
    // Deploying prunes the local repo to what refs use: keep the history reachable.
    for (name, c) in [("keep/1", &c1), ("keep/2", &c2)] {
        ostree(&[
            "refs",
            &format!("--repo={}", sys.repo()),
            &format!("--create={name}"),
            c,
        ]);
    }
    sys.admin_deploy("debian/stable", &["rw"]);
    // A local change to /etc in the current deployment must follow into new ones.
    let etc = sys
        .path()
        .join(format!("ostree/deploy/{OS}/deploy/{c3}.0/etc/motd"));
    std::fs::write(&etc, "changed locally\n").unwrap();

    let out = sys.shim_ok(&["deploy", "version=1.0"]);
    assert!(out.contains("Deployed"), "{out}");
    assert_eq!(checksums(&sys.status_json()), [c1.clone(), c3.clone()]);
    sys.assert_agrees_with_ostree();
    let motd = sys
        .path()
        .join(format!("ostree/deploy/{OS}/deploy/{c1}.0/etc/motd"));
    assert_eq!(std::fs::read_to_string(motd).unwrap(), "changed locally\n");

    sys.shim_ok(&["deploy", &c2]);
    assert_eq!(checksums(&sys.status_json()), [c2.clone(), c1.clone()]);
    assert_eq!(
        sys.status_json()["deployments"][0]["origin"],
        "debian/stable"
    );
    sys.assert_agrees_with_ostree();

    // Already there: 0, or 77 when asked.
    assert_eq!(sys.shim(&["deploy", &c2]).status.code(), Some(0));
    assert_eq!(
        sys.shim(&["deploy", &c2, "--unchanged-exit-77"])
            .status
            .code(),
        Some(77)
    );
    let out = sys.shim(&["deploy", "version=9.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no commit with version \"9.9\""),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("debian/stable"), "{}", stderr(&out));
}

#[test]
fn rebase_to_local_ref() {
    require_env!();
    let sys = TempSysroot::new();
    sys.commit("debian/stable", "1.0", &[]);
    let t = sys.commit("debian/testing", "2.0", &[("usr/bin/t", "t")]);
    sys.admin_deploy("debian/stable", &[]);
    sys.shim_ok(&["rebase", "debian/testing"]);
    let st = sys.status_json();
    assert_eq!(st["deployments"][0]["checksum"], t.as_str());
    assert_eq!(st["deployments"][0]["origin"], "debian/testing");
    assert_eq!(st["deployments"][1]["origin"], "debian/stable");
    sys.assert_agrees_with_ostree();
    // The old ref is purged by default (its deployment keeps the commit alive).
    let refs = ostree(&["refs", &format!("--repo={}", sys.repo())]);
    assert!(!refs.lines().any(|l| l == "debian/stable"), "{refs}");

    let out = sys.shim(&["rebase", "debian/testing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("old and new refs are equal"),
        "{}",
        stderr(&out)
    );
    let out = sys.shim(&["rebase", "no/such/ref"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no/such/ref"), "{}", stderr(&out));
}

#[test]
fn upgrade_rebase_and_deploy_over_http() {
    require_env!();
    let srv = ServedRepo::new();
    let c1 = srv.commit("debian/stable", "1.0", &[]);
    let sys = TempSysroot::new();
    srv.add_remote_to(&sys, "origin");

    // A fresh stateroot: rebase creates the first deployment from the remote.
    sys.shim_ok(&["rebase", "origin:debian/stable"]);
    let st = sys.status_json();
    assert_eq!(checksums(&st), std::slice::from_ref(&c1));
    assert_eq!(st["deployments"][0]["origin"], "origin:debian/stable");
    sys.assert_agrees_with_ostree();
    sys.shim_ok(&["kargs", "--append=console=ttyS0"]);

    let out = sys.shim(&["upgrade", "--unchanged-exit-77"]);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(stdout(&out).contains("No upgrade available."));

    let c2 = srv.commit("debian/stable", "2.0", &[("usr/bin/new", "new")]);
    let out = sys.shim_ok(&["upgrade"]);
    assert!(out.contains("Updating from: origin:debian/stable"), "{out}");
    let st = sys.status_json();
    assert_eq!(checksums(&st)[0], c2);
    assert_eq!(st["deployments"][0]["version"], "2.0");
    // The merge deployment's kernel arguments carry over.
    assert!(
        sys.bls_options()[0].contains("console=ttyS0"),
        "{:?}",
        sys.bls_options()
    );
    sys.assert_agrees_with_ostree();
    assert_eq!(
        sys.shim(&["upgrade", "--unchanged-exit-77"]).status.code(),
        Some(77)
    );

    // deploy by version walks the remote history.
    sys.shim_ok(&["deploy", "1.0"]);
    assert_eq!(checksums(&sys.status_json()), [c1.clone(), c2.clone()]);
    sys.assert_agrees_with_ostree();
    // upgrade leaves the pinned commit for the tip again.
    sys.shim_ok(&["upgrade", "--allow-downgrade"]);
    assert_eq!(checksums(&sys.status_json())[0], c2);

    // rebase with a bare ref keeps the remote.
    let t = srv.commit("debian/testing", "3.0", &[("usr/bin/testing", "t")]);
    sys.shim_ok(&["rebase", "debian/testing"]);
    let st = sys.status_json();
    assert_eq!(st["deployments"][0]["checksum"], t.as_str());
    assert_eq!(st["deployments"][0]["origin"], "origin:debian/testing");
    sys.assert_agrees_with_ostree();

    // A remote that is not configured: error names it.
    let out = sys.shim(&["rebase", "nosuch:debian/stable"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));
}

#[test]
fn kargs_edits_show_in_boot_entries() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy(
        "debian/stable",
        &["root=UUID=abc", "rw", "console=tty0", "console=ttyS0"],
    );
    assert_eq!(
        sys.shim_ok(&["kargs"]).trim(),
        "root=UUID=abc rw console=tty0 console=ttyS0"
    );
    let out = sys.shim(&["kargs", "--delete=console"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("several values"), "{}", stderr(&out));

    sys.shim_ok(&[
        "kargs",
        "--append=foo=bar",
        "--append-if-missing=rw",
        "--delete=console=tty0",
        "--replace=root=UUID=new",
        "--append=quoted=\"a b\"",
        "--delete-if-present=absent",
    ]);
    let opts = sys.bls_options();
    assert_eq!(opts.len(), 2, "{opts:?}");
    assert_eq!(
        strip_ostree_arg(&opts[0]),
        "root=UUID=new rw console=ttyS0 foo=bar quoted=\"a b\""
    );
    assert_eq!(
        strip_ostree_arg(&opts[1]),
        "root=UUID=abc rw console=tty0 console=ttyS0"
    );
    let st = sys.status_json();
    assert_eq!(checksums(&st), [c1.clone(), c1.clone()]);
    assert_eq!(st["deployments"][0]["serial"], 1);
    assert_eq!(st["deployments"][1]["serial"], 0);
    sys.assert_agrees_with_ostree();
    assert_eq!(
        sys.shim_ok(&["kargs"]).trim(),
        "root=UUID=new rw console=ttyS0 foo=bar quoted=\"a b\""
    );
    assert_eq!(
        sys.shim(&["kargs", "--append-if-missing=rw", "--unchanged-exit-77"])
            .status
            .code(),
        Some(77)
    );
}

#[test]
fn rollback_swaps_order_and_back() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &[]);
    let out = sys.shim(&["rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no rollback deployment"),
        "{}",
        stderr(&out)
    );

    let c2 = sys.commit("debian/stable", "2.0", &[("usr/bin/two", "2")]);
    sys.shim_ok(&["upgrade"]);
    assert_eq!(checksums(&sys.status_json()), [c2.clone(), c1.clone()]);
    let out = sys.shim_ok(&["rollback"]);
    assert!(
        out.contains(&format!("Moving '{c1}.0' to be first deployment")),
        "{out}"
    );
    assert_eq!(checksums(&sys.status_json()), [c1.clone(), c2.clone()]);
    sys.assert_agrees_with_ostree();
    // The default boot entry follows.
    let entries = std::fs::read_dir(sys.path().join("boot/loader/entries"))
        .unwrap()
        .count();
    assert_eq!(entries, 2);
    sys.shim_ok(&["rollback"]);
    assert_eq!(checksums(&sys.status_json()), [c2, c1]);
    sys.assert_agrees_with_ostree();
}

#[test]
fn cleanup_rollback_and_pending() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &[]);
    let c2 = sys.commit("debian/stable", "2.0", &[("usr/bin/two", "2")]);
    sys.shim_ok(&["upgrade"]);
    let out = sys.shim(&["cleanup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("choose at least one"));
    assert!(sys
        .shim_ok(&["cleanup", "-p"])
        .contains("No deployments to remove"));
    assert_eq!(checksums(&sys.status_json()).len(), 2);

    sys.shim_ok(&["cleanup", "-r"]);
    assert_eq!(checksums(&sys.status_json()), std::slice::from_ref(&c2));
    sys.assert_agrees_with_ostree();
    let old = sys.path().join(format!("ostree/deploy/{OS}/deploy/{c1}.0"));
    assert!(!old.exists(), "rollback deployment directory still there");

    // A pinned rollback stays.
    sys.commit("debian/stable", "3.0", &[("usr/bin/three", "3")]);
    sys.shim_ok(&["upgrade"]);
    ostree(&[
        "admin",
        "pin",
        &format!("--sysroot={}", sys.path_str()),
        "1",
    ]);
    let out = sys.shim_ok(&["cleanup", "-r", "-b"]);
    assert!(out.contains("Keeping pinned deployment"), "{out}");
    assert_eq!(checksums(&sys.status_json()).len(), 2);
    sys.assert_agrees_with_ostree();
}

#[test]
fn second_writer_gets_a_clear_error() {
    require_env!();
    let sys = TempSysroot::new();
    sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &[]);
    let holder =
        rpmostree_shim::sysroot::Sys::open(sys.path(), rpmostree_shim::sysroot::Access::Read)
            .unwrap();
    let guard = holder.lock().unwrap();
    let out = sys.shim(&["kargs", "--append=x=1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is locked by another writer"), "{err}");
    assert!(err.contains(&sys.path_str()), "names the sysroot: {err}");
    // Readers do not need the lock.
    assert!(sys.shim(&["status"]).status.success());
    drop(guard);
    sys.shim_ok(&["kargs", "--append=x=1"]);
    assert_eq!(checksums(&sys.status_json()).len(), 2);
}

#[test]
fn stateroot_choice_and_errors_name_the_sysroot() {
    require_env!();
    let sys = TempSysroot::new();
    // No deployment yet.
    let out = sys.shim(&["upgrade"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("has no deployment yet") && err.contains(&sys.path_str()),
        "{err}"
    );

    sys.commit("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &["rw"]);
    ostree(&[
        "admin",
        "os-init",
        &format!("--sysroot={}", sys.path_str()),
        "other",
    ]);
    let out = sys.shim(&["kargs", "--append=a"]);
    assert!(
        stderr(&out).contains("several stateroots (debian, other)"),
        "{}",
        stderr(&out)
    );
    let out = sys.shim(&["kargs", "--os=nosuch", "--append=a"]);
    assert!(
        stderr(&out).contains("no stateroot \"nosuch\""),
        "{}",
        stderr(&out)
    );
    sys.shim_ok(&["kargs", "--os=debian", "--append=a"]);
    sys.assert_agrees_with_ostree();
}
