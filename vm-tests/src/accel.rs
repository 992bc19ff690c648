//! KVM or TCG: KVM only when a probe guest proves it works, within a short timeout.
//!
//! `/dev/kvm` exists on the build machines but KVM guests hang there, so the probe must give
//! up quickly. The probe guest is this machine's kernel (`/boot/vmlinuz-*`, no initramfs)
//! that must print its `Linux version` banner on the serial console: measured here, a
//! 512-byte boot sector that writes to the serial port does run under KVM, while the kernel
//! hangs silently after decompression, so only a kernel proves KVM usable. Without a kernel
//! on the host, the boot sector ([`probe_boot_sector`]) is the probe. The verdict is computed
//! once per process; `MOORING_ACCEL=kvm|tcg` skips the probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What the probe guest prints.
pub const PROBE_MARKER: &str = "MOORING-PROBE-OK";

/// How long the KVM probe may take before KVM is declared broken.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn arg(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the kernel probe waits for.
pub const KERNEL_MARKER: &str = "Linux version";

/// The boot sector: no interrupts (the firmware's serial output must not interleave), DS 0,
/// writes the marker (CR LF) to port 0x3f8, halts forever.
pub fn probe_boot_sector() -> Vec<u8> {
    let mut msg = PROBE_MARKER.as_bytes().to_vec();
    msg.extend_from_slice(b"\r\n\0");
    // Code before the message: 24 bytes; the message follows at 0x7c00 + 24.
    let msg_addr: u16 = 0x7c00 + 24;
    let mut code = vec![
        0xFA, // cli
        0x31,
        0xC0, // xor ax, ax
        0x8E,
        0xD8, // mov ds, ax
        0xFC, // cld
        0xBA,
        0xF8,
        0x03, // mov dx, 0x3f8
        0xBE,
        (msg_addr & 0xff) as u8,
        (msg_addr >> 8) as u8, // mov si, msg
        0xAC,                  // next: lodsb
        0x84,
        0xC0, // test al, al
        0x74,
        0x03, // jz done
        0xEE, // out dx, al
        0xEB,
        0xF8, // jmp next
        0xFA, // done: cli
        0xF4, // hlt
        0xEB,
        0xFC, // jmp done
    ];
    debug_assert_eq!(code.len(), 24);
    code.extend_from_slice(&msg);
    code.resize(510, 0);
    code.extend_from_slice(&[0x55, 0xAA]);
    code
}

/// The probe guest.
#[derive(Debug, Clone)]
pub enum ProbeGuest {
    /// A kernel booted without an initramfs; waits for [`KERNEL_MARKER`].
    Kernel(PathBuf),
    /// [`probe_boot_sector`]; waits for [`PROBE_MARKER`].
    BootSector,
}

impl ProbeGuest {
    /// The host's kernel when there is one, else the boot sector.
    pub fn best() -> ProbeGuest {
        match crate::testkit::host_kernel() {
            Ok((k, _)) => ProbeGuest::Kernel(k),
            Err(_) => ProbeGuest::BootSector,
        }
    }
}

/// Boots the probe guest with `accel`; true when its marker appears within `timeout`.
pub fn probe(guest: &ProbeGuest, accel: Accel, dir: &Path, timeout: Duration) -> Result<bool> {
    let log = dir.join("probe.log");
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        accel.arg(),
        "-nodefaults",
        "-nographic",
        "-monitor",
        "none",
    ])
    .args(["-m", "256", "-no-reboot"]);
    let marker = match guest {
        ProbeGuest::Kernel(k) => {
            cmd.arg("-kernel")
                .arg(k)
                .args(["-append", "console=ttyS0 panic=-1"]);
            KERNEL_MARKER
        }
        ProbeGuest::BootSector => {
            let disk = dir.join("probe.img");
            std::fs::write(&disk, probe_boot_sector())
                .with_context(|| format!("writing {}", disk.display()))?;
            cmd.arg("-drive")
                .arg(format!("file={},format=raw,if=ide", disk.display()));
            PROBE_MARKER
        }
    };
    cmd.arg("-serial")
        .arg(format!("file:{}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::cmd::log(&format!("$ {}", crate::cmd::display(&cmd)));
    let mut child = cmd
        .spawn()
        .context("starting qemu-system-x86_64 for the probe")?;
    let start = Instant::now();
    let ok = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(marker) {
            break true;
        }
        if child.try_wait()?.is_some() || start.elapsed() > timeout {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(ok)
}

/// The accelerator for this process: the probe's verdict, computed once.
pub fn accel() -> Accel {
    static VERDICT: OnceLock<Accel> = OnceLock::new();
    *VERDICT.get_or_init(|| match std::env::var("MOORING_ACCEL").as_deref() {
        Ok("kvm") => Accel::Kvm,
        Ok("tcg") => Accel::Tcg,
        _ => {
            let works = Path::new("/dev/kvm").exists()
                && tempfile::tempdir()
                    .ok()
                    .and_then(|d| {
                        probe(&ProbeGuest::best(), Accel::Kvm, d.path(), PROBE_TIMEOUT).ok()
                    })
                    .unwrap_or(false);
            let a = if works { Accel::Kvm } else { Accel::Tcg };
            crate::cmd::log(&format!("accelerator: {} (KVM probe: {works})", a.arg()));
            a
        }
    })
}
