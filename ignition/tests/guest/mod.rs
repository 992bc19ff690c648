//! A QEMU guest for the disk stages: the Debian kernel of this machine's
//! `linux-image-*` package, and an initramfs built here (`initramfs::host`)
//! holding static busybox as the shell, our `ignition`, the
//! tools the stages call with their libraries (found with `ldd`), and the
//! kernel modules they need (with their dependencies from `modules.dep`).
//! The guest's script comes through fw_cfg (`opt/mooring/script`), so do
//! the configs (`opt/com.coreos/config` for the `qemu` platform, more under
//! `opt/mooring/`); the serial console goes to a file; the guest powers off
//! when the script ends. TCG only (KVM hangs on these machines).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use initramfs::host;
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

fn build() -> Result<Kit, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    which("qemu-system-x86_64").ok_or("qemu-system-x86_64 is not installed")?;
    let text = |e: anyhow::Error| format!("{e:#}");
    let (kernel, ver) = host::kernel().map_err(text)?;
    let busybox = host::static_busybox().map_err(text)?;
    let mut tree = host::Tree::new();
    tree.data("init", 0o755, INIT);
    tree.copy("bin/busybox", 0o755, &busybox).map_err(text)?;
    tree.symlink("etc/mtab", "/proc/mounts");
    tree.data("etc/passwd", 0o644, "root:x:0:0:root:/:/bin/sh\n");
    tree.data("etc/group", 0o644, "root:x:0:\n");
    let ign = PathBuf::from(env!("CARGO_BIN_EXE_ignition"));
    add_program(&mut tree, &ign, "/usr/bin/ignition")?;
    for t in TOOLS {
        let p =
            which(t).ok_or_else(|| format!("{t} is not installed (see scripts/install-deps)"))?;
        add_program(&mut tree, &p, &format!("/usr/sbin/{t}"))?;
    }
    // mkfs.ext4 reads its defaults from here when present.
    let mke2fs = Path::new("/etc/mke2fs.conf");
    if mke2fs.exists() {
        tree.copy("etc/mke2fs.conf", 0o644, mke2fs).map_err(text)?;
    }
    tree.modules(&ver, MODULES).map_err(text)?;

    // One file, replaced on every run (written aside, then renamed).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let initramfs = dir.join("ignition-guest-initramfs.cpio");
    let tmp = dir.join(format!(
        "ignition-guest-initramfs.cpio.{}",
        std::process::id()
    ));
    tree.write(&tmp).map_err(text)?;
    std::fs::rename(&tmp, &initramfs).map_err(|e| e.to_string())?;
    Ok(Kit { kernel, initramfs })
}

/// Adds a program (its real file, under `dest`) and the libraries `ldd` lists.
fn add_program(tree: &mut host::Tree, program: &Path, dest: &str) -> Result<(), String> {
    let text = |e: anyhow::Error| format!("{e:#}");
    let real = std::fs::canonicalize(program).map_err(|e| format!("{}: {e}", program.display()))?;
    tree.copy(dest, 0o755, &real).map_err(text)?;
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
        tree.copy(lib, 0o755, &src).map_err(text)?;
    }
    Ok(())
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
