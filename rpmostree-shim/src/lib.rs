//! `rpm-ostree` shim: the subset of rpm-ostree's command line that the daemon and admins use, over libostree.
//!
//! Status: not implemented yet. Tracked in issue #5.
//! The command line in [`HELP`] is the planned contract; until the part is built, every
//! subcommand fails with exit status 2 and says which issue tracks it.

use std::fmt;

/// The program name used in messages.
pub const PROG: &str = "rpm-ostree";

/// Planned subcommands and the issue that tracks each one.
pub const COMMANDS: &[(&str, u32)] = &[
    ("status", 5),
    ("upgrade", 5),
    ("rebase", 5),
    ("deploy", 5),
    ("rollback", 5),
    ("kargs", 5),
    ("cleanup", 5),
    ("finalize-deployment", 5),
];

/// Options that may come before the subcommand and take a value (`--opt V` or `--opt=V`).
const GLOBAL_VALUE_OPTIONS: &[&str] = &["sysroot"];

/// `--help` text: the planned command line.
pub const HELP: &str = "\
rpm-ostree - rpm-ostree command-line subset over libostree (mooring shim)
NOT IMPLEMENTED YET (tracked in issue #5): every subcommand exits with status 2.

Planned usage:
  rpm-ostree [--sysroot DIR] COMMAND

Commands:
  rpm-ostree status [--json] [--booted]
  rpm-ostree upgrade
  rpm-ostree rebase REF
  rpm-ostree deploy REV
  rpm-ostree rollback
  rpm-ostree kargs [--append=K] [--append-if-missing=K] [--delete=K]
                   [--delete-if-present=K] [--replace=K=V]
  rpm-ostree cleanup [-p] [-r]
  rpm-ostree finalize-deployment

Options:
  --sysroot DIR    Use the system root DIR instead of /
  -h, --help       Print this help
  -V, --version    Print the version
";

/// What the command line asks for, when it asks for something that works today.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
}

/// Why the command line cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// The arguments do not match the planned command line.
    Usage(String),
    /// The subcommand is planned but not built yet.
    NotImplemented { command: String, issue: u32 },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "{PROG}: {msg} (see '{PROG} --help')"),
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

fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help" | "help")
}

/// Parses the arguments (without the program name). Pure: prints nothing.
pub fn parse<I, S>(args: I) -> Result<Action, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        if is_help(&arg) {
            return Ok(Action::Help);
        }
        if arg == "-V" || arg == "--version" {
            return Ok(Action::Version);
        }
        if let Some(name) = arg.strip_prefix("--") {
            let (name, inline_value) = match name.split_once('=') {
                Some((n, _)) => (n, true),
                None => (name, false),
            };
            if !GLOBAL_VALUE_OPTIONS.contains(&name) {
                return Err(CliError::Usage(format!("unknown option '{arg}'")));
            }
            if !inline_value && args.next().is_none() {
                return Err(CliError::Usage(format!("option '--{name}' needs a value")));
            }
            continue;
        }
        if arg.starts_with('-') {
            return Err(CliError::Usage(format!("unknown option '{arg}'")));
        }
        let Some(&(_, issue)) = COMMANDS.iter().find(|(name, _)| *name == arg) else {
            return Err(CliError::Usage(format!("unknown subcommand '{arg}'")));
        };
        let rest: Vec<String> = args.collect();
        if rest.iter().any(|a| a == "-h" || a == "--help") {
            return Ok(Action::Help);
        }
        return Err(CliError::NotImplemented {
            command: format!("{PROG} {arg}"),
            issue,
        });
    }
    Err(CliError::Usage("missing subcommand".to_string()))
}

/// Entry point used by `main`: parses `args` (without the program name) and acts on them.
pub fn run<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    match parse(args)? {
        Action::Help => print!("{HELP}"),
        Action::Version => println!("{PROG} {}", env!("CARGO_PKG_VERSION")),
    }
    Ok(())
}

/// Exit status for an error returned by [`run`]: 2 for usage and not-implemented errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<CliError>().is_some() {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_names_its_issue() {
        for &(name, issue) in COMMANDS {
            let err = parse([name]).unwrap_err();
            assert_eq!(
                err,
                CliError::NotImplemented {
                    command: format!("{PROG} {name}"),
                    issue
                }
            );
            let msg = err.to_string();
            assert_eq!(
                msg,
                format!("{PROG} {name}: not implemented yet (tracked in issue #{issue})")
            );
        }
    }

    #[test]
    fn expected_issue_numbers() {
        assert!(COMMANDS.contains(&("status", 5)));
        assert!(COMMANDS.contains(&("upgrade", 5)));
        assert!(COMMANDS.contains(&("rebase", 5)));
        assert!(COMMANDS.contains(&("deploy", 5)));
        assert!(COMMANDS.contains(&("rollback", 5)));
        assert!(COMMANDS.contains(&("kargs", 5)));
        assert!(COMMANDS.contains(&("cleanup", 5)));
        assert!(COMMANDS.contains(&("finalize-deployment", 5)));
    }

    #[test]
    fn not_implemented_exits_with_status_2() {
        let err = run([COMMANDS[0].0]).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("not implemented yet"), "{err}");
    }

    #[test]
    fn help_states_the_plan() {
        assert_eq!(parse(["--help"]), Ok(Action::Help));
        assert_eq!(parse([COMMANDS[0].0, "--help"]), Ok(Action::Help));
        for &(name, issue) in COMMANDS {
            assert!(
                HELP.contains(&format!("{PROG} {name}")),
                "help lacks {name}"
            );
            assert!(
                HELP.contains(&format!("#{issue}")),
                "help lacks issue #{issue}"
            );
        }
    }

    #[test]
    fn usage_errors() {
        assert!(matches!(
            parse(Vec::<String>::new()),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            parse(["no-such-command"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            parse(["--no-such-option"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(parse(["--sysroot"]), Err(CliError::Usage(_))));
        assert!(matches!(
            parse(["--sysroot", "/x", "status"]),
            Err(CliError::NotImplemented { .. })
        ));
        assert!(matches!(
            parse(["--sysroot=/x", "status"]),
            Err(CliError::NotImplemented { .. })
        ));
    }
}
