//! The disk stages in a QEMU guest (this machine's kernel cannot show
//! partitions of a loop device): `ignition -platform qemu` runs
//! fetch-offline, disks, mount, files and umount on virtio disks backed by
//! image files, configs through fw_cfg. Two boots, each running several
//! configs; the tables are read back on the host with `sfdisk -J`, the
//! filesystems through offset loop devices. Needs root, qemu-system-x86,
//! a Debian kernel, busybox-static, mdadm, cryptsetup, fdisk
//! (`scripts/install-deps`); skipped with a printed reason otherwise.

mod disk_table;
mod guest;

use disk_table::table;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn cfg(body: &str) -> String {
    format!(r#"{{"ignition":{{"version":"3.4.0"}},{body}}}"#)
}

/// Shell helpers for the guest script: `run TAG BLOB STAGES...` runs the
/// stages on the config in fw_cfg `opt/mooring/BLOB` (`-` for the qemu
/// platform's own `opt/com.coreos/config`) and prints `MARK TAG rc=N` and
/// the error line (a run starting with fetch-offline starts afresh, without
/// the previous cache and state); `same TAG DEV CMD...` runs CMD and prints whether DEV's
/// bytes stayed the same.
const HELPERS: &str = r#"
FW=/sys/firmware/qemu_fw_cfg/by_name/opt
run() {
  tag=$1; blob=$2; shift 2
  [ "$1" = fetch-offline ] && rm -rf /run/ignition.json /run/ignition /run/ignition-kargs-reboot
  if [ "$blob" = - ]; then unset IGNITION_QEMU_FW_CFG_PATH; else export IGNITION_QEMU_FW_CFG_PATH=$FW/mooring/$blob/raw; fi
  rc=0
  for st in "$@"; do
    ignition -platform qemu -stage $st -root /sysroot -log-to-stdout >/tmp/out 2>/tmp/err
    rc=$?
    sed "s/^/[$tag $st] /" /tmp/out /tmp/err
    [ $rc = 0 ] || break
  done
  echo "MARK $tag rc=$rc"
  [ $rc = 0 ] || echo "ERR $tag $(grep '^ignition: ' /tmp/err | tail -n 1)"
}
same() {
  tag=$1; dev=$2; shift 2
  b=$(sha256sum $dev | cut -d' ' -f1)
  "$@"
  a=$(sha256sum $dev | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then echo "SAME $tag yes"; else echo "SAME $tag no"; fi
}
"#;

fn kit_or_skip() -> Option<&'static guest::Kit> {
    match guest::kit() {
        Ok(k) => Some(k),
        Err(why) => {
            println!("skipped: the QEMU guest cannot run here: {why}");
            None
        }
    }
}

fn expect_line(console: &str, want: &str) {
    assert!(
        console.lines().any(|l| l.trim_end() == want),
        "no line {want:?} in the console:\n{console}"
    );
}

fn err_line<'a>(console: &'a str, tag: &str) -> &'a str {
    let prefix = format!("ERR {tag} ");
    console
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix:?} in the console:\n{console}"))
}

fn part_loop(img: &Path, number: u32) -> guest::Loop {
    let t = table(img);
    let p = t
        .iter()
        .find(|p| p.0 == number)
        .unwrap_or_else(|| panic!("no partition {number} in {t:?}"));
    guest::Loop::new(img, p.1 * 512, p.2 * 512)
}

const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const SWAP: &str = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const ROOT_UUID: &str = "8a1f4f4e-2b1d-4c55-9a3e-0d9e5c7b6a21";

/// A fresh disk: wipeTable, partitions (number 0, fill, labels, types),
/// vfat/swap/xfs/ext4, mount, files, umount; the same layout again
/// (reused, content kept); failures that leave a disk byte-identical
/// (mismatch, bad hash, filesystem mismatch, busy disk); a deletion.
#[test]
fn fresh_disk_reuse_failures_and_deletion() {
    let Some(kit) = kit_or_skip() else { return };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let vda = guest::image(&dir.path().join("vda.img"), 1024);
    let vdb = guest::image(&dir.path().join("vdb.img"), 64);

    // vdb: partition 1 "data" (ext4 holding keep.txt), partition 2 "scratch".
    {
        use ignition::exec::disks::{gpt, plan::Part};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&vdb)
            .unwrap();
        let part = |number, start, size, label: &str| Part {
            number,
            start,
            size,
            type_guid: LINUX.into(),
            guid: String::new(),
            label: label.into(),
        };
        gpt::write_table(
            &mut f,
            512,
            &[
                part(1, 2048, 20 * 2048, "data"),
                part(2, 21 * 2048, 10 * 2048, "scratch"),
            ],
            true,
        )
        .unwrap();
        let st = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "data", "-E", "offset=1048576"])
            .arg(&vdb)
            .arg("20M")
            .status()
            .unwrap();
        assert!(st.success());
        let src = dir.path().join("keep.txt");
        std::fs::write(&src, "kept").unwrap();
        let st = Command::new("debugfs")
            .args(["-w", "-R", &format!("write {} keep.txt", src.display())])
            .arg(format!("{}?offset=1048576", vdb.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }

    let layout = |wipe: bool, numbered: bool, file: &str| {
        let n = |k: u32| if numbered { k } else { 0 };
        cfg(&format!(
            r#""storage":{{
              "disks":[{{"device":"/dev/vda","wipeTable":{wipe},"partitions":[
                {{"number":1,"label":"EFI-SYSTEM","sizeMiB":16,"typeGuid":"{ESP}"}},
                {{"number":{},"label":"swap","sizeMiB":16,"typeGuid":"{SWAP}"}},
                {{"number":{},"label":"var","sizeMiB":320}},
                {{"number":{},"label":"root","sizeMiB":0}}]}}],
              "filesystems":[
                {{"device":"/dev/disk/by-partlabel/EFI-SYSTEM","format":"vfat","label":"EFI","uuid":"1234-ABCD"}},
                {{"device":"/dev/disk/by-partlabel/swap","format":"swap","label":"swap"}},
                {{"device":"/dev/disk/by-partlabel/var","format":"xfs","label":"var","path":"/var"}},
                {{"device":"/dev/vda4","format":"ext4","label":"root","uuid":"{ROOT_UUID}","path":"/"}}],
              "files":[{{"path":"{file}","contents":{{"source":"data:,{file}"}}}},
                       {{"path":"/var/log{file}","contents":{{"source":"data:,var"}}}}]}}"#,
            n(2),
            n(3),
            n(4)
        ))
    };
    let vdb_cfg = |body: &str| cfg(&format!(r#""storage":{{{body}}}"#));
    let blobs = vec![
        ("com.coreos/config".to_string(), layout(true, false, "/etc/hello").into_bytes()),
        ("mooring/a2".into(), layout(false, true, "/etc/second").into_bytes()),
        (
            "mooring/f1".into(),
            vdb_cfg(r#""disks":[{"device":"/dev/vdb","partitions":[{"number":1,"label":"data","sizeMiB":19}]}]"#).into_bytes(),
        ),
        (
            "mooring/f2".into(),
            vdb_cfg(
                r#""disks":[{"device":"/dev/vdb","wipeTable":true}],
                   "files":[{"path":"/x","contents":{"source":"data:,abc","verification":{"hash":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}}]"#,
            )
            .into_bytes(),
        ),
        (
            "mooring/f3".into(),
            vdb_cfg(r#""filesystems":[{"device":"/dev/disk/by-partlabel/data","format":"xfs"}]"#).into_bytes(),
        ),
        (
            "mooring/f4".into(),
            vdb_cfg(r#""disks":[{"device":"/dev/vdb","wipeTable":true,"partitions":[{"number":1,"label":"new"}]}]"#).into_bytes(),
        ),
        (
            "mooring/d1".into(),
            vdb_cfg(
                r#""disks":[{"device":"/dev/vdb","partitions":[
                     {"number":1,"label":"data"},
                     {"number":2,"shouldExist":false,"wipePartitionEntry":true}]}],
                   "filesystems":[{"device":"/dev/disk/by-partlabel/data","format":"ext4","label":"data"}]"#,
            )
            .into_bytes(),
        ),
    ];
    let script = format!(
        r#"{HELPERS}
run a1 - fetch-offline disks mount files umount
run a2 a2 fetch-offline disks mount files umount
same f1 /dev/vdb run f1 f1 fetch-offline disks
same f2 /dev/vdb run f2 f2 fetch-offline disks
same f3 /dev/vdb run f3 f3 fetch-offline disks
mount -t ext4 /dev/vdb1 /mnt
same f4 /dev/vdb run f4 f4 fetch-offline disks
umount /mnt
run d1 d1 fetch-offline disks
"#
    );
    let t0 = std::time::Instant::now();
    let console = guest::boot(
        kit,
        guest::Boot {
            dir: dir.path(),
            disks: vec![vda.clone(), vdb.clone()],
            blobs,
            script,
            timeout: Duration::from_secs(300),
        },
    )
    .unwrap();
    println!("guest boot took {:?}", t0.elapsed());
    expect_line(&console, "MOORING-DONE");

    // The fresh layout, then the same one reused.
    expect_line(&console, "MARK a1 rc=0");
    expect_line(&console, "MARK a2 rc=0");
    assert!(
        console.contains("[a2 disks]  INFO disk /dev/vda: partitions already as asked"),
        "{console}"
    );
    for fs in [
        "/dev/disk/by-partlabel/EFI-SYSTEM",
        "/dev/disk/by-partlabel/var",
        "/dev/vda4",
    ] {
        assert!(
            console.contains(&format!("filesystem {fs}: already as asked, keeping it")),
            "{fs} not kept:\n{console}"
        );
    }
    let last = (1024 << 11) - 34;
    assert_eq!(
        table(&vda),
        vec![
            (1, 2048, 16 * 2048, ESP.into(), "EFI-SYSTEM".into()),
            (2, 17 * 2048, 16 * 2048, SWAP.into(), "swap".into()),
            (3, 33 * 2048, 320 * 2048, LINUX.into(), "var".into()),
            (
                4,
                353 * 2048,
                last - 353 * 2048 + 1,
                LINUX.into(),
                "root".into()
            ),
        ]
    );
    let probe = |n| part_loop(&vda, n).probe();
    let p1 = probe(1);
    assert_eq!(
        (
            p1["TYPE"].as_str(),
            p1["LABEL"].as_str(),
            p1["UUID"].as_str()
        ),
        ("vfat", "EFI", "1234-ABCD")
    );
    let p2 = probe(2);
    assert_eq!(
        (p2["TYPE"].as_str(), p2["LABEL"].as_str()),
        ("swap", "swap")
    );
    let var = part_loop(&vda, 3);
    assert_eq!(var.probe()["LABEL"], "var");
    assert_eq!(var.read("xfs", "/log/etc/hello").as_deref(), Some("var"));
    assert_eq!(var.read("xfs", "/log/etc/second").as_deref(), Some("var"));
    let root = part_loop(&vda, 4);
    let p4 = root.probe();
    assert_eq!(
        (
            p4["TYPE"].as_str(),
            p4["LABEL"].as_str(),
            p4["UUID"].as_str()
        ),
        ("ext4", "root", ROOT_UUID)
    );
    assert_eq!(
        root.read("ext4", "/etc/hello").as_deref(),
        Some("/etc/hello")
    );
    assert_eq!(
        root.read("ext4", "/etc/second").as_deref(),
        Some("/etc/second")
    );

    // Failures: one line each, the disk unchanged.
    for (tag, want) in [
        ("f1", "ignition: disks failed: disk /dev/vdb (/dev/vdb): partition 1 didn't match: size did not match (specified 38912 sectors, got 40960)"),
        ("f2", "ignition: disks failed: $.storage.files.0.contents (/x): data:,…: hash verification failed"),
        ("f3", "ignition: disks failed: /dev/disk/by-partlabel/data: found ext4 (label \"data\""),
        ("f4", "ignition: disks failed: disk /dev/vdb (/dev/vdb): refusing to wipe the partition table: partition 1 (vdb1) is in use (mounted at /mnt)"),
    ] {
        expect_line(&console, &format!("MARK {tag} rc=1"));
        expect_line(&console, &format!("SAME {tag} yes"));
        let err = err_line(&console, tag);
        assert!(err.starts_with(want), "{tag}: {err}\nwanted {want}");
    }

    // Deletion: partition 2 gone, partition 1 and its filesystem kept.
    expect_line(&console, "MARK d1 rc=0");
    let t = table(&vdb);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        (t[0].0, t[0].1, t[0].2, t[0].4.as_str()),
        (1, 2048, 20 * 2048, "data")
    );
    assert_eq!(
        part_loop(&vdb, 1).read("ext4", "/keep.txt").as_deref(),
        Some("kept")
    );
}

/// RAID1 over two disks, LUKS volumes with a key file and with a generated
/// key, filesystems on both, mount and files; then the LUKS volume reused
/// with its key file (content kept) and refused with a wrong one.
#[test]
fn raid_and_luks() {
    let Some(kit) = kit_or_skip() else { return };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let disks: Vec<_> = ["vda", "vdb", "vdc"]
        .iter()
        .map(|n| guest::image(&dir.path().join(format!("{n}.img")), 64))
        .collect();
    let fast = r#""options":["--pbkdf","pbkdf2","--pbkdf-force-iterations","1000"]"#;
    let r1 = cfg(&format!(
        r#""storage":{{
          "disks":[
            {{"device":"/dev/vda","wipeTable":true,"partitions":[{{"number":1,"label":"md-a"}}]}},
            {{"device":"/dev/vdb","wipeTable":true,"partitions":[{{"number":1,"label":"md-b"}}]}},
            {{"device":"/dev/vdc","wipeTable":true,"partitions":[{{"number":1,"label":"crypt-k","sizeMiB":24}},{{"number":2,"label":"crypt-g"}}]}}],
          "raid":[{{"name":"data","level":"raid1","devices":["/dev/disk/by-partlabel/md-a","/dev/disk/by-partlabel/md-b"]}}],
          "luks":[
            {{"name":"secret","device":"/dev/disk/by-partlabel/crypt-k","label":"secret","keyFile":{{"source":"data:,open%20sesame"}},{fast}}},
            {{"name":"gen","device":"/dev/disk/by-partlabel/crypt-g",{fast}}}],
          "filesystems":[
            {{"device":"/dev/md/data","format":"ext4","label":"raid","path":"/"}},
            {{"device":"/dev/mapper/secret","format":"ext4","label":"secret","path":"/secret"}},
            {{"device":"/dev/mapper/gen","format":"swap","label":"genswap"}}],
          "files":[{{"path":"/etc/raid-file","contents":{{"source":"data:,on%20raid"}}}},
                   {{"path":"/secret/file","contents":{{"source":"data:,hidden"}}}}]}}"#
    ));
    let reuse = |key: &str| {
        cfg(&format!(
            r#""storage":{{
              "luks":[{{"name":"secret","device":"/dev/disk/by-partlabel/crypt-k","label":"secret","keyFile":{{"source":"data:,{key}"}},{fast}}}],
              "filesystems":[{{"device":"/dev/mapper/secret","format":"ext4","label":"secret","path":"/"}}]}}"#
        ))
    };
    let script = format!(
        r#"{HELPERS}
run r1 - fetch-offline disks mount files
grep -q '"secret":"data:' /run/ignition/state || echo "KEYS cleared from the state"
[ "$(cat /sysroot/etc/luks/secret)" = "open sesame" ] && echo "KEYFILE secret"
[ -s /sysroot/etc/luks/gen ] && echo "KEYFILE gen"
grep -q '^secret UUID=[0-9a-f-]* /etc/luks/secret luks$' /sysroot/etc/crypttab && echo "CRYPTTAB secret"
grep -q '^gen UUID=[0-9a-f-]* /etc/luks/gen luks$' /sysroot/etc/crypttab && echo "CRYPTTAB gen"
run r1u - umount
grep -q 'active raid1' /proc/mdstat && echo "MDSTAT raid1"
cryptsetup close gen; cryptsetup close secret
run r2 r2 fetch-offline disks mount
echo "READ $(cat /sysroot/file)"
run r2u r2 umount
cryptsetup close secret
run r3 r3 fetch-offline disks
"#
    );
    let blobs = vec![
        ("com.coreos/config".to_string(), r1.into_bytes()),
        ("mooring/r2".into(), reuse("open%20sesame").into_bytes()),
        ("mooring/r3".into(), reuse("wrong").into_bytes()),
    ];
    let t0 = std::time::Instant::now();
    let console = guest::boot(
        kit,
        guest::Boot {
            dir: dir.path(),
            disks: disks.clone(),
            blobs,
            script,
            timeout: Duration::from_secs(300),
        },
    )
    .unwrap();
    println!("guest boot took {:?}", t0.elapsed());
    expect_line(&console, "MOORING-DONE");
    expect_line(&console, "MARK r1 rc=0");
    // The files stage moves the keys from the state file to the root, with crypttab lines (as Go).
    expect_line(&console, "KEYS cleared from the state");
    expect_line(&console, "KEYFILE secret");
    expect_line(&console, "KEYFILE gen");
    expect_line(&console, "CRYPTTAB secret");
    expect_line(&console, "CRYPTTAB gen");
    expect_line(&console, "MARK r1u rc=0");
    expect_line(&console, "MDSTAT raid1");
    expect_line(&console, "MARK r2 rc=0");
    assert!(
        console.contains("luks secret: reusing the volume"),
        "{console}"
    );
    // Mounted as / in the reuse config: /secret/file of the first run is /file.
    expect_line(&console, "READ hidden");
    expect_line(&console, "MARK r3 rc=1");
    let err = err_line(&console, "r3");
    assert!(
        err.contains("luks secret")
            && err.contains("failed to open the volume with the given key file"),
        "{err}"
    );

    for img in &disks[..2] {
        assert_eq!(part_loop(img, 1).probe()["TYPE"], "linux_raid_member");
    }
    let k = part_loop(&disks[2], 1).probe();
    assert_eq!(
        (k["TYPE"].as_str(), k["LABEL"].as_str()),
        ("crypto_LUKS", "secret")
    );
    assert_eq!(part_loop(&disks[2], 2).probe()["TYPE"], "crypto_LUKS");
}
