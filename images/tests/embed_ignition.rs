//! `images embed-ignition` on a PXE initramfs and a live ISO, read back with our cpio reader and
//! with xorriso; round trips, replacement, removal, refusal of invalid configs.

mod live_common;

use std::path::Path;

use images::{embed, iso};
use initramfs::cpio;
use live_common::*;

fn user_ign(entries: &[cpio::Entry]) -> Option<cpio::Entry> {
    cpio::find_last(entries, embed::USER_IGN).cloned()
}

/// A small initramfs: early uncompressed cpio + gzip main cpio, as dracut writes them.
/// (Debian's own, zstd-compressed, is read in initramfs/tests/cpio_real.rs.)
fn some_initramfs(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("initramfs.img");
    small_initramfs(&out);
    out
}

#[test]
fn pxe_embed_show_replace_remove() {
    let dir = tmp();
    let orig = some_initramfs(dir.path());
    let orig_bytes = std::fs::read(&orig).unwrap();
    let cfg = dir.path().join("cfg.ign");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = dir.path().join("embedded.img");

    ok(&images(&[
        "embed-ignition",
        "--config",
        p(&cfg),
        "--pxe-initramfs",
        p(&orig),
        "--output",
        p(&out),
    ]));
    assert_eq!(
        std::fs::read(&orig).unwrap(),
        orig_bytes,
        "--output leaves the input alone"
    );
    let data = std::fs::read(&out).unwrap();
    assert_eq!(
        &data[..orig_bytes.len()],
        &orig_bytes[..],
        "the original segments are untouched"
    );
    let segs = cpio::read_segments(&data).unwrap();
    let last = segs.last().unwrap();
    assert_eq!(last.compression, cpio::Compression::Gzip);
    assert_eq!(last.offset % 4, 0);
    let names: Vec<_> = last.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "usr",
            "usr/lib",
            "usr/lib/ignition",
            "usr/lib/ignition/user.ign"
        ]
    );
    let all: Vec<_> = segs.iter().flat_map(|s| s.entries.clone()).collect();
    let ign = user_ign(&all).unwrap();
    assert_eq!(ign.data, CONFIG.as_bytes());
    assert_eq!(ign.mode, cpio::S_IFREG | 0o600);
    assert_eq!((ign.uid, ign.gid, ign.mtime), (0, 0, 0));
    let n_segments = segs.len();

    assert_eq!(
        ok(&images(&[
            "embed-ignition",
            "--show",
            "--pxe-initramfs",
            p(&out)
        ])),
        CONFIG
    );

    // Embedding again (in place) replaces the config instead of stacking a second one.
    let cfg2 = dir.path().join("cfg2.ign");
    let config2 = r#"{"ignition":{"version":"3.0.0"}}"#;
    std::fs::write(&cfg2, config2).unwrap();
    ok(&images(&[
        "embed-ignition",
        "--config",
        p(&cfg2),
        "--pxe-initramfs",
        p(&out),
    ]));
    assert_eq!(
        cpio::read_segments(&std::fs::read(&out).unwrap())
            .unwrap()
            .len(),
        n_segments
    );
    assert_eq!(
        ok(&images(&[
            "embed-ignition",
            "--show",
            "--pxe-initramfs",
            p(&out)
        ])),
        config2
    );

    // --remove: back to the original (up to the zero padding to 4 bytes that the kernel skips).
    ok(&images(&[
        "embed-ignition",
        "--remove",
        "--pxe-initramfs",
        p(&out),
    ]));
    let removed = std::fs::read(&out).unwrap();
    assert_eq!(&removed[..orig_bytes.len()], &orig_bytes[..]);
    assert!(removed.len() - orig_bytes.len() < 4);
    assert!(removed[orig_bytes.len()..].iter().all(|b| *b == 0));
    let err = failed(&images(&[
        "embed-ignition",
        "--show",
        "--pxe-initramfs",
        p(&out),
    ]));
    assert!(err.contains("no embedded Ignition config"), "{err}");
    let err = failed(&images(&[
        "embed-ignition",
        "--remove",
        "--pxe-initramfs",
        p(&out),
    ]));
    assert!(err.contains("no embedded Ignition config"), "{err}");
}

#[test]
fn invalid_config_is_refused_with_file_and_json_path() {
    let dir = tmp();
    let img = dir.path().join("i.img");
    small_initramfs(&img);
    let before = std::fs::read(&img).unwrap();
    let bad = dir.path().join("bad.ign");
    std::fs::write(&bad, INVALID).unwrap();
    let out = dir.path().join("out.img");
    let err = failed(&images(&[
        "embed-ignition",
        "--config",
        p(&bad),
        "--pxe-initramfs",
        p(&img),
        "-o",
        p(&out),
    ]));
    assert!(err.contains(p(&bad)), "{err}");
    assert!(err.contains("$.storage.files.0.path"), "{err}");
    assert!(!out.exists(), "nothing written");
    assert_eq!(std::fs::read(&img).unwrap(), before);
    let err = failed(&images(&[
        "embed-ignition",
        "--config",
        p(&dir.path().join("missing.ign")),
        "--pxe-initramfs",
        p(&img),
    ]));
    assert!(err.contains("missing.ign"), "{err}");
    // Not an initramfs: named, untouched.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"just text").unwrap();
    let good = dir.path().join("good.ign");
    std::fs::write(&good, CONFIG).unwrap();
    let err = failed(&images(&[
        "embed-ignition",
        "--config",
        p(&good),
        "--pxe-initramfs",
        p(&junk),
    ]));
    assert!(err.contains(p(&junk)), "{err}");
    assert_eq!(std::fs::read(&junk).unwrap(), b"just text");
}

fn live_iso(dir: &Path) -> Option<std::path::PathBuf> {
    if !have(&["mksquashfs", "xorriso"]) || !Path::new(iso::ISOLINUX_BIN).exists() {
        return None;
    }
    let inputs = small_live_inputs(dir);
    let out = dir.join("live.iso");
    iso::build_iso(&inputs, &out).unwrap();
    Some(out)
}

#[test]
fn iso_embed_in_place_show_remove() {
    let dir = tmp();
    let Some(iso) = live_iso(dir.path()) else {
        return;
    };
    let orig = std::fs::read(&iso).unwrap();
    let ext = embed::locate_iso_area(&iso).unwrap();
    let cfg = dir.path().join("cfg.ign");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = dir.path().join("embedded.iso");
    ok(&images(&[
        "embed-ignition",
        "--config",
        p(&cfg),
        "--iso",
        p(&iso),
        "--output",
        p(&out),
    ]));
    assert_eq!(std::fs::read(&iso).unwrap(), orig);
    let new = std::fs::read(&out).unwrap();
    assert_eq!(new.len(), orig.len());
    let (a, b) = (ext.offset as usize, (ext.offset + ext.len) as usize);
    assert_eq!(&new[..a], &orig[..a], "bytes before the area unchanged");
    assert_eq!(&new[b..], &orig[b..], "bytes after the area unchanged");
    // What isolinux hands the kernel, extracted by xorriso, read by our reader.
    let img = iso_extract(
        &out,
        embed::ISO_IGNITION_IMG,
        &dir.path().join("ignition.img"),
    );
    let ign = user_ign(&cpio::read_entries(&img).unwrap()).unwrap();
    assert_eq!(ign.data, CONFIG.as_bytes());
    assert_eq!(ign.mode, cpio::S_IFREG | 0o600);
    assert_eq!(
        ok(&images(&["embed-ignition", "--show", "--iso", p(&out)])),
        CONFIG
    );

    ok(&images(&["embed-ignition", "--remove", "--iso", p(&out)]));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        orig,
        "removal restores the ISO byte for byte"
    );
    let err = failed(&images(&["embed-ignition", "--show", "--iso", p(&out)]));
    assert!(err.contains("no embedded Ignition config"), "{err}");
}

#[test]
fn iso_config_larger_than_the_area_rewrites_with_xorriso() {
    let dir = tmp();
    let Some(iso) = live_iso(dir.path()) else {
        return;
    };
    // Incompressible contents, well past the 256 KiB area once gzip-compressed.
    let mut noise = Vec::new();
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(x % 62) as usize],
        );
    }
    let big = format!(
        r#"{{"ignition":{{"version":"3.4.0"}},"storage":{{"files":[{{"path":"/etc/big","contents":{{"source":"data:,{}"}}}}]}}}}"#,
        String::from_utf8(noise).unwrap()
    );
    let cfg = dir.path().join("big.ign");
    std::fs::write(&cfg, &big).unwrap();
    ok(&images(&[
        "embed-ignition",
        "--config",
        p(&cfg),
        "--iso",
        p(&iso),
    ]));
    assert_eq!(
        ok(&images(&["embed-ignition", "--show", "--iso", p(&iso)])),
        big
    );
    // Still bootable the same way: the El Torito image and the isolinux config are there.
    let report = std::process::Command::new("xorriso")
        .args(["-indev", p(&iso), "-report_el_torito", "plain"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&report.stdout).contains("El Torito boot img :   1  BIOS"));
    let cfg_text = iso_extract(&iso, "/isolinux/isolinux.cfg", &dir.path().join("c"));
    assert!(String::from_utf8_lossy(&cfg_text).contains("mooring.live.iso=MOORING-TEST"));
}

#[test]
fn iso_refuses_an_iso_without_the_area() {
    if !have(&["xorriso"]) {
        return;
    }
    let dir = tmp();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello"), b"hi").unwrap();
    let plain = dir.path().join("plain.iso");
    let st = std::process::Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o", p(&plain), p(&src)])
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = dir.path().join("cfg.ign");
    std::fs::write(&cfg, CONFIG).unwrap();
    let err = failed(&images(&[
        "embed-ignition",
        "--config",
        p(&cfg),
        "--iso",
        p(&plain),
    ]));
    assert!(err.contains("no /images/ignition.img"), "{err}");
}
