//! Offline checks of a built image (root only): the partition table, the filesystems, the ostree
//! deployment, the boot entry and its kernel arguments, the initramfs contents, the repo; and
//! that a second build does nothing.
//!
//! The release binaries come from `$MOORING_BIN_DIR` (else `<target>/release`); the image goes
//! to `$MOORING_IMAGE_DIR` (else `$MOORING_CACHE/image`, `$MOORING_CACHE` defaulting to
//! /var/cache/mooring), so later test binaries and vm-tests reuse it. The first build takes a
//! few minutes (mmdebstrap); later ones are cached.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use images::cache::Outcome;
use images::pipeline::{self, BuildInfo, Summary};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: building and mounting images needs root");
            return;
        }
    };
}

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MOORING_BIN_DIR") {
        return PathBuf::from(d);
    }
    // <target>/<profile>/deps/image-HASH -> <target>/release
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors().nth(3).expect("target dir").join("release")
}

fn cache_dir() -> PathBuf {
    pipeline::default_cache()
}

fn image_dir() -> PathBuf {
    std::env::var_os("MOORING_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("image"))
}

/// One build per test binary (tests run in parallel threads).
fn built() -> &'static (Summary, PathBuf) {
    static BUILT: OnceLock<(Summary, PathBuf)> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    BUILT.get_or_init(|| {
        let bins = bin_dir();
        for b in ["ignition", "mcd", "rpm-ostree"] {
            assert!(
                bins.join(b).is_file(),
                "{}/{b} is missing: run `cargo build --release --workspace` first (or set MOORING_BIN_DIR)",
                bins.display()
            );
        }
        let out = image_dir();
        let s = pipeline::build(&pipeline::Options { output: out.clone(), manifest: None, cache: cache_dir(), bin_dir: bins })
            .unwrap_or_else(|e| panic!("images build failed: {e:#}"));
        (s, out)
    })
}

fn info() -> &'static BuildInfo {
    &built().0.info
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn part(label: &str) -> &'static images::layout::Partition {
    info()
        .partitions
        .iter()
        .find(|p| p.label == label)
        .unwrap_or_else(|| panic!("no partition {label}"))
}

#[test]
fn partition_table_is_the_planned_gpt() {
    require_root!();
    let (_, out) = built();
    let raw = out.join("disk.raw");
    let table = images::disk::read_gpt(&raw).expect("read GPT");
    let labels: Vec<&str> = table.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["BIOS-BOOT", "EFI-SYSTEM", "boot", "root"]);
    for (t, p) in table.iter().zip(&info().partitions) {
        assert_eq!(
            (t.number, t.start_bytes, t.size_bytes, t.type_guid.as_str()),
            (p.number, p.start_bytes, p.size_bytes, p.type_guid.as_str()),
            "{}",
            p.label
        );
    }
    assert_eq!(table[0].type_guid, images::layout::TYPE_BIOS_BOOT);
    assert_eq!(table[1].type_guid, images::layout::TYPE_EFI_SYSTEM);
    assert_eq!(
        table[2].attributes & images::layout::ATTR_LEGACY_BIOS_BOOTABLE,
        images::layout::ATTR_LEGACY_BIOS_BOOTABLE,
        "boot is legacy-BIOS-bootable"
    );
    assert_eq!(table[3].attributes, 0);
    // syslinux's gptmbr.bin in the boot code area, the protective MBR's signature after it.
    let head = fs::read(&raw)
        .map(|b| b[..512].to_vec())
        .unwrap_or_default();
    let mbr = fs::read(images::disk::GPTMBR[0]).expect("gptmbr.bin");
    assert_eq!(&head[..440], &mbr[..]);
    assert_eq!(&head[510..], &[0x55, 0xAA]);
    assert_eq!(head[450], 0xEE, "protective MBR partition type");
    // The qcow2 is the same disk.
    let q = run(
        "qemu-img",
        &[
            "info",
            "--output=json",
            &out.join("disk.qcow2").to_string_lossy(),
        ],
    );
    assert!(q.contains("\"format\": \"qcow2\""), "{q}");
    assert!(
        q.contains(&format!(
            "\"virtual-size\": {}",
            fs::metadata(&raw).unwrap().len()
        )),
        "{q}"
    );
}

fn debugfs(raw: &Path, p: &images::layout::Partition, request: &str) -> String {
    run(
        "debugfs",
        &[
            "-R",
            request,
            &format!("{}?offset={}", raw.display(), p.start_bytes),
        ],
    )
}

#[test]
fn filesystems_hold_extlinux_and_the_sysroot() {
    require_root!();
    let raw = built().1.join("disk.raw");
    let blk = |p: &images::layout::Partition| {
        run(
            "blkid",
            &[
                "-p",
                "-O",
                &p.start_bytes.to_string(),
                "-S",
                &p.size_bytes.to_string(),
                "-o",
                "export",
                &raw.to_string_lossy(),
            ],
        )
    };
    let b = blk(part("boot"));
    assert!(b.contains("TYPE=ext4") && b.contains("LABEL=boot"), "{b}");
    let r = blk(part("root"));
    assert!(r.contains("TYPE=ext4") && r.contains("LABEL=root"), "{r}");
    let e = blk(part("EFI-SYSTEM"));
    assert!(e.contains("TYPE=vfat"), "{e}");
    // extlinux can read the boot filesystem: no 64bit, no metadata_csum.
    let features = debugfs(&raw, part("boot"), "features");
    assert!(
        !features.contains("64bit") && !features.contains("metadata_csum"),
        "{features}"
    );
    let syslinux = debugfs(&raw, part("boot"), "ls -l /syslinux");
    assert!(
        syslinux.contains("ldlinux.sys") && syslinux.contains("syslinux.cfg"),
        "{syslinux}"
    );
    let root = debugfs(&raw, part("root"), "ls -l /ostree/deploy/mooring/var");
    assert!(root.contains("home") && root.contains("roothome"), "{root}");
    let boot_dir = debugfs(&raw, part("root"), "ls /boot");
    assert!(
        !boot_dir.contains("loader"),
        "the root's /boot is an empty mount point: {boot_dir}"
    );
}

#[test]
fn deployment_boot_entry_and_kernel_arguments() {
    require_root!();
    let raw = built().1.join("disk.raw");
    let mnt = tempfile::tempdir().unwrap();
    let root = initramfs::mounts::PartitionMount::new(
        &raw,
        part("root").start_bytes,
        part("root").size_bytes,
        mnt.path(),
        Some("ro,noload"),
    )
    .expect("mount root");
    let boot = initramfs::mounts::PartitionMount::new(
        &raw,
        part("boot").start_bytes,
        part("boot").size_bytes,
        &mnt.path().join("boot"),
        Some("ro,noload"),
    )
    .expect("mount boot");
    let status = run(
        "ostree",
        &[
            "admin",
            "status",
            &format!("--sysroot={}", mnt.path().display()),
        ],
    );
    assert!(
        status.contains(&format!("{} {}", info().stateroot, info().commit)),
        "{status}"
    );
    assert!(
        status.contains(&format!("Version: {}", info().version)),
        "{status}"
    );
    assert!(
        status.contains(&format!("origin refspec: mooring:{}", info().ostree_ref)),
        "{status}"
    );
    let entries: Vec<_> = fs::read_dir(mnt.path().join("boot/loader/entries"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = fs::read_to_string(entries[0].path()).unwrap();
    let kargs = images::bls::options(&entry);
    for k in [
        "root=LABEL=root",
        "rw",
        "console=ttyS0,115200",
        "ignition.firstboot",
        "ignition.platform.id=qemu",
    ] {
        assert!(kargs.iter().any(|a| a == k), "{k} missing from {kargs:?}");
    }
    assert_eq!(images::bls::without_ostree(&kargs), info().kargs);
    assert!(
        kargs.contains(&info().ostree_karg)
            && info().ostree_karg.starts_with("ostree=/ostree/boot.")
    );
    // extlinux reads ostree's syslinux.cfg: same kernel, initramfs and arguments.
    let cfg = fs::read_to_string(mnt.path().join("boot/syslinux/syslinux.cfg")).unwrap();
    let linux = images::bls::field(&entry, "linux").unwrap();
    assert!(cfg.contains(linux), "{cfg}");
    assert!(
        cfg.lines().any(|l| l.trim().starts_with("APPEND")
            && l.contains("ignition.firstboot")
            && l.contains(&info().ostree_karg)),
        "{cfg}"
    );
    assert!(mnt
        .path()
        .join("boot")
        .join(linux.trim_start_matches('/'))
        .is_file());
    // The deployment: /etc/fstab mounts the boot partition; our binaries; no ignition in the root.
    let dep = mnt.path().join(&info().deployment);
    let fstab = fs::read_to_string(dep.join("etc/fstab")).unwrap();
    assert!(
        fstab.contains("LABEL=boot") && fstab.contains("/boot"),
        "{fstab}"
    );
    for b in ["usr/bin/mcd", "usr/bin/rpm-ostree"] {
        assert!(dep.join(b).is_file(), "{b}");
    }
    assert!(
        !dep.join("usr/bin/ignition").exists(),
        "ignition belongs to the initramfs only"
    );
    assert!(dep
        .join("etc/systemd/system/multi-user.target.wants/machine-config-daemon.service")
        .symlink_metadata()
        .is_ok());
    assert!(!run("file", &[&dep.join("usr/bin/mcd").to_string_lossy()]).contains("not stripped"));
    let osr = fs::read_to_string(dep.join("usr/lib/os-release")).unwrap();
    assert!(
        osr.contains(&format!("PRETTY_NAME=\"mooring-{}\"", info().version)),
        "{osr}"
    );
    drop(boot);
    drop(root);
}

#[test]
fn initramfs_has_our_ignition_and_the_stage_units() {
    require_root!();
    let data = fs::read(&info().initramfs).expect("read the initramfs");
    let entries = initramfs::cpio::read_entries(&data).expect("parse the initramfs");
    let has = |p: &str| initramfs::cpio::find_last(&entries, p).is_some();
    assert!(has("usr/bin/ignition"), "our ignition");
    let ign = initramfs::cpio::find_last(&entries, "usr/bin/ignition").unwrap();
    let ours = fs::read(bin_dir().join("ignition")).unwrap();
    assert!(
        ign.data.len() <= ours.len() && ign.data.len() > 1_000_000,
        "a stripped copy of ours"
    );
    for unit in initramfs::module::STAGE_UNITS {
        assert!(has(&format!("usr/lib/systemd/system/{unit}")), "{unit}");
    }
    for p in [
        "usr/lib/systemd/system/ignition-complete.target.requires/ignition-files.service",
        "usr/lib/systemd/system/ostree-prepare-root.service",
        "usr/lib/ostree/ostree-prepare-root",
        "usr/lib/systemd/system-generators/mooring-ignition-generator",
        "usr/libexec/mooring-boot-config",
        "usr/libexec/mooring-mount-var",
        "usr/sbin/useradd",
        "usr/sbin/mkfs.ext4",
    ] {
        assert!(has(p), "{p} missing from the initramfs");
    }
    assert!(
        entries.iter().any(|e| e.path.ends_with("qemu_fw_cfg.ko")),
        "qemu_fw_cfg driver"
    );
    assert!(
        entries.iter().any(|e| e.path.ends_with("virtio_blk.ko")),
        "virtio_blk driver"
    );
}

#[test]
fn repo_serves_the_ref_with_its_version() {
    require_root!();
    let repo = built().1.join("repo");
    let repo_arg = format!("--repo={}", repo.display());
    assert_eq!(
        run("ostree", &["rev-parse", &repo_arg, &info().ostree_ref]).trim(),
        info().commit
    );
    let version = run(
        "ostree",
        &[
            "show",
            &repo_arg,
            "--print-metadata-key=version",
            &info().commit,
        ],
    );
    assert_eq!(version.trim(), format!("'{}'", info().version));
    let mode = fs::read_to_string(repo.join("config")).unwrap();
    assert!(mode.contains("mode=archive"), "{mode}");
    assert!(repo.join("summary").is_file(), "summary for HTTP clients");
}

#[test]
fn second_build_does_nothing() {
    require_root!();
    let (first, out) = built();
    let again = pipeline::build(&pipeline::Options {
        output: out.clone(),
        manifest: None,
        cache: cache_dir(),
        bin_dir: bin_dir(),
    })
    .expect("rebuild");
    assert!(
        again.steps.iter().all(|(_, o)| *o == Outcome::Cached),
        "{:?}",
        again.steps
    );
    assert!(!again.published, "DIR was up to date");
    assert_eq!(again.info, first.info);
}
