//! Machine Config Daemon (`mcd`): moves one node from its current rendered MachineConfig to a new
//! one with the least disruptive plan, and never leaves it between the two.
//!
//! Pure planning, effects at the edge: [`source`] reads a config, [`config::Desired`] is it
//! parsed, [`diff`] and [`plan`] (with [`policy`]) decide, [`apply`] performs the plan under a
//! journal, [`validate`] compares the disk with a config. See docs/mcd.md.
//! [`daemon`] is the daemon loop (`mcd start`) against the MCS node API. This crate never
//! depends on the server (`mcs`).

pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod hooks;
pub mod kargs;
pub mod logging;
pub mod paths;
pub mod pending;
pub mod plan;
pub mod policy;
pub mod source;
pub mod state;
pub mod systemd;
pub mod validate;
pub mod verify;

#[cfg(test)]
mod plan_tests;

use std::fmt;

use clap::Parser;

/// The program name used in messages.
pub const PROG: &str = "mcd";

/// Why the command line cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// The arguments do not match the command line (clap's message).
    Usage(String),
    /// The subcommand is planned but not built yet.
    NotImplemented { command: String, issue: u32 },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "{}", msg.trim_end()),
            CliError::NotImplemented { command, issue } => {
                write!(
                    f,
                    "{command}: not implemented yet (tracked in issue #{issue})"
                )
            }
        }
    }
}

impl std::error::Error for CliError {}

/// A command that ran and wants a non-zero exit status without an error message (drift, refusal).
#[derive(Debug)]
pub struct ExitStatus(pub i32);

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitStatus {}

/// Entry point used by `main`: parses `args` (without the program name) and acts on them.
pub fn run<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let argv = std::iter::once(PROG.to_string()).chain(args.into_iter().map(Into::into));
    let cli = match cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                print!("{e}");
                return Ok(());
            }
            _ => return Err(CliError::Usage(e.to_string()).into()),
        },
    };
    use cli::Command;
    logging::init();
    let ctx = commands::Ctx::new(&cli.root, cli.sysroot)?;
    let code = match cli.command {
        Command::Start {
            node_name,
            boot_check,
            boot_timeout,
            metrics_listen,
        } => {
            let opts = daemon::StartOptions {
                node_name,
                boot_check: boot_check.unwrap_or_else(|| default_boot_check(&ctx)),
                boot_timeout,
                metrics_listen,
            };
            daemon::start(&ctx, opts).map(|()| 0)?
        }
        Command::OnceFrom { source } => commands::once_from(&ctx, &source).map(|()| 0)?,
        Command::Plan { new, json } => commands::plan_cmd(&ctx, &new, json)?,
        Command::FirstbootCompleteMachineconfig => commands::firstboot(&ctx).map(|()| 0)?,
        Command::Validate => commands::validate_cmd(&ctx)?,
        Command::VerifyBoot {
            boot_check,
            timeout,
        } => {
            let check = boot_check.unwrap_or_else(|| default_boot_check(&ctx));
            verify::run(&ctx, &check, timeout)?
        }
        Command::Recover { accept_on_disk } => {
            commands::recover_cmd(&ctx, accept_on_disk).map(|()| 0)?
        }
    };
    if std::env::var_os("MCD_COUNT_POINTS").is_some() {
        eprintln!("crash points: {}", hooks::points());
    }
    if code != 0 {
        return Err(ExitStatus(code).into());
    }
    Ok(())
}

/// `unit:multi-user.target` on the booted system, `none` under another root.
fn default_boot_check(ctx: &commands::Ctx) -> verify::BootCheck {
    if apply::booted(&ctx.root) {
        verify::BootCheck::Unit("multi-user.target".into())
    } else {
        verify::BootCheck::None
    }
}

/// Exit status for an error returned by [`run`]: 2 for usage and not-implemented errors, the
/// command's own status for [`ExitStatus`], 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<CliError>().is_some() {
        2
    } else if let Some(ExitStatus(c)) = err.downcast_ref::<ExitStatus>() {
        *c
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_without_mcs_json_fails() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let err = run(["--root", root, "start", "--node-name", "n"]).unwrap_err();
        assert!(format!("{err:#}").contains("mcs.json"), "{err:#}");
        assert_eq!(exit_code(&err), 1);
        let err = run(["--root", root, "start", "--node-name", "a/b"]).unwrap_err();
        assert_eq!(exit_code(&err), 1);
    }

    #[test]
    fn usage_errors_exit_2() {
        for args in [
            vec![],
            vec!["no-such-command"],
            vec!["--no-such-option"],
            vec!["plan"],
        ] {
            let err = run(args.clone()).unwrap_err();
            assert_eq!(exit_code(&err), 2, "{args:?}");
        }
        assert!(run(["--help"]).is_ok());
    }
}
