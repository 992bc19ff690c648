//! A QEMU guest for the disk stages: the Debian kernel of this machine's
//! `linux-image-*` package, and an initramfs built here (newc cpio, written
//! by this module) holding static busybox as the shell, our `ignition`, the
//! tools the stages call with their libraries (found with `ldd`), and the
//! kernel modules they need (with their dependencies from `modules.dep`).
//! The guest's script comes through fw_cfg (`opt/mooring/script`), so do
//! the configs (`opt/com.coreos/config` for the `qemu` platform, more under
//! `opt/mooring/`); the serial console goes to a file; the guest powers off
//! when the script ends. TCG only (KVM hangs on these machines).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The kernel and initramfs to boot.
pub struct Kit {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

/// The programs the guest gets (first match on this machine's PATH).
const TOOLS: &[&str] = &[
    "blkid",
    "wipefs",
    "mkfs.ext4",
    "mkfs.xfs",
    "mkfs.vfat",
    "mkswap",
    "mdadm",
    "cryptsetup",
];

/// Kernel modules (by name; dependencies follow).
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "qemu_fw_cfg",
    "xfs",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "raid1",
    "dm_crypt",
    "xts",
    "ecb",
    "algif_skcipher",
    "algif_hash",
];

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /bb /proc /sys /dev /run /tmp /sysroot /mnt
/bin/busybox --install -s /bb
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/bb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /run/cryptsetup /run/mdadm /dev/md
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
echo MOORING-BOOTED
S=/sys/firmware/qemu_fw_cfg/by_name/opt/mooring/script/raw
if [ -e $S ]; then cat $S > /tmp/script.sh; sh /tmp/script.sh; fi
echo MOORING-DONE
sync
poweroff -f
"#;

/// Why the guest cannot run here, or the kit, built once per test binary.
pub fn kit() -> Result<&'static Kit, String> {
    static KIT: OnceLock<Result<Kit, String>> = OnceLock::new();
    KIT.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn kernel() -> Result<(PathBuf, String), String> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .map_err(|e| format!("/boot: {e}"))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
                .join(&ver)
                .join("modules.dep")
                .exists()
                .then(|| (e.path(), ver))
        })
        .collect();
    // The cloud kernel boots faster: prefer it.
    found.sort_by_key(|(_, v)| !v.contains("cloud"));
    found.into_iter().next().ok_or_else(|| {
        "no /boot/vmlinuz-* with modules (apt-get install linux-image-cloud-amd64)".into()
    })
}

fn build() -> Result<Kit, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    which("qemu-system-x86_64").ok_or("qemu-system-x86_64 is not installed")?;
    let (kernel, ver) = kernel()?;
    let busybox = Path::new("/bin/busybox");
    let static_bb = Command::new("ldd")
        .arg(busybox)
        .output()
        .map(|o| {
            !o.status.success() || String::from_utf8_lossy(&o.stdout).contains("not a dynamic")
        })
        .unwrap_or(false);
    if !busybox.exists() || !static_bb {
        return Err("no static /bin/busybox (apt-get install busybox-static)".into());
    }
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    files.insert("/init".into(), Entry::Data(INIT.as_bytes().to_vec(), 0o755));
    files.insert("/bin/busybox".into(), Entry::File(busybox.into(), 0o755));
    files.insert("/etc/mtab".into(), Entry::Link("/proc/mounts".into()));
    files.insert(
        "/etc/passwd".into(),
        Entry::Data(b"root:x:0:0:root:/:/bin/sh\n".to_vec(), 0o644),
    );
    files.insert(
        "/etc/group".into(),
        Entry::Data(b"root:x:0:\n".to_vec(), 0o644),
    );
    let ign = PathBuf::from(env!("CARGO_BIN_EXE_ignition"));
    add_program(&mut files, &ign, "/usr/bin/ignition")?;
    for t in TOOLS {
        let p =
            which(t).ok_or_else(|| format!("{t} is not installed (see scripts/install-deps)"))?;
        add_program(&mut files, &p, &format!("/usr/sbin/{t}"))?;
    }
    // mkfs.ext4 reads its defaults from here when present.
    if Path::new("/etc/mke2fs.conf").exists() {
        files.insert(
            "/etc/mke2fs.conf".into(),
            Entry::File("/etc/mke2fs.conf".into(), 0o644),
        );
    }
    let order = modules(&ver, &mut files)?;
    files.insert(
        "/modules.order".into(),
        Entry::Data(order.join("\n").into_bytes(), 0o644),
    );

    // One file, replaced on every run (written aside, then renamed).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let initramfs = dir.join("ignition-guest-initramfs.cpio");
    let tmp = dir.join(format!(
        "ignition-guest-initramfs.cpio.{}",
        std::process::id()
    ));
    write_cpio(&files, &tmp)?;
    std::fs::rename(&tmp, &initramfs).map_err(|e| e.to_string())?;
    Ok(Kit { kernel, initramfs })
}

enum Entry {
    File(PathBuf, u32),
    Data(Vec<u8>, u32),
    Link(String),
}

/// Adds a program (its real file, under `dest`) and the libraries `ldd` lists.
fn add_program(
    files: &mut BTreeMap<String, Entry>,
    program: &Path,
    dest: &str,
) -> Result<(), String> {
    let real = std::fs::canonicalize(program).map_err(|e| format!("{}: {e}", program.display()))?;
    files.insert(dest.to_string(), Entry::File(real.clone(), 0o755));
    let out = Command::new("ldd")
        .arg(&real)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let lib = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(lib) = lib.filter(|l| l.starts_with('/')) else {
            continue;
        };
        let src = std::fs::canonicalize(lib).map_err(|e| format!("{lib}: {e}"))?;
        files.insert(lib.to_string(), Entry::File(src, 0o755));
    }
    Ok(())
}

/// Adds the modules with their dependencies; returns the insmod order.
fn modules(ver: &str, files: &mut BTreeMap<String, Entry>) -> Result<Vec<String>, String> {
    let base = Path::new("/lib/modules").join(ver);
    let dep = std::fs::read_to_string(base.join("modules.dep")).map_err(|e| e.to_string())?;
    let norm = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .split(".ko")
                    .next()
                    .unwrap_or("")
                    .replace('-', "_")
            })
            .unwrap_or_default()
    };
    let mut by_name: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep.lines() {
        let Some((m, deps)) = line.split_once(':') else {
            continue;
        };
        by_name.insert(
            norm(m),
            (
                m.to_string(),
                deps.split_whitespace().map(String::from).collect(),
            ),
        );
    }
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        path: &str,
        by_path: &BTreeMap<String, Vec<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(path.to_string()) {
            return;
        }
        for d in by_path.get(path).into_iter().flatten() {
            visit(d, by_path, seen, order);
        }
        order.push(path.to_string());
    }
    let by_path: BTreeMap<String, Vec<String>> = by_name.values().cloned().collect();
    for m in MODULES {
        match by_name.get(*m) {
            Some((path, _)) => visit(path, &by_path, &mut seen, &mut order),
            None => continue, // built in
        }
    }
    for m in &order {
        files.insert(
            format!("/lib/modules/{m}"),
            Entry::File(base.join(m), 0o644),
        );
    }
    Ok(order)
}

/// Writes a newc cpio archive (with every parent directory).
fn write_cpio(files: &BTreeMap<String, Entry>, out: &Path) -> Result<(), String> {
    let mut dirs = BTreeSet::new();
    for p in files.keys() {
        let mut d = Path::new(p).parent();
        while let Some(x) = d.filter(|x| *x != Path::new("/")) {
            dirs.insert(x.to_string_lossy().into_owned());
            d = x.parent();
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| e.to_string())?);
    let mut ino = 1;
    let mut put = |name: &str, mode: u32, data: &[u8]| -> std::io::Result<()> {
        let name = name.trim_start_matches('/');
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        ino += 1;
        w.write_all(header.as_bytes())?;
        w.write_all(name.as_bytes())?;
        w.write_all(&[0])?;
        let pad = |n: usize| (4 - n % 4) % 4;
        w.write_all(&vec![0; pad(110 + name.len() + 1)])?;
        w.write_all(data)?;
        w.write_all(&vec![0; pad(data.len())])
    };
    let io = |e: std::io::Error| e.to_string();
    for d in &dirs {
        put(d, 0o040755, &[]).map_err(io)?;
    }
    for (name, e) in files {
        match e {
            Entry::File(src, mode) => {
                let data = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
                put(name, 0o100000 | mode, &data).map_err(io)?;
            }
            Entry::Data(data, mode) => put(name, 0o100000 | mode, data).map_err(io)?,
            Entry::Link(target) => put(name, 0o120777, target.as_bytes()).map_err(io)?,
        }
    }
    put("TRAILER!!!", 0, &[]).map_err(io)?;
    w.flush().map_err(io)
}

/// One boot: disks (raw image files, `/dev/vda`, `/dev/vdb`, ...), fw_cfg
/// blobs (name under `opt/`, contents) and the script to run.
pub struct Boot<'a> {
    pub dir: &'a Path,
    pub disks: Vec<PathBuf>,
    pub blobs: Vec<(String, Vec<u8>)>,
    pub script: String,
    pub timeout: Duration,
}

/// Boots the guest and returns its serial console output.
pub fn boot(kit: &Kit, b: Boot) -> Result<String, String> {
    let log = b.dir.join("console.log");
    let mut blobs = b.blobs;
    blobs.push(("mooring/script".into(), b.script.into_bytes()));
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg",
        "-m",
        "768",
        "-smp",
        "1",
        "-nodefaults",
        "-no-reboot",
    ])
    .args(["-display", "none", "-monitor", "none"])
    .arg("-serial")
    .arg(format!("file:{}", log.display()))
    .arg("-kernel")
    .arg(&kit.kernel)
    .arg("-initrd")
    .arg(&kit.initramfs)
    .args(["-append", "console=ttyS0 panic=-1 loglevel=3"]);
    for d in &b.disks {
        cmd.arg("-drive").arg(format!(
            "file={},format=raw,if=virtio,cache=unsafe",
            d.display()
        ));
    }
    for (i, (name, data)) in blobs.iter().enumerate() {
        let f = b.dir.join(format!("fwcfg-{i}"));
        std::fs::write(&f, data).map_err(|e| e.to_string())?;
        cmd.arg("-fw_cfg")
            .arg(format!("name=opt/{name},file={}", f.display()));
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting qemu: {e}"))?;
    let deadline = Instant::now() + b.timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let console = std::fs::read_to_string(&log).unwrap_or_default();
            if !status.success() {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut err);
                }
                return Err(format!("qemu exited with {status}: {err}\n{console}"));
            }
            return Ok(console);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let console = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "the guest did not finish within {:?}:\n{console}",
                b.timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A sparse image file.
pub fn image(path: &Path, mib: u64) -> PathBuf {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(mib << 20).unwrap();
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
    path.to_path_buf()
}

/// A loop device over part of an image file; detached on drop.
pub struct Loop(pub String);

impl Loop {
    pub fn new(img: &Path, offset: u64, size: u64) -> Loop {
        let out = Command::new("losetup")
            .args([
                "-f",
                "--show",
                "-r",
                "-o",
                &offset.to_string(),
                "--sizelimit",
                &size.to_string(),
            ])
            .arg(img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `blkid -p` of the device: TYPE, LABEL, UUID...
    pub fn probe(&self) -> BTreeMap<String, String> {
        let out = Command::new("blkid")
            .args(["-p", "-o", "export", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Mounts it read-only on a temporary directory and reads a file.
    pub fn read(&self, fstype: &str, path: &str) -> Option<String> {
        let mnt = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", fstype, "-o", "ro,norecovery", &self.0])
            .arg(mnt.path())
            .status()
            .unwrap();
        assert!(st.success(), "mounting {} ({fstype})", self.0);
        let got = std::fs::read_to_string(mnt.path().join(path.trim_start_matches('/'))).ok();
        let _ = Command::new("umount").arg(mnt.path()).status();
        got
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}
