//! Scenario 7, live and network boot: the image's PXE artifacts (kernel, initramfs + rootfs
//! concatenated as one initrd, the PXE command line) and its live ISO (a CD-ROM booted by
//! SeaBIOS and isolinux) each come up configured by a config embedded with
//! `images embed-ignition`; from the live PXE system, `images install` writes the image (a
//! read-only second disk) with a config to the VM's first disk, which then boots alone through
//! its bootloader and is provisioned by Ignition from the installed config.
//!
//! A small ext4 disk made on the host (`/dev/vdc` in the live system) carries the installed
//! config and an `images` binary, used when the image does not ship `/usr/bin/images`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use super::common::{FIRST_BOOT, POWEROFF};
use crate::agent::{self, data_url};
use crate::cmd;
use crate::ctx::Ctx;
use crate::disk;
use crate::image::{sibling_binary, Image};
use crate::machine::Machine;
use crate::qemu::{BootFrom, Drive, VmSpec};

const LIVE_FILE: &str = "/etc/mooring-live/embedded.txt";
const LIVE_TEXT: &str = "embedded-config-ok\n";
const INSTALLED_FILE: &str = "/etc/mooring-installed/installed.txt";
const INSTALLED_TEXT: &str = "installed-config-ok\n";
/// The target disk: larger than the image's 4 GiB (install moves the backup GPT to its end).
const TARGET_MIB: u64 = 5120;
/// Writing the 4 GiB image under TCG (the guest reads every byte of the image disk).
const INSTALL: Duration = Duration::from_secs(2400);
/// The ISO boot waits for the CD and reads the squashfs through the emulated IDE drive.
const ISO_BOOT: Duration = Duration::from_secs(900);
/// Where the tools disk is mounted in the live system.
const TOOLS: &str = "/run/mooring-vm-tests";

/// The live artifacts `images build` wrote next to the disk image.
struct Live {
    vmlinuz: PathBuf,
    initramfs: PathBuf,
    rootfs: PathBuf,
    cmdline: String,
    iso: PathBuf,
}

impl Live {
    fn open(image: &Image) -> Result<Live> {
        let pxe = image.dir.join("pxe");
        let live = Live {
            vmlinuz: pxe.join("vmlinuz"),
            initramfs: pxe.join("initramfs.img"),
            rootfs: pxe.join("rootfs.img"),
            cmdline: String::new(),
            iso: image.dir.join("live.iso"),
        };
        for p in [&live.vmlinuz, &live.initramfs, &live.rootfs, &live.iso] {
            ensure!(
                p.is_file(),
                "{}: missing; the image directory has no live artifacts (rebuild it with `images build`)",
                p.display()
            );
        }
        let cmdline_file = pxe.join("cmdline");
        let cmdline = std::fs::read_to_string(&cmdline_file)
            .with_context(|| format!("reading {}", cmdline_file.display()))?;
        Ok(Live {
            cmdline: cmdline.trim().to_string(),
            ..live
        })
    }
}

/// A config writing `path` with `text`, plus the agent.
fn config_with_file(path: &str, text: &str) -> Result<Value> {
    let mut c = json!({
        "ignition": {"version": "3.4.0"},
        "storage": {"files": [{
            "path": path,
            "mode": 0o644,
            "contents": {"source": data_url(text.as_bytes())}
        }]}
    });
    agent::merge_into(&mut c)?;
    Ok(c)
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(v)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// A machine with the scenario's defaults: network (the live image waits for
/// `network-online`), console, markers and the agent's port in the work directory.
fn spec(ctx: &Ctx, name: &str) -> VmSpec {
    let mut s = VmSpec::new(ctx.accel, ctx.work.join(&format!("console-{name}.log")));
    s.markers_log = Some(ctx.work.join(&format!("markers-{name}.log")));
    s.agent_socket = Some(ctx.work.join(&format!("agent-{name}.sock")));
    s.network = Some(Vec::new());
    s
}

/// The checks on a live system: `mooring.live` on the command line, the root an overlay,
/// the embedded config's file written. Returns the command line.
fn check_live(m: &mut Machine) -> Result<String> {
    let cmdline = m.run("cat /proc/cmdline")?;
    ensure!(
        cmdline.split_whitespace().any(|a| a == "mooring.live"),
        "the live system's command line lacks mooring.live: {cmdline:?}"
    );
    let fstype = m.run("findmnt -no FSTYPE /sysroot")?;
    ensure!(
        fstype.trim() == "overlay",
        "the live system's /sysroot is {:?}, not the live overlay",
        fstype.trim()
    );
    let text = m.run(&format!("cat {LIVE_FILE}"))?;
    ensure!(
        text == LIVE_TEXT,
        "{LIVE_FILE} holds {text:?}, not the embedded config's {LIVE_TEXT:?}"
    );
    Ok(cmdline)
}

/// A small ext4 disk image holding `images` and the installed config (`mkfs.ext4 -d`).
fn tools_disk(ctx: &Ctx, target_cfg: &Path) -> Result<PathBuf> {
    let dir = ctx.work.join("tools");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let images = sibling_binary("images")?;
    std::fs::copy(&images, dir.join("images"))
        .with_context(|| format!("copying {}", images.display()))?;
    std::fs::copy(target_cfg, dir.join("target.ign"))
        .with_context(|| format!("copying {}", target_cfg.display()))?;
    let raw = ctx.work.join("tools.raw");
    let mib = std::fs::metadata(&images)?.len() / (1 << 20) + 32;
    disk::blank_raw(&raw, mib)?;
    cmd::run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "VMTOOLS", "-d"])
            .arg(&dir)
            .arg(&raw),
    )?;
    Ok(raw)
}

fn step(name: &str, start: Instant) {
    eprintln!(
        "vm-tests: live-and-network-boot: {name} ({}s)",
        start.elapsed().as_secs()
    );
}

/// (a) PXE, then (c) `images install` from that live system.
fn pxe_and_install(ctx: &Ctx, live: &Live, target: &Path) -> Result<()> {
    let image = ctx.image()?;
    let images = sibling_binary("images")?;

    let live_cfg = ctx.work.join("live.ign");
    write_json(&live_cfg, &config_with_file(LIVE_FILE, LIVE_TEXT)?)?;
    let initramfs = ctx.work.join("pxe-initramfs.img");
    cmd::run(
        Command::new(&images)
            .args(["embed-ignition", "--config"])
            .arg(&live_cfg)
            .arg("--pxe-initramfs")
            .arg(&live.initramfs)
            .arg("--output")
            .arg(&initramfs),
    )?;
    // What a PXE server gives as `initrd=initramfs.img,rootfs.img`: one after the other.
    let initrd = ctx.work.join("pxe-initrd.img");
    let mut out =
        std::fs::File::create(&initrd).with_context(|| format!("creating {}", initrd.display()))?;
    for part in [&initramfs, &live.rootfs] {
        let mut f =
            std::fs::File::open(part).with_context(|| format!("opening {}", part.display()))?;
        std::io::copy(&mut f, &mut out)
            .with_context(|| format!("appending {} to {}", part.display(), initrd.display()))?;
    }
    drop(out);

    let target_cfg = ctx.work.join("target.ign");
    write_json(
        &target_cfg,
        &config_with_file(INSTALLED_FILE, INSTALLED_TEXT)?,
    )?;
    let tools = tools_disk(ctx, &target_cfg)?;
    let (image_disk, format) = match image.dir.join("disk.raw") {
        raw if raw.is_file() => (raw, "raw"),
        _ => (image.disk_qcow2(), "qcow2"),
    };

    let mut s = spec(ctx, "pxe");
    s.boot = BootFrom::Kernel {
        kernel: live.vmlinuz.clone(),
        initrd,
        append: live.cmdline.clone(),
    };
    s.drives.push(Drive {
        path: target.to_path_buf(),
        format: "qcow2".into(),
    });
    s.read_only_drives.push(Drive {
        path: image_disk,
        format: format.into(),
    });
    s.read_only_drives.push(Drive {
        path: tools,
        format: "raw".into(),
    });
    let t = Instant::now();
    let mut m = Machine::start("pxe", &s, ctx.work.path(), ctx.console)?;
    m.wait_agent(FIRST_BOOT)?;
    step("PXE: agent up", t);
    check_live(&mut m)?;
    step("PXE: live system checked", t);

    // (c) install from the live system.
    let t = Instant::now();
    let ro = m.run("cat /sys/block/vdb/ro /sys/block/vdb/serial")?;
    ensure!(
        ro.split_whitespace().collect::<Vec<_>>() == ["1", "disk1"],
        "/dev/vdb is not the read-only image disk (ro, serial: {:?})",
        ro.trim()
    );
    m.run(&format!(
        "mkdir -p {TOOLS} && mount -o ro /dev/vdc {TOOLS} && test -x {TOOLS}/images"
    ))?;
    // The image's own `images` when it ships one (manifest.toml), else the tools disk's copy.
    let bin = m
        .run(&format!(
            "if [ -x /usr/bin/images ]; then echo /usr/bin/images; else echo {TOOLS}/images; fi"
        ))?
        .trim()
        .to_string();
    eprintln!("vm-tests: live-and-network-boot: install with {bin}");
    let install = format!("{bin} install --ignition {TOOLS}/target.ign --image /dev/vdb /dev/vda");
    let e = m.exec(&install, INSTALL)?;
    ensure!(
        e.status == 0,
        "`{install}` exited with {} in the live system: {}",
        e.status,
        e.output.trim()
    );
    eprintln!("vm-tests: live-and-network-boot: {}", e.output.trim());
    step("install: images install done", t);
    m.run(&format!("umount {TOOLS} && sync"))?;
    m.poweroff(POWEROFF)?;
    step("install: live system powered off", t);
    Ok(())
}

/// The installed disk, alone, booted by SeaBIOS through its bootloader; no config but the
/// one `images install` put on its boot partition.
fn boot_installed(ctx: &Ctx, target: &Path) -> Result<()> {
    let mut s = spec(ctx, "installed");
    s.drives.push(Drive {
        path: target.to_path_buf(),
        format: "qcow2".into(),
    });
    let t = Instant::now();
    let mut m = Machine::start("installed", &s, ctx.work.path(), ctx.console)?;
    m.wait_agent(FIRST_BOOT)?;
    step("installed disk: agent up (from the installed config)", t);
    m.wait_console("SYSLINUX", Duration::from_secs(5))
        .context("the installed disk did not boot through its bootloader")?;
    let cmdline = m.run("cat /proc/cmdline")?;
    ensure!(
        !cmdline.split_whitespace().any(|a| a == "mooring.live"),
        "the installed disk booted a live command line: {cmdline:?}"
    );
    let root = m.run("findmnt -no SOURCE /sysroot")?;
    ensure!(
        root.trim() == "/dev/vda4",
        "the installed system's /sysroot is {:?}, not /dev/vda4",
        root.trim()
    );
    let text = m.run(&format!("cat {INSTALLED_FILE}"))?;
    ensure!(
        text == INSTALLED_TEXT,
        "{INSTALLED_FILE} holds {text:?}, not the installed config's {INSTALLED_TEXT:?}"
    );
    let live = m.exec(&format!("test -e {LIVE_FILE}"), Duration::from_secs(30))?;
    ensure!(
        live.status != 0,
        "{LIVE_FILE} (the live config's file) exists on the installed system"
    );
    step("installed disk: checked", t);
    m.kill();
    Ok(())
}

/// (b) the ISO, embedded in a copy, booted from `-cdrom` by SeaBIOS.
fn iso(ctx: &Ctx, live: &Live) -> Result<()> {
    let images = sibling_binary("images")?;
    let live_cfg = ctx.work.join("live.ign");
    let iso = ctx.work.join("live.iso");
    cmd::run(
        Command::new(&images)
            .args(["embed-ignition", "--config"])
            .arg(&live_cfg)
            .arg("--iso")
            .arg(&live.iso)
            .arg("--output")
            .arg(&iso),
    )?;
    let mut s = spec(ctx, "iso");
    s.cdrom = Some(iso.clone());
    let t = Instant::now();
    let mut m = Machine::start("iso", &s, ctx.work.path(), ctx.console)?;
    m.wait_console("ISOLINUX", Duration::from_secs(300))
        .context("SeaBIOS did not start isolinux from the CD")?;
    m.wait_agent(ISO_BOOT)?;
    step("ISO: agent up", t);
    let cmdline = check_live(&mut m)?;
    ensure!(
        cmdline
            .split_whitespace()
            .any(|a| a.starts_with("mooring.live.iso=")),
        "the ISO's command line lacks mooring.live.iso=: {cmdline:?}"
    );
    let src = m.run("findmnt -no SOURCE /run/mooring-live/iso")?;
    ensure!(
        src.trim() == "/dev/sr0",
        "the live ISO's filesystem is mounted from {:?}, not the CD /dev/sr0",
        src.trim()
    );
    step("ISO: live system checked", t);
    m.kill();
    let _ = std::fs::remove_file(&iso);
    Ok(())
}

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let live = Live::open(ctx.image()?)?;
    let target = ctx.work.join("target.qcow2");
    disk::blank_qcow2(&target, TARGET_MIB)?;
    pxe_and_install(ctx, &live, &target)?;
    let _ = std::fs::remove_file(ctx.work.join("pxe-initrd.img"));
    boot_installed(ctx, &target)?;
    let _ = std::fs::remove_file(&target);
    iso(ctx, &live)
}
