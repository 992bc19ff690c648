//! Commands on a booted system: each runs chrooted into one deployment of a temporary sysroot,
//! which libostree then takes as the booted one (`TempSysroot::shim_booted`). libostree guards
//! the booted deployment on this path only (it refuses a new list without it), so these tests
//! catch what the tests on sysroots that are not booted cannot.

mod common;

use common::{stderr, stdout, TempSysroot};
use serde_json::Value;

/// (checksum, booted) of each deployment, in boot order, as the booted system sees them.
fn booted_view(sys: &TempSysroot, booted: usize) -> Vec<(String, bool)> {
    flags(sys, booted)
        .into_iter()
        .map(|(csum, _, _, b)| (csum, b))
        .collect()
}

fn ok(sys: &TempSysroot, booted: usize, args: &[&str]) -> String {
    let out = sys.shim_booted(booted, args);
    assert!(
        out.status.success(),
        "rpm-ostree {args:?} on the booted system failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// Two deployments, the new one (index 0) booted: the state of a node after an update.
fn updated() -> (TempSysroot, String, String) {
    let sys = TempSysroot::new();
    let c1 = sys.commit_os("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &[]);
    let c2 = sys.commit_os("debian/stable", "2.0", &[("usr/share/two", "2")]);
    sys.shim_ok(&["upgrade"]);
    (sys, c1, c2)
}

#[test]
fn rollback_keeps_the_booted_deployment() {
    require_env!();
    let (sys, c1, c2) = updated();
    assert_eq!(
        booted_view(&sys, 0),
        [(c2.clone(), true), (c1.clone(), false)]
    );

    let out = ok(&sys, 0, &["rollback"]);
    assert!(
        out.contains(&format!("Moving '{c1}.0' to be first deployment")),
        "{out}"
    );
    // The previous deployment boots next; the booted one stays, second.
    assert_eq!(
        booted_view(&sys, 1),
        [(c1.clone(), false), (c2.clone(), true)]
    );
    sys.assert_agrees_with_ostree();

    // Rolling back again puts the booted deployment back on top.
    ok(&sys, 1, &["rollback"]);
    assert_eq!(booted_view(&sys, 0), [(c2, true), (c1, false)]);
    sys.assert_agrees_with_ostree();
}

#[test]
fn cleanup_removes_rollback_and_pending_around_the_booted_deployment() {
    require_env!();
    let (sys, _, c2) = updated();
    ok(&sys, 0, &["cleanup", "-r"]);
    assert_eq!(booted_view(&sys, 0), [(c2, true)]);
    sys.assert_agrees_with_ostree();

    // After a rollback the previous deployment is pending (ordered before the booted one):
    // -p removes it and leaves the booted one alone.
    let (sys, c1, c2) = updated();
    ok(&sys, 0, &["rollback"]);
    assert_eq!(booted_view(&sys, 1), [(c1, false), (c2.clone(), true)]);
    ok(&sys, 1, &["cleanup", "-p"]);
    assert_eq!(booted_view(&sys, 0), [(c2, true)]);
    sys.assert_agrees_with_ostree();
}

/// (checksum, serial, staged, booted) of each deployment, as the booted system sees them.
fn flags(sys: &TempSysroot, booted: usize) -> Vec<(String, i64, bool, bool)> {
    let out = ok(sys, booted, &["status", "--json"]);
    let v: Value = serde_json::from_str(&out).expect("status JSON");
    v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["checksum"].as_str().unwrap().to_string(),
                d["serial"].as_i64().unwrap(),
                d["staged"].as_bool().unwrap(),
                d["booted"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_staged_deployment_is_dropped_by_rollback_and_cleanup() {
    require_env!();
    let sys = TempSysroot::new();
    let c1 = sys.commit_os("debian/stable", "1.0", &[]);
    sys.admin_deploy("debian/stable", &[]);
    let staged = [(c1.clone(), 1, true, false), (c1.clone(), 0, false, true)];
    let alone = [(c1.clone(), 0, false, true)];

    // On the booted system a kernel-argument change is staged for the next boot.
    ok(&sys, 0, &["kargs", "--append=mooring.test=1"]);
    assert_eq!(flags(&sys, 0), staged);
    // With no rollback deployment, rollback cancels the pending update.
    ok(&sys, 0, &["rollback"]);
    assert_eq!(flags(&sys, 0), alone);

    ok(&sys, 0, &["kargs", "--append=mooring.test=2"]);
    assert!(flags(&sys, 0)[0].2, "staged again");
    ok(&sys, 0, &["cleanup", "-p"]);
    assert_eq!(flags(&sys, 0), alone);
    sys.assert_agrees_with_ostree();
}
