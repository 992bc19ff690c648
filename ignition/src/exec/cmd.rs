//! The one way the executor runs an external command: it is logged, its
//! stdin can be fed, and a failure carries the command line and its stderr.

use std::io::Write;
use std::process::{Command, Stdio};

/// A command that failed to start or exited non-zero.
#[derive(Debug, thiserror::Error)]
#[error("{command}: {reason}")]
pub struct CommandError {
    pub command: String,
    pub reason: String,
}

/// The command line as it is logged: program and arguments, quoted when needed.
pub fn display(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
            {
                a.to_string()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program` with `args`, feeding `stdin` when given. Returns stdout.
/// Logs the outcome with a MESSAGE_ID (see [`super::logging`]).
pub fn run(program: &str, args: &[String], stdin: Option<&[u8]>) -> Result<Vec<u8>, CommandError> {
    let started = std::time::Instant::now();
    let r = run_inner(program, args, stdin);
    match &r {
        Ok(_) => super::logging::command_run(&display(program, args), started.elapsed()),
        Err(e) => super::logging::command_failed(&e.command, &e.reason),
    }
    r
}

fn run_inner(
    program: &str,
    args: &[String],
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>, CommandError> {
    let shown = display(program, args);
    tracing::info!(command = %shown, "running {shown}");
    let fail = |reason: String| CommandError {
        command: shown.clone(),
        reason,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data)
            .map_err(|e| fail(format!("writing its input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for it: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        return Err(fail(if stderr.is_empty() {
            status
        } else {
            format!("{status}: {}", stderr.replace('\n', "; "))
        }));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_stderr_for_the_error() {
        let args = vec!["-c".to_string(), "echo oops >&2; exit 3".to_string()];
        let e = run("sh", &args, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sh -c \"echo oops >&2; exit 3\": exit status 3: oops"
        );
        let out = run("cat", &[], Some(b"in")).unwrap();
        assert_eq!(out, b"in");
        assert!(run("/nonexistent/x", &[], None)
            .unwrap_err()
            .reason
            .starts_with("cannot start"));
    }
}
