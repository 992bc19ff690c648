//! The one helper every external command goes through: it logs the command line (with
//! `MOORING_VM_LOG=1`) and keeps stdout and stderr for the error.

use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// The command line as a shell would show it.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Logs a line on stderr when `MOORING_VM_LOG` is set.
pub fn log(msg: &str) {
    if std::env::var_os("MOORING_VM_LOG").is_some() {
        eprintln!("vm-tests: {msg}");
    }
}

/// Runs the command to completion; a non-zero exit is an error naming the command and its stderr.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let line = display(cmd);
    log(&format!("$ {line}"));
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Runs the command and returns its stdout as text.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&run(cmd)?.stdout).into_owned())
}

/// The first `name` on `PATH` (then the sbin directories root has).
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
