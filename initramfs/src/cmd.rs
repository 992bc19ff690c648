//! Every external command of this crate goes through [`run`]: it is logged on stderr and its
//! stderr is kept for the error.

use std::path::Path;
use std::process::{Command, Stdio};

/// A command that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("{command}: {reason}")]
pub struct CommandError {
    pub command: String,
    pub reason: String,
}

/// Shell-like rendering of a command line, for logs and errors.
pub fn display(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| {
            if a.is_empty() || a.contains([' ', '"', '\'']) {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program args` (in `dir` when given), returns its stdout; a non-zero exit is an error
/// carrying the last lines of stderr.
pub fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Result<Vec<u8>, CommandError> {
    let line = display(program, args);
    eprintln!("  $ {line}");
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().map_err(|e| CommandError {
        command: line.clone(),
        reason: format!("cannot run: {e}"),
    })?;
    if !out.status.success() {
        return Err(CommandError {
            command: line,
            reason: format!("{}: {}", out.status, tail(&out.stderr, &out.stdout)),
        });
    }
    Ok(out.stdout)
}

/// The last lines of stderr (or stdout when stderr is empty), for an error message.
pub fn tail(stderr: &[u8], stdout: &[u8]) -> String {
    let text = if stderr.iter().all(u8::is_ascii_whitespace) {
        stdout
    } else {
        stderr
    };
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(15);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_stderr() {
        let err = run("sh", &["-c", "echo out; echo bad thing >&2; exit 3"], None).unwrap_err();
        assert!(err.command.starts_with("sh -c"), "{err}");
        assert!(err.reason.contains("bad thing"), "{err}");
        assert!(!err.reason.contains("out"), "{err}");
    }

    #[test]
    fn display_quotes() {
        assert_eq!(display("a", &["b c", ""]), "a 'b c' ''");
    }
}
