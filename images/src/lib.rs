//! `images`: builds mooring's OS images from Debian packages (see docs/images.md).
//!
//! `images build --output DIR` makes a Debian root (mmdebstrap), our initramfs (dracut, with the
//! ignition stages), an ostree commit in an archive repo, and a disk image (GPT by gptman, ext4
//! filesystems filled without mounting, extlinux) that boots through firmware into the ostree
//! deployment with `ignition.firstboot`. Every step is cached by the hash of its inputs.

pub mod base;
pub mod binaries;
pub mod bls;
pub mod cache;
pub mod disk;
pub mod embed;
pub mod install;
pub mod iso;
pub mod layer;
pub mod layout;
pub mod manifest;
pub mod ostree;
pub mod pipeline;
pub mod pxe;
pub mod rootfs;
pub mod run;
pub mod sysroot;
pub mod units;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The program name used in messages.
pub const PROG: &str = "images";

#[derive(Debug, Parser)]
#[command(
    name = "images",
    version,
    about = "Build mooring OS images (disk, ostree repo, PXE, ISO) from Debian packages",
    long_about = "Build mooring OS images from Debian packages.\n\n\
        `images build --output DIR` writes DIR/disk.raw, DIR/disk.qcow2 (GPT: BIOS-BOOT, EFI-SYSTEM, \
        boot, root; SeaBIOS + extlinux boot into an ostree deployment with ignition.firstboot), \
        DIR/repo (ostree archive repo, servable over HTTP) and DIR/build.json. Steps are cached \
        by the hash of their inputs; a rebuild with nothing changed does nothing. Needs root."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the image into DIR (cached steps: rootfs, base, commit, disk)
    Build {
        /// Output directory
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
        /// The manifest (default: images/manifest.toml of the repository, embedded)
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Cache directory (default: $MOORING_CACHE, else /var/cache/mooring)
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Where our release binaries (ignition, mcd, rpm-ostree) are (default: the directory of this executable)
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<PathBuf>,
    },
    /// Embed an Ignition config in a live ISO or a PXE initramfs (or --show / --remove it)
    EmbedIgnition(embed::EmbedArgs),
    /// Write the disk image to DEVICE with an Ignition config for its first boot
    Install(install::InstallArgs),
}

pub use initramfs::usage::{exit_code, UsageError};

/// Entry point used by `main`: parses `args` (without the program name) and acts on them.
pub fn run<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let Some(cli) = initramfs::usage::parse::<Cli, _, _>(PROG, args)? else {
        return Ok(());
    };
    match cli.command {
        Command::Build {
            output,
            manifest,
            cache,
            bin_dir,
        } => {
            pipeline::build(&pipeline::Options {
                output,
                manifest,
                cache: cache.unwrap_or_else(pipeline::default_cache),
                bin_dir: bin_dir.unwrap_or_else(binaries::default_dir),
            })?;
        }
        Command::EmbedIgnition(a) => embed::run(&a)?,
        Command::Install(a) => install::run(&a)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2() {
        let err = run(["build"]).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--output"), "{err}");
        assert_eq!(exit_code(&run(["disk"]).unwrap_err()), 2);
    }

    #[test]
    fn missing_binaries_fail_before_any_work() {
        let d = tempfile::tempdir().unwrap();
        let err = run([
            "build",
            "--output",
            &d.path().join("out").to_string_lossy(),
            "--cache",
            &d.path().join("cache").to_string_lossy(),
            "--bin-dir",
            &d.path().to_string_lossy(),
        ])
        .unwrap_err();
        assert_eq!(exit_code(&err), 1);
        assert!(
            err.to_string()
                .contains("cargo build --release --workspace"),
            "{err}"
        );
        assert!(!d.path().join("cache/rootfs").exists(), "nothing built");
    }
}
