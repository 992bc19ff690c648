//! Command-line parsing shared by the `initramfs` and `images` binaries: `--help` and
//! `--version` print and end the run with status 0, usage errors end it with status 2.

use clap::error::ErrorKind;

/// A usage error (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses `prog` and `args` (without the program name) into `C`; `None` when help or the
/// version was printed.
pub fn parse<C, I, S>(prog: &str, args: I) -> Result<Option<C>, UsageError>
where
    C: clap::Parser,
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let argv = std::iter::once(prog.to_string()).chain(args.into_iter().map(Into::into));
    match C::try_parse_from(argv) {
        Ok(c) => Ok(Some(c)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            print!("{e}");
            Ok(None)
        }
        Err(e) => Err(UsageError(e.to_string().trim_end().to_string())),
    }
}

/// The exit status for an error a command returned: 2 for a usage error, else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}
