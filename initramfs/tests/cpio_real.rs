//! The cpio reader and writer against real peers: this host's Debian initramfs, GNU cpio, and
//! the `zstd`/`xz` compressors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use initramfs::cpio::{self, Compression, Entry};

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIP: `{name}` is not installed");
    }
    found
}

fn pipe(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

fn host_initrds() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("initrd.img-"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn reads_this_hosts_debian_initramfs() {
    let initrds = host_initrds();
    if initrds.is_empty() {
        eprintln!("SKIP: no /boot/initrd.img-* on this host");
        return;
    }
    for path in initrds {
        let data = std::fs::read(&path).unwrap();
        let segments =
            cpio::read_segments(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kinds: Vec<_> = segments.iter().map(|s| s.compression.name()).collect();
        eprintln!("{}: segments {kinds:?}", path.display());
        // The segments cover the whole file.
        let covered: u64 = segments.iter().map(|s| s.len).sum();
        assert_eq!(covered, data.len() as u64, "{}", path.display());
        let entries: Vec<Entry> = segments.into_iter().flat_map(|s| s.entries).collect();
        let init = cpio::find_last(&entries, "init").expect("/init");
        assert!(init.is_file() || init.is_symlink(), "{init:?}");
        let modules = entries
            .iter()
            .filter(|e| e.is_file() && e.path.contains("/modules/") && e.path.contains(".ko"))
            .count();
        assert!(
            modules > 10,
            "{}: only {modules} kernel modules",
            path.display()
        );
        let version = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("initrd.img-")
            .to_string();
        assert!(
            entries
                .iter()
                .any(|e| e.path.ends_with(&format!("modules/{version}/modules.dep"))),
            "{}: no modules.dep for {version}",
            path.display()
        );
    }
}

fn sample() -> Vec<Entry> {
    vec![
        Entry::dir("etc", 0o755),
        Entry::file("etc/hostname", 0o644, b"live\n".to_vec()),
        Entry::file(
            "big",
            0o600,
            (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect(),
        ),
        Entry::symlink("init", "etc/hostname"),
    ]
}

fn assert_sample(entries: &[Entry]) {
    let names: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["etc", "etc/hostname", "big", "init"]);
    assert_eq!(entries[2].data.len(), 800_000);
    assert_eq!(entries[2].mode & 0o7777, 0o600);
}

#[test]
fn early_cpio_then_zstd_then_xz_then_gzip() {
    if !tool("zstd") || !tool("xz") {
        return;
    }
    let plain = cpio::archive(&sample()).unwrap();
    let mut image = cpio::archive(&[Entry::file(
        "kernel/x86/microcode/AuthenticAMD.bin",
        0o644,
        vec![1; 100],
    )])
    .unwrap();
    image.resize(512, 0);
    image.extend(pipe(Command::new("zstd").args(["-q", "-c", "-19"]), &plain));
    image.extend([0u8; 8]);
    // xz as the kernel wants it (crc32 check).
    image.extend(pipe(
        Command::new("xz").args(["-c", "--check=crc32"]),
        &plain,
    ));
    image.extend([0u8; 4]);
    image.extend(cpio::gzip_archive(&[Entry::file("last", 0o600, b"!".to_vec())]).unwrap());
    let segs = cpio::read_segments(&image).unwrap();
    let kinds: Vec<_> = segs.iter().map(|s| s.compression).collect();
    assert_eq!(
        kinds,
        [
            Compression::None,
            Compression::Zstd,
            Compression::Xz,
            Compression::Gzip
        ]
    );
    assert_sample(&segs[1].entries);
    assert_sample(&segs[2].entries);
    assert_eq!(segs[3].entries[0].path, "last");
}

fn extract_with_gnu_cpio(archive: &[u8], dir: &Path) {
    let mut child = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(archive).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn gnu_cpio_reads_ours_and_we_read_gnu_cpio() {
    if !tool("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    extract_with_gnu_cpio(&cpio::archive(&sample()).unwrap(), dir.path());
    assert_eq!(
        std::fs::read(dir.path().join("etc/hostname")).unwrap(),
        b"live\n"
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("init")).unwrap(),
        PathBuf::from("etc/hostname")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("big"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);

    // And the other way round: GNU cpio's own newc output.
    let listing = b"etc\netc/hostname\nbig\ninit\n";
    let gnu = pipe(
        Command::new("cpio")
            .args(["-o", "-H", "newc", "--quiet"])
            .current_dir(dir.path()),
        listing,
    );
    let back = cpio::parse_archives(&gnu, 0).unwrap();
    assert_sample(&back);
    assert_eq!(back[3].link_target().as_deref(), Some("etc/hostname"));
}
