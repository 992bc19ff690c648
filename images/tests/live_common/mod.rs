//! Helpers shared by the live/embed/install tests: skips, commands, small real artifacts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use images::pxe::LiveInputs;
use initramfs::cpio::{self, Entry};

pub const BIN: &str = env!("CARGO_BIN_EXE_images");

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether every tool is installed; prints the skip reason when not.
pub fn have(tools: &[&str]) -> bool {
    for t in tools {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIP: `{t}` is not installed");
            return false;
        }
    }
    true
}

pub fn images(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run images")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub const CONFIG: &str = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/embedded","contents":{"source":"data:,hello"}}]}}"#;
pub const INVALID: &str =
    r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"relative/path"}]}}"#;

/// A small but real initramfs: an uncompressed early cpio, then a gzip one with /init.
pub fn small_initramfs(path: &Path) {
    let mut img = cpio::archive(&[Entry::file(
        "kernel/x86/microcode/GenuineIntel.bin",
        0o644,
        vec![9; 64],
    )])
    .unwrap();
    img.resize(512, 0);
    img.extend(
        cpio::gzip_archive(&[
            Entry::file("init", 0o755, b"#!/bin/sh\nexec /sbin/init\n".to_vec()),
            Entry::dir("usr", 0o755),
        ])
        .unwrap(),
    );
    std::fs::write(path, img).unwrap();
}

/// Live inputs made of small real files: a "kernel", an initramfs and a sysroot tree with an
/// ostree/ directory, a hard link and a symlink.
pub fn small_live_inputs(dir: &Path) -> LiveInputs {
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, vec![0x4du8; 4096]).unwrap();
    let initramfs = dir.join("initramfs.img");
    small_initramfs(&initramfs);
    let sysroot = dir.join("sysroot");
    let deploy = sysroot.join("ostree/deploy/mooring/deploy/abc.0/usr/bin");
    std::fs::create_dir_all(&deploy).unwrap();
    std::fs::create_dir_all(sysroot.join("ostree/repo/objects/ab")).unwrap();
    std::fs::write(sysroot.join("ostree/repo/objects/ab/cdef.file"), b"binary").unwrap();
    std::fs::hard_link(
        sysroot.join("ostree/repo/objects/ab/cdef.file"),
        deploy.join("tool"),
    )
    .unwrap();
    std::fs::create_dir_all(sysroot.join("boot/loader.1/entries")).unwrap();
    std::os::unix::fs::symlink("loader.1", sysroot.join("boot/loader")).unwrap();
    LiveInputs {
        kernel,
        initramfs,
        sysroot_dir: sysroot,
        kargs: vec![
            "ignition.firstboot".into(),
            "ignition.platform.id=qemu".into(),
            "ostree=/ostree/boot.1/mooring/abc/0".into(),
            "console=ttyS0,115200".into(),
        ],
        volume_id: "MOORING-TEST".into(),
    }
}

/// Extracts one file from an ISO with xorriso's osirrox.
pub fn iso_extract(iso: &Path, inside: &str, out: &Path) -> Vec<u8> {
    let st = Command::new("xorriso")
        .args([
            "-osirrox",
            "on",
            "-indev",
            p(iso),
            "-extract",
            inside,
            p(out),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "xorriso -extract {inside}");
    std::fs::read(out).unwrap()
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mooring-live-test-")
        .tempdir()
        .unwrap()
}

pub fn pathbuf(s: &str) -> PathBuf {
    PathBuf::from(s)
}
