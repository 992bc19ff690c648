//! `initramfs`: builds the dracut initramfs that runs mooring's `ignition` stages on first boot.
//!
//! Why dracut (systemd in the initramfs) and not an init of our own: Debian's ostree-boot
//! integrates with dracut only (`98ostree`, `ostree-prepare-root.service`), udev gives the stages
//! their device names, and systemd's initrd targets give the ordering Ignition's units rely on
//! (disks before `sysroot.mount`, files after the deployment is prepared). See docs/images.md.

pub mod build;
pub mod cmd;
pub mod cpio;
pub mod cpio_cli;
pub mod dracut;
pub mod host;
pub mod module;
pub mod mounts;
pub mod usage;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The program name used in messages.
pub const PROG: &str = "initramfs";

#[derive(Debug, Parser)]
#[command(
    name = "initramfs",
    version,
    about = "Build the dracut initramfs that runs mooring's ignition stages on first boot",
    long_about = "Build the dracut initramfs that runs mooring's ignition stages on first boot.\n\n\
        The stages (ignition-fetch-offline, -fetch, -kargs, -disks, -mount, -files, \
        ignition-complete.target) run only with `ignition.firstboot` on the kernel command line; \
        `ignition.platform.id=` picks the platform. Needs root (chroot, bind mounts)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install our dracut module and ignition into ROOT and run dracut there (chroot)
    Build {
        /// A root with a kernel, dracut and ostree-boot (e.g. a Debian rootfs)
        #[arg(long, value_name = "ROOT")]
        root: PathBuf,
        /// Kernel version (default: the only one in ROOT/usr/lib/modules)
        #[arg(long, value_name = "K")]
        kver: Option<String>,
        /// Our ignition binary (default: ROOT/usr/bin/ignition)
        #[arg(long, value_name = "PATH")]
        ignition: Option<PathBuf>,
        /// Where to write the gzip-compressed initramfs
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
    /// List every member of an initramfs (all segments), one per line: mode, size, path
    List(cpio_cli::ListArgs),
    /// Append a gzip cpio segment holding host files to an initramfs
    Append(cpio_cli::AppendArgs),
}

pub use usage::{exit_code, UsageError};

/// Entry point used by `main`: parses `args` (without the program name) and acts on them.
pub fn run<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let Some(cli) = usage::parse::<Cli, _, _>(PROG, args)? else {
        return Ok(());
    };
    match cli.command {
        Command::Build {
            root,
            kver,
            ignition,
            output,
        } => {
            build::build(&build::Options {
                root,
                kver,
                ignition,
                output,
            })?;
        }
        Command::List(a) => cpio_cli::list(&a)?,
        Command::Append(a) => cpio_cli::append(&a)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2() {
        let err = run(["build"]).unwrap_err();
        assert_eq!(exit_code(&err), 2, "{err}");
        assert!(err.to_string().contains("--root"), "{err}");
        assert_eq!(exit_code(&run(["nope"]).unwrap_err()), 2);
    }

    #[test]
    fn missing_dracut_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("i.img");
        let err = run([
            "build",
            "--root",
            root.path().to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
        .unwrap_err();
        assert_eq!(exit_code(&err), 1);
        assert!(err.to_string().contains("no dracut"), "{err}");
    }
}
