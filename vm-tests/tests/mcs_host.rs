//! `McsHost` against the real `mcs` binary (no VM): it serves on all addresses, renders the
//! pool, and its pointer config reaches the server at 10.0.2.2 (the host in QEMU's user-mode
//! network). `cargo test -p vm-tests` does not build `mcs`; without it the test is skipped
//! with a printed reason (`cargo build --workspace` builds it).

use vm_tests::image::sibling_binary;
use vm_tests::mcs_host::McsHost;

#[test]
fn serves_renders_and_points_at_the_guest_visible_address() {
    if let Err(e) = sibling_binary("mcs") {
        eprintln!("SKIPPED: {e:#}");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("mcs-in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("pool.yaml"),
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: worker\nspec:\n  \
         machineConfigSelector:\n    matchLabels:\n      machineconfiguration.openshift.io/role: worker\n",
    )
    .unwrap();
    // A pool renders only when it selects at least one MachineConfig.
    std::fs::write(
        input.join("50-motd.yaml"),
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 50-motd\n  labels:\n    \
         machineconfiguration.openshift.io/role: worker\nspec:\n  config:\n    ignition: {version: 3.2.0}\n    storage:\n      \
         files:\n      - path: /etc/motd\n        contents: {source: 'data:,hi'}\n",
    )
    .unwrap();
    let mcs = McsHost::start(d.path(), "worker").unwrap();
    let first = mcs.rendered("worker").unwrap().expect("rendered");
    assert!(first.starts_with("rendered-worker-"), "{first}");
    let pointer = mcs.pointer("worker").unwrap();
    let text = pointer.to_string();
    assert!(
        text.contains(&format!("https://10.0.2.2:{}/config/worker", mcs.port)),
        "{text}"
    );
    // A new MachineConfig re-renders the pool.
    mcs.write_input(
        "60-ssh.yaml",
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 60-ssh\n  labels:\n    \
         machineconfiguration.openshift.io/role: worker\nspec:\n  config:\n    ignition: {version: 3.2.0}\n    passwd:\n      \
         users:\n      - name: core\n        sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1vb3Jpbmcgdm0tdGVzdHMga2V5IG51bWJlciBvbmUh t\"]\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    loop {
        let now = mcs.rendered("worker").unwrap();
        if now.as_deref().is_some_and(|n| n != first) {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 30,
            "no re-render: {}",
            mcs.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
