//! `images install` on files and loop devices: a synthetic GPT image built here with gptman and
//! mkfs.ext4 (and `images build`'s disk.raw when $MOORING_TEST_DISK_RAW names one).

mod live_common;

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gptman::{GPTPartitionEntry, GPT};
use images::install;
use live_common::*;

const MIB: u64 = 1 << 20;
const LINUX: [u8; 16] = [
    0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
];
const BIOS_BOOT: [u8; 16] = [
    0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6F, 0x6E, 0x74, 0x4E, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49,
];

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 64 MiB GPT image: 1 BIOS-BOOT (1 MiB), 2 boot (ext4, label boot, 24 MiB), 3 root (ext4,
/// label root, 24 MiB, with a file in it).
fn synthetic_image(dir: &Path) -> PathBuf {
    let img = dir.join("disk.raw");
    let f = File::create(&img).unwrap();
    f.set_len(64 * MIB).unwrap();
    drop(f);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    let mut gpt = GPT::new_from(&mut f, 512, [7; 16]).unwrap();
    let parts = [
        (1u32, "BIOS-BOOT", BIOS_BOOT, 1, 1),
        (2, "boot", LINUX, 2, 24),
        (3, "root", LINUX, 26, 24),
    ];
    for (n, name, ty, start_mib, size_mib) in parts {
        gpt[n] = GPTPartitionEntry {
            partition_type_guid: ty,
            unique_partition_guid: [n as u8; 16],
            starting_lba: start_mib * MIB / 512,
            ending_lba: (start_mib + size_mib) * MIB / 512 - 1,
            attribute_bits: 0,
            partition_name: name.into(),
        };
    }
    gpt.write_into(&mut f).unwrap();
    GPT::write_protective_mbr_into(&mut f, 512).unwrap();
    drop(f);
    let content = dir.join("rootdir");
    fs::create_dir_all(content.join("etc")).unwrap();
    fs::write(content.join("etc/os-release"), "ID=mooring\n").unwrap();
    sh(Command::new("mkfs.ext4").args([
        "-q",
        "-F",
        "-L",
        "boot",
        "-E",
        &format!("offset={}", 2 * MIB),
        p(&img),
        "24M",
    ]));
    sh(Command::new("mkfs.ext4").args([
        "-q",
        "-F",
        "-L",
        "root",
        "-d",
        p(&content),
        "-E",
        &format!("offset={}", 26 * MIB),
        p(&img),
        "24M",
    ]));
    img
}

fn range(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut v = vec![0; len as usize];
    f.read_exact(&mut v).unwrap();
    v
}

fn target(dir: &Path, name: &str, size: u64) -> PathBuf {
    let t = dir.join(name);
    let f = File::create(&t).unwrap();
    f.set_len(size).unwrap();
    t
}

/// `images install --ignition CFG --image IMG DEV`.
fn install_with(cfg: &str, img: &str, dev: &str) -> Output {
    images(&["install", "--ignition", cfg, "--image", img, dev])
}

fn tools() -> bool {
    have(&["mkfs.ext4", "debugfs", "e2fsck"])
}

#[test]
fn installs_to_a_larger_file_and_places_the_config() {
    if !tools() {
        return;
    }
    let dir = tmp();
    let img = synthetic_image(dir.path());
    let dev = target(dir.path(), "target.img", 96 * MIB);
    let cfg = dir.path().join("cfg.ign");
    fs::write(&cfg, CONFIG).unwrap();
    ok(&install_with(p(&cfg), p(&img), p(&dev)));

    assert_eq!(
        install::read_boot_config(&dev).unwrap().as_deref(),
        Some(CONFIG.as_bytes())
    );
    let spec = format!("{}?offset={}", p(&dev), 2 * MIB);
    let stat = Command::new("debugfs")
        .args(["-R", "stat /ignition/config.ign", &spec])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout);
    assert!(stat.contains("Mode:  0600"), "{stat}");
    assert!(stat.contains("User:     0   Group:     0"), "{stat}");
    sh(Command::new("e2fsck").args(["-fn", &spec]));
    // The root filesystem arrived byte for byte.
    assert_eq!(
        range(&dev, 26 * MIB, 24 * MIB),
        range(&img, 26 * MIB, 24 * MIB)
    );
    // The GPT now spans the whole target: backup header in its last sector.
    let mut f = File::open(&dev).unwrap();
    let gpt = GPT::find_from(&mut f).unwrap();
    assert_eq!(gpt.header.backup_lba, 96 * MIB / 512 - 1);
    assert_eq!(gpt[2].partition_name.as_str(), "boot");
    f.seek(SeekFrom::Start(96 * MIB - 512)).unwrap();
    let mut last = [0u8; 8];
    f.read_exact(&mut last).unwrap();
    assert_eq!(&last, b"EFI PART");
    let boot = install::find_boot_partition(&dev).unwrap();
    assert_eq!(
        (boot.number, boot.offset, boot.size),
        (2, 2 * MIB, 24 * MIB)
    );

    // Installing again replaces the config.
    let cfg2 = dir.path().join("cfg2.ign");
    fs::write(&cfg2, r#"{"ignition":{"version":"3.0.0"}}"#).unwrap();
    ok(&install_with(p(&cfg2), p(&img), p(&dev)));
    assert_eq!(
        install::read_boot_config(&dev).unwrap().as_deref(),
        Some(&br#"{"ignition":{"version":"3.0.0"}}"#[..])
    );
    // The image itself was not touched.
    assert!(install::read_boot_config(&img).unwrap().is_none());
}

#[test]
fn refuses_small_targets_invalid_configs_and_the_image_itself() {
    if !tools() {
        return;
    }
    let dir = tmp();
    let img = synthetic_image(dir.path());
    let cfg = dir.path().join("cfg.ign");
    fs::write(&cfg, CONFIG).unwrap();
    let small = target(dir.path(), "small.img", 32 * MIB);
    let err = failed(&install_with(p(&cfg), p(&img), p(&small)));
    assert!(
        err.contains(p(&small)) && err.contains("smaller than the image"),
        "{err}"
    );
    assert!(range(&small, 0, 4096).iter().all(|b| *b == 0), "untouched");

    let bad = dir.path().join("bad.ign");
    fs::write(&bad, INVALID).unwrap();
    let dev = target(dir.path(), "t.img", 64 * MIB);
    let err = failed(&install_with(p(&bad), p(&img), p(&dev)));
    assert!(
        err.contains(p(&bad)) && err.contains("$.storage.files.0.path"),
        "{err}"
    );
    assert!(range(&dev, 0, 4096).iter().all(|b| *b == 0), "untouched");

    let err = failed(&install_with(p(&cfg), p(&img), p(&img)));
    assert!(err.contains("is the image itself"), "{err}");
    let err = failed(&install_with(p(&cfg), p(&img), "/no/such/device"));
    assert!(err.contains("/no/such/device"), "{err}");
}

/// A loop device, detached on drop.
struct Loop(String);
impl Loop {
    fn attach(file: &Path) -> Loop {
        let out = Command::new("losetup")
            .args(["--find", "--show", p(file)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// A mount, unmounted on drop.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn block_devices_and_what_is_in_use() {
    if !is_root() || !tools() || !have(&["losetup"]) {
        eprintln!("SKIP: needs root and losetup (loop devices)");
        return;
    }
    let dir = tmp();
    let img = synthetic_image(dir.path());
    let cfg = dir.path().join("cfg.ign");
    fs::write(&cfg, CONFIG).unwrap();

    // A loop device as the target: written through the block device path.
    let backing = target(dir.path(), "backing.img", 80 * MIB);
    {
        let dev = Loop::attach(&backing);
        // The backing file is in use while attached.
        let err = failed(&install_with(p(&cfg), p(&img), p(&backing)));
        assert!(err.contains("attached to /dev/loop"), "{err}");
        ok(&install_with(p(&cfg), p(&img), &dev.0));
        assert_eq!(
            install::read_boot_config(Path::new(&dev.0))
                .unwrap()
                .as_deref(),
            Some(CONFIG.as_bytes())
        );
        assert_eq!(
            range(&backing, 26 * MIB, 24 * MIB),
            range(&img, 26 * MIB, 24 * MIB)
        );
    }

    // A mounted block device is refused, by name.
    let fsimg = target(dir.path(), "fs.img", 80 * MIB);
    sh(Command::new("mkfs.ext4").args(["-q", "-F", p(&fsimg)]));
    let dev = Loop::attach(&fsimg);
    let mnt = dir.path().join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    sh(Command::new("mount").args([&dev.0, p(&mnt)]));
    let _m = Mount(mnt.clone());
    let err = failed(&install_with(p(&cfg), p(&img), &dev.0));
    assert!(
        err.contains(&dev.0) && err.contains(&format!("mounted on {}", mnt.display())),
        "{err}"
    );
}

#[test]
fn installs_the_built_disk_image() {
    let Some(raw) = std::env::var_os("MOORING_TEST_DISK_RAW").map(PathBuf::from) else {
        eprintln!("SKIP: set MOORING_TEST_DISK_RAW to the disk.raw of `images build`");
        return;
    };
    if !tools() {
        return;
    }
    let dir = tmp();
    let len = fs::metadata(&raw).unwrap().len();
    let dev = target(dir.path(), "target.img", len + 64 * MIB);
    let cfg = dir.path().join("cfg.ign");
    fs::write(&cfg, CONFIG).unwrap();
    ok(&install_with(p(&cfg), p(&raw), p(&dev)));
    assert_eq!(
        install::read_boot_config(&dev).unwrap().as_deref(),
        Some(CONFIG.as_bytes())
    );
    let boot = install::find_boot_partition(&dev).unwrap();
    sh(Command::new("e2fsck").args(["-fn", &format!("{}?offset={}", p(&dev), boot.offset)]));
}
