//! PXE artifacts from a built image: `vmlinuz`, `initramfs.img` and `rootfs.img`.
//!
//! `rootfs.img` is a gzip newc cpio holding `/root.squashfs`, a squashfs of the deployed ostree
//! sysroot. Booted as a second initrd after `initramfs.img` (PXE: `initrd=initramfs.img,rootfs.img`;
//! QEMU: the two files concatenated as one `-initrd`), the kernel unpacks it into the initramfs,
//! where the `mooring-live` dracut module (initramfs/dracut/50mooring-live) finds it when the
//! command line has `mooring.live`: the squashfs, read-only, with a tmpfs overlay, becomes
//! `/sysroot`, and `ostree-prepare-root` enters the deployment named by `ostree=` as on a disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use initramfs::cpio::{self, Entry};

/// What the live artifacts are made from (all produced by `images build`).
#[derive(Debug, Clone)]
pub struct LiveInputs {
    /// The kernel (vmlinuz) of the deployment.
    pub kernel: PathBuf,
    /// The initramfs of the deployment; it must include the `mooring-live` dracut module.
    pub initramfs: PathBuf,
    /// The deployed ostree sysroot tree (`ostree/`, `boot/` ...): the root partition's content.
    pub sysroot_dir: PathBuf,
    /// Kernel arguments of the live system, including `ostree=/ostree/boot.N/...`;
    /// `mooring.live` is added when missing.
    pub kargs: Vec<String>,
    /// ISO volume ID (also how the live initramfs finds the CD); 1 to 32 of `A-Z a-z 0-9 _ - .`.
    pub volume_id: String,
}

/// The name of the squashfs inside `rootfs.img` (and on the ISO, under `/images/`).
pub const ROOT_SQUASHFS: &str = "root.squashfs";

/// The live kernel command line: the given arguments plus `mooring.live` (once) and `extra`.
pub fn live_kargs(inputs: &LiveInputs, extra: &[String]) -> Result<String> {
    if !inputs.kargs.iter().any(|k| k.starts_with("ostree=")) {
        bail!(
            "the live kernel arguments need ostree=/ostree/boot.N/... (got {:?})",
            inputs.kargs
        );
    }
    let mut args: Vec<String> = Vec::new();
    if !inputs.kargs.iter().any(|k| k == "mooring.live") {
        args.push("mooring.live".to_string());
    }
    args.extend(inputs.kargs.iter().cloned());
    args.extend(extra.iter().cloned());
    if let Some(bad) = args
        .iter()
        .find(|a| a.is_empty() || a.contains(char::is_whitespace))
    {
        bail!("kernel argument {bad:?} is empty or has white space");
    }
    Ok(args.join(" "))
}

fn check_inputs(inputs: &LiveInputs) -> Result<()> {
    for (what, p) in [("kernel", &inputs.kernel), ("initramfs", &inputs.initramfs)] {
        if !p.is_file() {
            bail!("live {what} {} is not a file", p.display());
        }
    }
    if !inputs.sysroot_dir.join("ostree").is_dir() {
        bail!(
            "{} is not an ostree sysroot (no ostree/ in it)",
            inputs.sysroot_dir.display()
        );
    }
    Ok(())
}

/// `mksquashfs` of the sysroot tree. Hard links (ostree's checkouts share inodes with the repo)
/// are kept as hard links; the immutable attribute ostree sets on deployments is not carried
/// (squashfs has no such flag, and the image is read-only anyway).
pub fn make_squashfs(sysroot_dir: &Path, out: &Path) -> Result<()> {
    let s = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .with_context(|| format!("{} is not UTF-8", p.display()))
    };
    if out.exists() {
        fs::remove_file(out).with_context(|| format!("removing {}", out.display()))?;
    }
    crate::run::run(
        "mksquashfs",
        &[
            &s(sysroot_dir)?,
            &s(out)?,
            "-noappend",
            "-no-progress",
            "-comp",
            "zstd",
            "-Xcompression-level",
            "6",
            "-processors",
            "2",
        ],
    )?;
    Ok(())
}

/// Writes `rootfs.img` (a gzip cpio holding `root.squashfs`) from an existing squashfs.
pub fn write_rootfs_img(squashfs: &Path, out: &Path) -> Result<()> {
    let data = fs::read(squashfs).with_context(|| format!("reading {}", squashfs.display()))?;
    // The squashfs is compressed already: the fastest gzip level costs little and gains as much.
    let mut raw = cpio::Writer::new(Vec::with_capacity(data.len() + 1024));
    raw.add(&Entry::file(ROOT_SQUASHFS, 0o644, data))?;
    let raw = raw.finish()?;
    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(std::io::BufWriter::new(file), flate2::Compression::fast());
    gz.write_all(&raw)
        .and_then(|_| gz.finish())
        .and_then(|mut w| w.flush().map(|_| w))
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", out.display()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// A temporary work directory next to `path` (in its parent directory, so on the same
/// filesystem as the output), removed on drop.
pub(crate) fn work_dir_beside(path: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .with_context(|| format!("creating a work directory in {}", dir.display()))
}

/// Writes `out_dir/{vmlinuz,initramfs.img,rootfs.img}` and `out_dir/cmdline` (the kernel
/// command line to boot them with).
pub fn build_pxe(inputs: &LiveInputs, out_dir: &Path) -> Result<()> {
    check_inputs(inputs)?;
    let work = work_dir_beside(out_dir, ".pxe-")?;
    let squashfs = work.path().join(ROOT_SQUASHFS);
    make_squashfs(&inputs.sysroot_dir, &squashfs)?;
    build_pxe_from_squashfs(inputs, &squashfs, out_dir)
}

/// [`build_pxe`] with the squashfs made already (shared with the ISO by [`build_live`]).
pub fn build_pxe_from_squashfs(inputs: &LiveInputs, squashfs: &Path, out_dir: &Path) -> Result<()> {
    check_inputs(inputs)?;
    let cmdline = live_kargs(inputs, &[])?;
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    copy(&inputs.kernel, &out_dir.join("vmlinuz"))?;
    copy(&inputs.initramfs, &out_dir.join("initramfs.img"))?;
    write_rootfs_img(squashfs, &out_dir.join("rootfs.img"))?;
    fs::write(out_dir.join("cmdline"), format!("{cmdline}\n"))
        .with_context(|| format!("writing {}/cmdline", out_dir.display()))?;
    Ok(())
}

/// Both live forms from one squashfs: `pxe_dir/{vmlinuz,initramfs.img,rootfs.img,cmdline}` and
/// the ISO at `iso`.
pub fn build_live(inputs: &LiveInputs, pxe_dir: &Path, iso: &Path) -> Result<()> {
    check_inputs(inputs)?;
    let work = work_dir_beside(pxe_dir, ".live-")?;
    let squashfs = work.path().join(ROOT_SQUASHFS);
    make_squashfs(&inputs.sysroot_dir, &squashfs)?;
    build_pxe_from_squashfs(inputs, &squashfs, pxe_dir)?;
    crate::iso::build_iso_from_squashfs(inputs, &squashfs, iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(kargs: &[&str]) -> LiveInputs {
        LiveInputs {
            kernel: "k".into(),
            initramfs: "i".into(),
            sysroot_dir: "s".into(),
            kargs: kargs.iter().map(|s| s.to_string()).collect(),
            volume_id: "MOORING".into(),
        }
    }

    #[test]
    fn kargs_get_mooring_live_once() {
        let i = inputs(&["ostree=/ostree/boot.1/x/y/0", "console=ttyS0,115200"]);
        assert_eq!(
            live_kargs(&i, &["mooring.live.iso=V".into()]).unwrap(),
            "mooring.live ostree=/ostree/boot.1/x/y/0 console=ttyS0,115200 mooring.live.iso=V"
        );
        let i = inputs(&["mooring.live", "ostree=/o"]);
        assert_eq!(live_kargs(&i, &[]).unwrap(), "mooring.live ostree=/o");
    }

    #[test]
    fn kargs_need_ostree_and_no_spaces() {
        assert!(live_kargs(&inputs(&["console=ttyS0"]), &[]).is_err());
        assert!(live_kargs(&inputs(&["ostree=/o", "a b"]), &[]).is_err());
    }
}
