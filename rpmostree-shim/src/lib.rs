//! `rpm-ostree` shim: the subset of rpm-ostree's command line that the daemon, scripts and
//! admins use, implemented on libostree through the `ostree` crate.
//!
//! Layout: [`cli`] parses; the pure modules ([`kargs`], [`refspec`], [`order`], [`status`])
//! plan; [`sysroot`], [`pull`], [`deploy`] and [`commands`] apply with libostree.

pub mod cli;
pub mod commands;
pub mod commit;
pub mod deploy;
pub mod exec;
pub mod inspect;
pub mod kargs;
pub mod order;
pub mod origin;
pub mod pull;
pub mod refspec;
pub mod status;
pub mod sysroot;

use clap::Parser;
use cli::{Cli, Command};
use commands::{exit_status, Globals};

/// The program name used in messages.
pub const PROG: &str = "rpm-ostree";

/// A command-line error (exit status 2); the text is clap's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Entry point used by `main`: parses `args` (without the program name), runs the command and
/// returns the exit status (0, or 77 for `--unchanged-exit-77` when nothing changed).
pub fn run<I, S>(args: I) -> anyhow::Result<i32>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let argv =
        std::iter::once(std::ffi::OsString::from(PROG)).chain(args.into_iter().map(Into::into));
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return Ok(0);
            }
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text).trim_end();
            return Err(UsageError(text.to_string()).into());
        }
    };
    run_cli(cli)
}

/// Runs a parsed command line.
pub fn run_cli(cli: Cli) -> anyhow::Result<i32> {
    let g = Globals {
        sysroot: cli.sysroot,
        os: cli.os,
    };
    Ok(match &cli.command {
        Command::Status { json, booted } => {
            commands::status::run(&g, *json, *booted)?;
            0
        }
        Command::Upgrade(o) => exit_status(commands::upgrade::run(&g, o)?, o.unchanged_exit_77),
        Command::Rebase {
            refspec,
            revision,
            skip_purge,
            opts,
        } => exit_status(
            commands::rebase::run(&g, refspec, revision.as_deref(), *skip_purge, opts)?,
            opts.unchanged_exit_77,
        ),
        Command::Deploy { revision, opts } => exit_status(
            commands::deploy::run(&g, revision, opts)?,
            opts.unchanged_exit_77,
        ),
        Command::Rollback => {
            commands::rollback::run(&g)?;
            0
        }
        Command::Kargs(a) => exit_status(commands::kargs::run(&g, a)?, a.unchanged_exit_77),
        Command::Cleanup(a) => {
            commands::cleanup::run(&g, a)?;
            0
        }
        Command::FinalizeDeployment {
            checksum,
            allow_missing_checksum,
            allow_unlocked,
        } => {
            commands::finalize::run(
                &g,
                checksum.as_deref(),
                *allow_missing_checksum,
                *allow_unlocked,
            )?;
            0
        }
    })
}

/// Exit status for an error returned by [`run`]: 2 for usage errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
