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

/// Usage errors (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Entry point used by `main`: parses `args` (without the program name) and acts on them.
pub fn run<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let argv = std::iter::once(PROG.to_string()).chain(args.into_iter().map(Into::into));
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            print!("{e}");
            return Ok(());
        }
        Err(e) => return Err(UsageError(e.to_string().trim_end().to_string()).into()),
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

/// Exit status for an error returned by [`run`]: 2 for usage errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
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
