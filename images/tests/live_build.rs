//! PXE artifacts and the live ISO from small real inputs (mksquashfs, xorriso, isolinux).

mod live_common;

use std::process::Command;

use images::{embed, iso, pxe};
use initramfs::cpio;
use live_common::*;

#[test]
fn pxe_artifacts() {
    if !have(&["mksquashfs", "unsquashfs"]) {
        return;
    }
    let dir = tmp();
    let inputs = small_live_inputs(dir.path());
    let out = dir.path().join("pxe");
    pxe::build_pxe(&inputs, &out).unwrap();
    assert_eq!(
        std::fs::read(out.join("vmlinuz")).unwrap(),
        std::fs::read(&inputs.kernel).unwrap()
    );
    assert_eq!(
        std::fs::read(out.join("initramfs.img")).unwrap(),
        std::fs::read(&inputs.initramfs).unwrap()
    );
    let cmdline = std::fs::read_to_string(out.join("cmdline")).unwrap();
    assert_eq!(
        cmdline.trim_end(),
        "mooring.live ignition.firstboot ignition.platform.id=qemu ostree=/ostree/boot.1/mooring/abc/0 console=ttyS0,115200"
    );
    // rootfs.img: a gzip cpio with root.squashfs, which unsquashfs reads back with the hard link.
    let rootfs = std::fs::read(out.join("rootfs.img")).unwrap();
    let segs = cpio::read_segments(&rootfs).unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].compression, cpio::Compression::Gzip);
    assert_eq!(segs[0].entries.len(), 1);
    let sq = &segs[0].entries[0];
    assert_eq!(sq.path, "root.squashfs");
    assert_eq!(&sq.data[..4], b"hsqs");
    let sq_file = dir.path().join("extracted.squashfs");
    std::fs::write(&sq_file, &sq.data).unwrap();
    let unpacked = dir.path().join("unpacked");
    let st = Command::new("unsquashfs")
        .args(["-q", "-n", "-d", p(&unpacked), p(&sq_file)])
        .status()
        .unwrap();
    assert!(st.success());
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(unpacked.join("ostree/repo/objects/ab/cdef.file")).unwrap();
    let b = std::fs::metadata(unpacked.join("ostree/deploy/mooring/deploy/abc.0/usr/bin/tool"))
        .unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link kept");
    assert_eq!(
        std::fs::read_link(unpacked.join("boot/loader")).unwrap(),
        pathbuf("loader.1")
    );
    // Concatenated as QEMU takes them (one -initrd), the two read as one initramfs.
    let mut both = std::fs::read(out.join("initramfs.img")).unwrap();
    both.extend(&rootfs);
    let all = cpio::read_entries(&both).unwrap();
    assert!(cpio::find_last(&all, "init").is_some());
    assert!(cpio::find_last(&all, "root.squashfs").is_some());
}

#[test]
fn pxe_refuses_a_tree_that_is_not_a_sysroot() {
    let dir = tmp();
    let mut inputs = small_live_inputs(dir.path());
    inputs.sysroot_dir = dir.path().join("nothing");
    std::fs::create_dir_all(&inputs.sysroot_dir).unwrap();
    let err = pxe::build_pxe(&inputs, &dir.path().join("pxe")).unwrap_err();
    assert!(
        format!("{err:#}").contains("not an ostree sysroot"),
        "{err:#}"
    );
}

#[test]
fn live_iso() {
    if !have(&["mksquashfs", "xorriso"]) || !std::path::Path::new(iso::ISOLINUX_BIN).exists() {
        eprintln!("SKIP: needs mksquashfs, xorriso, isolinux");
        return;
    }
    let dir = tmp();
    let inputs = small_live_inputs(dir.path());
    let out = dir.path().join("live.iso");
    iso::build_iso(&inputs, &out).unwrap();

    // Its files, the boot configuration, the El Torito record.
    let cfg = String::from_utf8(iso_extract(
        &out,
        "/isolinux/isolinux.cfg",
        &dir.path().join("cfg"),
    ))
    .unwrap();
    assert!(
        cfg.contains("APPEND initrd=/images/initramfs.img,/images/ignition.img mooring.live ignition.firstboot ignition.platform.id=qemu ostree=/ostree/boot.1/mooring/abc/0 console=ttyS0,115200 mooring.live.iso=MOORING-TEST\n"),
        "{cfg}"
    );
    assert_eq!(
        iso_extract(&out, "/images/vmlinuz", &dir.path().join("k")),
        std::fs::read(&inputs.kernel).unwrap()
    );
    let sq = iso_extract(&out, "/images/root.squashfs", &dir.path().join("sq"));
    assert_eq!(&sq[..4], b"hsqs");
    let area = iso_extract(&out, embed::ISO_IGNITION_IMG, &dir.path().join("ign"));
    assert_eq!(area.len(), embed::ISO_RESERVED);
    assert!(
        cpio::read_entries(&area).unwrap().is_empty(),
        "reserved area holds an empty cpio"
    );
    let report = Command::new("xorriso")
        .args(["-indev", p(&out), "-report_el_torito", "plain"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.contains("El Torito boot img :   1  BIOS"),
        "{report}"
    );
    let label = Command::new("blkid")
        .args(["-o", "value", "-s", "LABEL", p(&out)])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&label.stdout).trim(),
        "MOORING-TEST"
    );
}

/// Builds the live artifacts from a real build when asked (also a way to make them by hand
/// until `images build` calls [`pxe::build_live`]):
/// `MOORING_LIVE_KERNEL=... MOORING_LIVE_INITRAMFS=... MOORING_LIVE_SYSROOT=... \
///  MOORING_LIVE_KARGS='ignition.firstboot ... ostree=...' MOORING_LIVE_OUT=DIR \
///  cargo test -p images --test live_build from_a_real_build -- --nocapture`
/// writes DIR/pxe/{vmlinuz,initramfs.img,rootfs.img,cmdline} and DIR/live.iso.
#[test]
fn from_a_real_build() {
    let var = |n: &str| std::env::var(n).ok();
    let (Some(kernel), Some(initramfs), Some(sysroot), Some(kargs), Some(out)) = (
        var("MOORING_LIVE_KERNEL"),
        var("MOORING_LIVE_INITRAMFS"),
        var("MOORING_LIVE_SYSROOT"),
        var("MOORING_LIVE_KARGS"),
        var("MOORING_LIVE_OUT"),
    ) else {
        eprintln!("SKIP: set MOORING_LIVE_{{KERNEL,INITRAMFS,SYSROOT,KARGS,OUT}} to build from a real image");
        return;
    };
    let inputs = pxe::LiveInputs {
        kernel: kernel.into(),
        initramfs: initramfs.into(),
        sysroot_dir: sysroot.into(),
        kargs: kargs.split_whitespace().map(str::to_string).collect(),
        volume_id: var("MOORING_LIVE_VOLUME_ID").unwrap_or_else(|| "MOORING-LIVE".into()),
    };
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap();
    let t = std::time::Instant::now();
    pxe::build_live(&inputs, &out.join("pxe"), &out.join("live.iso")).unwrap();
    eprintln!(
        "live artifacts in {} ({:.1} s)",
        out.display(),
        t.elapsed().as_secs_f64()
    );
    for f in [
        "pxe/vmlinuz",
        "pxe/initramfs.img",
        "pxe/rootfs.img",
        "live.iso",
    ] {
        let len = std::fs::metadata(out.join(f)).unwrap().len();
        eprintln!("  {f}: {} MiB", len >> 20);
    }
}
