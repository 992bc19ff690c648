//! Crash consistency: `kill -9` at random points of 50 applies; after the next run (recovery)
//! the root is exactly the old config or exactly the new one, never between.

mod common;
use common::*;
use std::process::Command;

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn kill_at_random_points_converges_to_old_or_new() {
    if !is_root() {
        eprintln!("SKIP crash test: needs root (chown to core, usermod --root)");
        return;
    }
    let n = Node::new();
    let (v1, v2) = v1_v2();
    let (v1, v2) = (n.config("v1.json", &v1), n.config("v2.json", &v2));
    n.ok(&["once-from", &v1]);
    let old = n.tree();
    // The template at v1, and the new tree from a clean apply.
    let template = n.dir.path().join("template");
    copy_tree(&n.root(), &template);
    let o = n.mcd(&["once-from", &v2], &[("MCD_COUNT_POINTS", "1")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let new = n.tree();
    let points: u64 = String::from_utf8_lossy(&o.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("crash points: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the crash point count");
    assert!(points > 20, "only {points} crash points");
    let seed = std::env::var("MCD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash test: {points} crash points, seed {seed} (MCD_CRASH_SEED to replay)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut at_old, mut at_new) = (0, 0);
    for i in 0..50 {
        std::fs::remove_dir_all(n.root()).unwrap();
        copy_tree(&template, &n.root());
        let (status, how) = if i % 5 == 4 {
            // A kill from outside after a random short delay.
            let mut child = Command::new(BIN)
                .arg("--root")
                .arg(n.root())
                .arg("once-from")
                .arg(&v2)
                .env("MCD_RPM_OSTREE", n.dir.path().join("rpm-ostree"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let delay = rng.u64(0..15_000);
            std::thread::sleep(std::time::Duration::from_micros(delay));
            let _ = child.kill();
            (child.wait().unwrap(), format!("SIGKILL after {delay} µs"))
        } else {
            let at = rng.u64(1..=points);
            (
                n.mcd(&["once-from", &v2], &[("MCD_CRASH_AT", &at.to_string())])
                    .status,
                format!("crash point {at}"),
            )
        };
        // The next run recovers (and changes nothing else).
        n.ok(&["recover", "--accept-on-disk"]);
        let t = n.tree();
        if t == old {
            at_old += 1;
        } else if t == new {
            at_new += 1;
        } else {
            panic!(
                "run {i} ({how}, exit {status:?}): between old and new: old: {}; new: {}",
                first_difference(&t, &old),
                first_difference(&t, &new)
            );
        }
        assert!(!n.exists("/etc/machine-config-daemon/journal.json"));
    }
    eprintln!("crash test: 50 runs, {at_old} at the old config, {at_new} at the new one");
    assert!(at_old > 0, "no run was rolled back");
}
