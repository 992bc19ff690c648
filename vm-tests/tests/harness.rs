//! The harness itself, for real, without the OS image: this machine's kernel with a busybox
//! initramfs built here (`vm_tests::testkit`). Proves the console wait and its timeout error,
//! the agent's command round trip over virtio-serial, power-off, and reading a file offline
//! from an ext4 filesystem at a partition's offset in a qcow2 overlay the guest wrote.
//! One guest at a time (the tests share a lock). Skipped with a printed reason without QEMU.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use vm_tests::accel::{self, Accel, ProbeGuest};
use vm_tests::disk::{self, Ext4, OfflineDisk};
use vm_tests::machine::Machine;
use vm_tests::qemu::{BootFrom, Drive, VmSpec};
use vm_tests::testkit;

static ONE_GUEST: Mutex<()> = Mutex::new(());

const BOOT: Duration = Duration::from_secs(120);

fn skip() -> bool {
    if let Some(why) = testkit::unavailable() {
        eprintln!("SKIPPED: {why}");
        return true;
    }
    false
}

/// A busybox guest with the agent port; `drives` become /dev/vda...
fn start(dir: &Path, drives: Vec<Drive>) -> Machine {
    let kit = testkit::build(dir).expect("building the self-test initramfs");
    let mut spec = VmSpec::new(Accel::Tcg, dir.join("console.log"));
    spec.memory_mib = 256;
    spec.cpus = 1;
    spec.no_reboot = true;
    spec.boot = BootFrom::Kernel {
        kernel: kit.kernel,
        initrd: kit.initramfs,
        append: "console=ttyS0 panic=-1 loglevel=4".into(),
    };
    spec.drives = drives;
    spec.agent_socket = Some(dir.join("agent.sock"));
    Machine::start("selftest", &spec, dir, false).expect("starting QEMU")
}

#[test]
fn probe_guests_print_under_tcg() {
    if skip() {
        return;
    }
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    for guest in [ProbeGuest::BootSector, ProbeGuest::best()] {
        let d = tempfile::tempdir().unwrap();
        assert!(
            accel::probe(&guest, Accel::Tcg, d.path(), Duration::from_secs(60)).unwrap(),
            "the probe guest {guest:?} printed nothing under TCG"
        );
    }
}

#[test]
fn console_agent_and_poweroff() {
    if skip() {
        return;
    }
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let mut m = start(d.path(), Vec::new());
    let line = m.wait_console(testkit::READY, BOOT).unwrap();
    assert!(line.contains(testkit::READY), "{line}");

    // A timeout names the pattern and shows the last console lines.
    let err = m
        .wait_console("NEVER-PRINTED-LINE", Duration::from_secs(2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no console line matched \"NEVER-PRINTED-LINE\" within 2s"),
        "{err}"
    );
    assert!(err.contains("console lines"), "{err}");
    assert!(
        err.contains(testkit::READY),
        "the tail lacks the last lines: {err}"
    );

    m.wait_agent(BOOT).unwrap();
    let e = m
        .exec(
            "echo out; echo err >&2; printf 'a b\\n\\tc\\n'; exit 7",
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(e.status, 7);
    assert_eq!(e.output, "out\nerr\na b\n\tc\n");
    assert_eq!(m.run("echo $((6 * 7))").unwrap(), "42\n");
    let bad = m.run("exit 3").unwrap_err().to_string();
    assert!(bad.contains("exited with 3"), "{bad}");

    // A file that appears later.
    m.run("(sleep 2; touch /run/later) >/dev/null 2>&1 &")
        .unwrap();
    m.wait_file("/run/later", Duration::from_secs(60)).unwrap();

    m.poweroff(Duration::from_secs(60)).unwrap();
    let err = m
        .exec("true", Duration::from_secs(2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("qemu exited"), "{err}");
}

#[test]
fn offline_read_of_what_the_guest_wrote() {
    if skip() {
        return;
    }
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A base disk: GPT, one partition at 1 MiB, ext4 in it; then a qcow2 overlay over it.
    let raw = dir.join("base.raw");
    disk::blank_raw(&raw, 64).unwrap();
    let part = disk::write_single_partition_gpt(&raw, "data").unwrap();
    disk::mkfs_ext4(&raw, &part, "SELFTEST").unwrap();
    let base = dir.join("base.qcow2");
    disk::to_qcow2(&raw, &base).unwrap();
    let overlay = dir.join("overlay.qcow2");
    disk::overlay(&base, &overlay).unwrap();

    let mut m = start(
        dir,
        vec![Drive {
            path: overlay.clone(),
            format: "qcow2".into(),
        }],
    );
    m.wait_agent(BOOT).unwrap();
    m.run("mount -t ext4 /dev/vda1 /mnt && mkdir -p /mnt/sub && echo written-in-the-guest > /mnt/sub/note.txt && umount /mnt && sync")
        .unwrap();
    m.poweroff(Duration::from_secs(60)).unwrap();
    drop(m);

    let disk = OfflineDisk::open(&overlay, &dir.join("overlay.raw")).unwrap();
    assert_eq!(disk.partitions.len(), 1);
    assert_eq!(disk.partitions[0].start_bytes, 1 << 20);
    let fs = disk.ext4("data").unwrap();
    assert_eq!(fs.label().unwrap(), "SELFTEST");
    assert_eq!(
        fs.read_string("/sub/note.txt").unwrap(),
        "written-in-the-guest\n"
    );
    assert_eq!(fs.list("/sub").unwrap(), ["note.txt"]);
    let missing = fs.read("/sub/absent.txt").unwrap_err().to_string();
    assert!(missing.contains("absent.txt"), "{missing}");
    // The base stayed as it was: the guest wrote the overlay only.
    let base_raw = dir.join("base-after.raw");
    disk::to_raw(&base, &base_raw).unwrap();
    let base_fs = Ext4::at(&base_raw, &part);
    assert!(
        base_fs.read("/sub/note.txt").is_err(),
        "the base image was written"
    );
}
