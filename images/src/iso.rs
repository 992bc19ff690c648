//! The live ISO (xorriso, isolinux): boots from a CD-ROM with BIOS firmware.
//!
//! ```text
//! /isolinux/isolinux.bin, ldlinux.c32, isolinux.cfg   El Torito boot (no emulation), hybrid MBR
//! /images/vmlinuz
//! /images/initramfs.img                               the deployment's initramfs (with mooring-live)
//! /images/ignition.img                                reserved for `images embed-ignition`
//! /images/root.squashfs                               the deployed sysroot, mounted from the CD
//! ```
//!
//! isolinux loads `initramfs.img` and `ignition.img` as two initrds; the command line is the live
//! one plus `mooring.live.iso=<volume id>`, by which the initramfs finds the CD.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::embed;
use crate::pxe::{self, LiveInputs};

/// Where Debian's syslinux packages put the BIOS boot files.
pub const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
pub const ISOHDPFX_BIN: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
pub const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// Checks an ISO volume ID: 1 to 32 characters, letters, digits, `_`, `-`, `.`. Pure.
pub fn check_volume_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        bail!("ISO volume ID {id:?}: want 1 to 32 of A-Z a-z 0-9 _ - .");
    }
    Ok(())
}

/// The isolinux configuration: boot at once, on the serial console as well. Pure.
pub fn isolinux_cfg(cmdline: &str) -> String {
    format!(
        "SERIAL 0 115200\n\
         PROMPT 0\n\
         TIMEOUT 0\n\
         DEFAULT live\n\
         LABEL live\n  \
         KERNEL /images/vmlinuz\n  \
         APPEND initrd=/images/initramfs.img,{} {cmdline}\n",
        embed::ISO_IGNITION_IMG
    )
}

/// Builds the ISO at `out` (makes the squashfs itself; see [`pxe::build_live`] to share one).
pub fn build_iso(inputs: &LiveInputs, out: &Path) -> Result<()> {
    let work = pxe::work_dir_beside(out, ".iso-")?;
    let squashfs = work.path().join(pxe::ROOT_SQUASHFS);
    pxe::make_squashfs(&inputs.sysroot_dir, &squashfs)?;
    build_iso_from_squashfs(inputs, &squashfs, out)
}

/// [`build_iso`] with the squashfs made already.
pub fn build_iso_from_squashfs(inputs: &LiveInputs, squashfs: &Path, out: &Path) -> Result<()> {
    check_volume_id(&inputs.volume_id)?;
    for p in [ISOLINUX_BIN, LDLINUX_C32] {
        if !Path::new(p).is_file() {
            bail!("{p} is missing (Debian packages isolinux and syslinux-common)");
        }
    }
    let cmdline = pxe::live_kargs(inputs, &[format!("mooring.live.iso={}", inputs.volume_id)])?;
    let work = pxe::work_dir_beside(out, ".iso-")?;
    let cfg = work.path().join("isolinux.cfg");
    fs::write(&cfg, isolinux_cfg(&cmdline))
        .with_context(|| format!("writing {}", cfg.display()))?;
    let ign = work.path().join("ignition.img");
    fs::write(&ign, embed::empty_reserved_area()?)
        .with_context(|| format!("writing {}", ign.display()))?;
    if out.exists() {
        fs::remove_file(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let s = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .with_context(|| format!("{} is not UTF-8", p.display()))
    };
    let graft =
        |iso_path: &str, host: &Path| -> Result<String> { Ok(format!("{iso_path}={}", s(host)?)) };
    let mut args: Vec<String> = [
        "-as",
        "mkisofs",
        "-quiet",
        "-o",
        &s(out)?,
        "-V",
        &inputs.volume_id,
        "-iso-level",
        "3",
        "-R",
        "-J",
        "-joliet-long",
        "-b",
        "isolinux/isolinux.bin",
        "-c",
        "isolinux/boot.cat",
        "-no-emul-boot",
        "-boot-load-size",
        "4",
        "-boot-info-table",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if Path::new(ISOHDPFX_BIN).is_file() {
        args.extend(["-isohybrid-mbr".to_string(), ISOHDPFX_BIN.to_string()]);
    }
    args.push("-graft-points".to_string());
    args.extend([
        graft("isolinux/isolinux.bin", Path::new(ISOLINUX_BIN))?,
        graft("isolinux/ldlinux.c32", Path::new(LDLINUX_C32))?,
        graft("isolinux/isolinux.cfg", &cfg)?,
        graft("images/vmlinuz", &inputs.kernel)?,
        graft("images/initramfs.img", &inputs.initramfs)?,
        graft(embed::ISO_IGNITION_IMG.trim_start_matches('/'), &ign)?,
        graft(&format!("images/{}", pxe::ROOT_SQUASHFS), squashfs)?,
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::run::run("xorriso", &argv)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        assert!(check_volume_id("MOORING-LIVE_1.0").is_ok());
        for bad in ["", "has space", "x".repeat(33).as_str(), "ä"] {
            assert!(check_volume_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_boots_two_initrds() {
        let cfg = isolinux_cfg("mooring.live ostree=/o mooring.live.iso=V");
        assert!(cfg.contains("KERNEL /images/vmlinuz\n"), "{cfg}");
        assert!(
            cfg.contains("APPEND initrd=/images/initramfs.img,/images/ignition.img mooring.live ostree=/o mooring.live.iso=V\n"),
            "{cfg}"
        );
        assert!(cfg.starts_with("SERIAL 0 115200\n"));
    }
}
