//! The image's `firstboot-done` script (images/overlay/usr/libexec/mooring/firstboot-done) on a
//! fake /boot and kernel command line: only the booted deployment's entry loses
//! `ignition.firstboot`, in its BLS entry and in syslinux.cfg, and a stamp is written.

use std::fs;
use std::process::Command;

const SCRIPT: &str = include_str!("../overlay/usr/libexec/mooring/firstboot-done");

#[test]
fn drops_ignition_firstboot_from_the_booted_entry_only() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("boot/loader/entries")).unwrap();
    let booted = "ostree=/ostree/boot.1/mooring/abc/0";
    let other = "ostree=/ostree/boot.1/mooring/abcd/0";
    fs::write(root.join("boot/loader/entries/ostree-2.conf"), format!(
        "title mooring-1 (ostree:0)\noptions root=LABEL=root rw ignition.firstboot ignition.platform.id=qemu {booted}\nlinux /ostree/x/vmlinuz\n")).unwrap();
    fs::write(
        root.join("boot/loader/entries/ostree-1.conf"),
        format!("title mooring-0 (ostree:1)\noptions root=LABEL=root ignition.firstboot {other}\n"),
    )
    .unwrap();
    fs::write(root.join("boot/loader/syslinux.cfg"), format!(
        "DEFAULT mooring-1 (ostree:0)\nLABEL mooring-1 (ostree:0)\n\tKERNEL /boot/ostree/x/vmlinuz\n\tAPPEND root=LABEL=root rw ignition.firstboot ignition.platform.id=qemu {booted}\nLABEL mooring-0 (ostree:1)\n\tAPPEND ignition.firstboot {other}\n")).unwrap();
    fs::write(
        root.join("cmdline"),
        format!("BOOT_IMAGE=/boot/x root=LABEL=root rw ignition.firstboot {booted} (ostree:0)\n"),
    )
    .unwrap();
    let p = |s: &str| root.join(s).to_string_lossy().into_owned();
    let script = SCRIPT
        .replace("/proc/cmdline", &p("cmdline"))
        .replace("/boot/", &format!("{}/", p("boot")))
        .replace("/var/lib/mooring", &p("stamp"));
    fs::write(root.join("t.sh"), script).unwrap();
    let out = Command::new("sh").arg(root.join("t.sh")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let entry = fs::read_to_string(root.join("boot/loader/entries/ostree-2.conf")).unwrap();
    assert!(
        entry.contains(&format!(
            "options root=LABEL=root rw ignition.platform.id=qemu {booted}\n"
        )),
        "{entry}"
    );
    let untouched = fs::read_to_string(root.join("boot/loader/entries/ostree-1.conf")).unwrap();
    assert!(untouched.contains("ignition.firstboot"), "{untouched}");
    let cfg = fs::read_to_string(root.join("boot/loader/syslinux.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "\tAPPEND root=LABEL=root rw ignition.platform.id=qemu {booted}\n"
        )),
        "{cfg}"
    );
    assert!(
        cfg.contains(&format!("\tAPPEND ignition.firstboot {other}\n")),
        "{cfg}"
    );
    assert!(root.join("stamp/firstboot.done").is_file());
    // The same edit as the Rust planner's.
    let kargs = images::bls::options(&entry);
    assert_eq!(
        kargs,
        images::bls::after_firstboot(&kargs)
            .into_iter()
            .chain([booted.to_string()])
            .collect::<Vec<_>>()
    );

    // Without a matching entry it fails and says why.
    fs::write(
        root.join("cmdline"),
        "root=LABEL=root ostree=/ostree/boot.0/nope/0\n",
    )
    .unwrap();
    let out = Command::new("sh").arg(root.join("t.sh")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no boot entry"));
}
