//! The `disks`, `mount`/`umount` and `kargs` stages of our `ignition`
//! binary on the host, without a VM: partition tables written into image
//! files (a regular file is a disk to the stage: the GPT is written, only
//! telling the kernel is skipped), read back with `sfdisk -J` (or gptman);
//! filesystems and Go's reuse rule on whole image files; fetch-before-cut
//! and mismatches leaving the image byte-identical; dry runs; BLS entries.
//! Partition devices need a kernel with partition support: those cases run
//! in a QEMU guest (`exec_disks_guest.rs`).

mod disk_table;

use disk_table::{have, table};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sys")).unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        Env { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A sparse image file of `mib` MiB.
    fn image(&self, name: &str, mib: u64) -> PathBuf {
        let p = self.path(name);
        std::fs::File::create(&p)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        p
    }
    fn stage(&self, stage: &str, config: &str, extra: &[&str]) -> Output {
        let cache = self.path("cache.json");
        std::fs::write(&cache, config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_ignition"))
            .args(["-platform", "file", "-stage", stage, "-log-to-stdout"])
            .arg(format!("-root={}", self.path("root").display()))
            .arg("--config-cache")
            .arg(&cache)
            .arg("-state-file")
            .arg(self.path("state"))
            .args(extra)
            .env("IGNITION_SYSTEM_CONFIG_DIR", self.path("sys"))
            .env("IGNITION_KARGS_REBOOT_PATH", self.path("kargs-reboot"))
            .output()
            .unwrap()
    }
    fn ok(&self, stage: &str, config: &str) -> String {
        let out = self.stage(stage, config, &[]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Runs a stage that must fail; returns its one-line error.
    fn fails(&self, stage: &str, config: &str) -> String {
        let out = self.stage(stage, config, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        stderr
            .lines()
            .rfind(|l| l.starts_with("ignition: "))
            .unwrap_or_else(|| panic!("no error line in {stderr}"))
            .to_string()
    }
}

fn cfg(body: &str) -> String {
    format!(r#"{{"ignition":{{"version":"3.4.0"}},{body}}}"#)
}

/// The image's digest (sha256sum: the sha2 crate is slow in debug builds).
fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

fn layout_config(img: &Path, wipe: bool, numbered: bool) -> String {
    let n = |k: u32| if numbered { k } else { 0 };
    cfg(&format!(
        r#""storage":{{"disks":[{{"device":"{}","wipeTable":{wipe},"partitions":[
            {{"number":1,"label":"EFI-SYSTEM","sizeMiB":16,"typeGuid":"{}"}},
            {{"number":{},"label":"swap","sizeMiB":8}},
            {{"number":5,"label":"late","startMiB":60,"sizeMiB":2}},
            {{"number":{},"label":"root","sizeMiB":0,"guid":"5b4c0c54-0a55-4a4b-9d0a-1a2b3c4d5e6f"}}]}}]}}"#,
        img.display(),
        ESP.to_lowercase(),
        n(2),
        n(3)
    ))
}

#[test]
fn partitions_an_image_file_and_keeps_a_matching_table() {
    let e = Env::new();
    let img = e.image("disk.img", 64);
    // Some garbage where the old table would be, to see wipeTable at work.
    std::fs::write(&img, vec![0xAB; 4096]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    e.ok("disks", &layout_config(&img, true, false));
    assert_eq!(
        table(&img),
        vec![
            (1, 2048, 16 * 2048, ESP.into(), "EFI-SYSTEM".into()),
            (2, 17 * 2048, 8 * 2048, LINUX.into(), "swap".into()),
            // "root" fills the largest free block, 25..60 MiB, not the
            // smaller one after "late" (sgdisk's rule)
            (3, 25 * 2048, 35 * 2048, LINUX.into(), "root".into()),
            (5, 60 * 2048, 2 * 2048, LINUX.into(), "late".into()),
        ]
    );
    let mut f = std::fs::File::open(&img).unwrap();
    let (layout, _) = ignition::exec::disks::gpt::read_layout(&mut f, 512).unwrap();
    assert_eq!(layout.parts[2].guid, "5B4C0C54-0A55-4A4B-9D0A-1A2B3C4D5E6F");

    // The same layout with explicit numbers and no wipe: every partition
    // matches, nothing is written.
    let before = sha256(&img);
    let out = e.ok("disks", &layout_config(&img, false, true));
    assert!(out.contains("partitions already as asked"), "{out}");
    assert_eq!(sha256(&img), before);
}

#[test]
fn a_mismatch_or_a_bad_resource_leaves_the_disk_byte_identical() {
    let e = Env::new();
    let img = e.image("disk.img", 64);
    e.ok("disks", &layout_config(&img, true, true));
    let before = sha256(&img);

    // A size that does not match, without wipePartitionEntry.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","partitions":[{{"number":2,"label":"swap","sizeMiB":7}}]}}]}}"#,
            img.display()
        )),
    );
    assert_eq!(
        err,
        format!(
            "ignition: disks failed: disk {0} ({0}): partition 2 didn't match: size did not match (specified 14336 sectors, got 16384)",
            img.display()
        )
    );
    assert_eq!(sha256(&img), before);

    // A file whose hash is wrong: nothing is touched, even with wipeTable.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","wipeTable":true}}],
              "files":[{{"path":"/etc/x","contents":{{"source":"data:,abc","verification":{{"hash":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}}}}}]}}"#,
            img.display()
        )),
    );
    assert!(err.contains("$.storage.files.0.contents (/etc/x)"), "{err}");
    assert!(err.contains("hash"), "{err}");
    assert_eq!(sha256(&img), before);

    // A LUKS key file that cannot be fetched.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","wipeTable":true}}],
              "luks":[{{"name":"x","device":"/dev/disk/by-partlabel/swap","keyFile":{{"source":"data:,k","verification":{{"hash":"sha256-1111111111111111111111111111111111111111111111111111111111111111"}}}}}}]}}"#,
            img.display()
        )),
    );
    assert!(err.contains("$.storage.luks.0.keyFile (luks x)"), "{err}");
    assert_eq!(sha256(&img), before);

    // A device nothing creates.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","wipeTable":true}}],
              "filesystems":[{{"device":"/dev/disk/by-partlabel/nowhere-xyz","format":"ext4"}}]}}"#,
            img.display()
        )),
    );
    assert_eq!(
        err,
        "ignition: disks failed: filesystem /dev/disk/by-partlabel/nowhere-xyz: device not found"
    );
    assert_eq!(sha256(&img), before);

    // shouldExist: false without wipePartitionEntry.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","partitions":[{{"number":5,"shouldExist":false}}]}}]}}"#,
            img.display()
        )),
    );
    assert!(
        err.ends_with(
            "partition 5 exists but is specified as nonexistent and wipePartitionEntry is false"
        ),
        "{err}"
    );
    assert_eq!(sha256(&img), before);

    // A missing disk.
    let err = e.fails(
        "disks",
        &cfg(r#""storage":{"disks":[{"device":"/dev/disk/by-id/none-such","wipeTable":true}]}"#),
    );
    assert_eq!(
        err,
        "ignition: disks failed: disk /dev/disk/by-id/none-such: not found"
    );
}

#[test]
fn deletes_and_resizes_partitions() {
    let e = Env::new();
    let img = e.image("disk.img", 64);
    e.ok(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","wipeTable":true,"partitions":[
                {{"number":1,"label":"a","sizeMiB":10}},{{"number":2,"label":"b","sizeMiB":10}}]}}]}}"#,
            img.display()
        )),
    );
    e.ok(
        "disks",
        &cfg(&format!(
            r#""storage":{{"disks":[{{"device":"{}","partitions":[
                {{"number":1,"label":"a","sizeMiB":0,"resize":true}},
                {{"number":2,"shouldExist":false,"wipePartitionEntry":true}}]}}]}}"#,
            img.display()
        )),
    );
    let t = table(&img);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        (t[0].0, t[0].1, t[0].2),
        (1, 2048, (64 << 11) - 34 - 2048 + 1)
    );
    assert_eq!(t[0].4, "a");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let e = Env::new();
    let img = e.image("disk.img", 64);
    let before = sha256(&img);
    let out = e.stage("disks", &layout_config(&img, true, false), &["-dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "[dry-run] disks: disk IMG (IMG): wipe the partition table",
        "[dry-run] disks: disk IMG (IMG): create partition 1: sectors 2048..34815 (16 MiB), label \"EFI-SYSTEM\", type C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        "[dry-run] disks: disk IMG (IMG): create partition 3: sectors 51200..122879 (35 MiB), label \"root\", type 0FC63DAF-8483-4772-8E79-3D69D8477DE4, guid 5B4C0C54-0A55-4A4B-9D0A-1A2B3C4D5E6F",
        "[dry-run] disks: disk IMG (IMG): write the GPT and tell the kernel",
    ] {
        let want = want.replace("IMG", &img.display().to_string());
        assert!(stdout.contains(&want), "{want}\nin\n{stdout}");
    }
    assert_eq!(sha256(&img), before);
    assert!(!e.path("state").exists());

    // mount and umount say what they would do.
    let mcfg = cfg(
        r#""storage":{"filesystems":[{"device":"/dev/disk/by-label/v","format":"xfs","path":"/var/lib"},
            {"device":"/dev/disk/by-label/r","format":"ext4","path":"/"},
            {"device":"/dev/disk/by-label/s","format":"swap","path":"/swap"}]}"#,
    );
    let root = e.path("root");
    let out = e.stage("mount", &mcfg, &["-dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("[dry-run]"))
        .collect();
    assert_eq!(
        lines[..4],
        [
            format!(
                "[dry-run] mount: mount /dev/disk/by-label/r (ext4) at {}",
                root.display()
            ),
            format!("[dry-run] mount: create directory {}/var", root.display()),
            format!(
                "[dry-run] mount: create directory {}/var/lib",
                root.display()
            ),
            format!(
                "[dry-run] mount: mount /dev/disk/by-label/v (xfs) at {}/var/lib",
                root.display()
            ),
        ]
    );
    assert!(!root.join("var").exists());
    let out = e.stage("umount", &mcfg, &["-dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("[dry-run] umount: unmount"))
        .collect();
    assert_eq!(
        lines,
        [
            format!("[dry-run] umount: unmount {}/var/lib", root.display()),
            format!("[dry-run] umount: unmount {}", root.display()),
        ]
    );
}

#[test]
fn filesystem_reuse_rule_on_whole_image_files() {
    for tool in ["blkid", "wipefs", "mkfs.ext4", "mkswap"] {
        if !have(tool) {
            println!("skipped: {tool} is not installed (scripts/install-deps installs it)");
            return;
        }
    }
    let e = Env::new();
    let img = e.image("fs.img", 32);
    let dev = img.display().to_string();
    let ext4 = |extra: &str| {
        cfg(&format!(
            r#""storage":{{"filesystems":[{{"device":"{dev}","format":"ext4","label":"data"{extra}}}]}}"#
        ))
    };
    let probe = |what: &str| {
        let out = Command::new("blkid")
            .args(["-p", "-o", "value", "-s", what])
            .arg(&img)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    e.ok("disks", &ext4(""));
    assert_eq!(probe("TYPE"), "ext4");
    let uuid = probe("UUID");
    let before = sha256(&img);
    // Same format and label: kept, untouched.
    let out = e.ok(
        "disks",
        &ext4(&format!(r#","uuid":"{}""#, uuid.to_uppercase())),
    );
    assert!(out.contains("already as asked, keeping it"), "{out}");
    assert_eq!(sha256(&img), before);
    // Another label, no wipe: an error naming what was found; untouched.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"filesystems":[{{"device":"{dev}","format":"ext4","label":"other"}}]}}"#
        )),
    );
    assert_eq!(
        err,
        format!(
            "ignition: disks failed: {dev}: found ext4 (label \"data\", UUID \"{uuid}\") but the config asks for ext4 labelled \"other\" and wipeFilesystem is not set"
        )
    );
    assert_eq!(sha256(&img), before);
    // Another format with wipeFilesystem: replaced.
    e.ok(
        "disks",
        &cfg(&format!(
            r#""storage":{{"filesystems":[{{"device":"{dev}","format":"swap","label":"sw","wipeFilesystem":true}}]}}"#
        )),
    );
    assert_eq!(
        (probe("TYPE"), probe("LABEL")),
        ("swap".into(), "sw".into())
    );
    // format none on a device with a filesystem: an error without wipe.
    let err = e.fails(
        "disks",
        &cfg(&format!(
            r#""storage":{{"filesystems":[{{"device":"{dev}","format":"none"}}]}}"#
        )),
    );
    assert!(err.contains("found swap"), "{err}");
}

#[test]
fn kargs_edits_boot_entries_and_signals_a_reboot() {
    let e = Env::new();
    let entries = e.path("root/boot/loader/entries");
    std::fs::create_dir_all(&entries).unwrap();
    std::fs::write(
        entries.join("ostree-1-debian.conf"),
        "title Debian\nversion 1\nlinux /boot/vmlinuz\noptions root=LABEL=root rw quiet ostree=/ostree/boot.1/x\n",
    )
    .unwrap();
    let c = cfg(
        r#""kernelArguments":{"shouldExist":["console=ttyS0","rw"],"shouldNotExist":["quiet","nosuch"]}"#,
    );
    let out = e.stage("kargs", &c, &["-dry-run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("signal that a reboot is needed"));
    assert!(!e.path("kargs-reboot").exists());
    e.ok("kargs", &c);
    assert_eq!(
        std::fs::read_to_string(entries.join("ostree-1-debian.conf")).unwrap(),
        "title Debian\nversion 1\nlinux /boot/vmlinuz\noptions root=LABEL=root rw ostree=/ostree/boot.1/x console=ttyS0\n"
    );
    assert!(e.path("kargs-reboot").exists());
    // Already applied: no change, no signal.
    std::fs::remove_file(e.path("kargs-reboot")).unwrap();
    e.ok("kargs", &c);
    assert!(!e.path("kargs-reboot").exists());
}
