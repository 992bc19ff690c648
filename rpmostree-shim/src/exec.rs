//! The one helper that runs external commands: keeps stderr for the error message.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// Runs `cmd`, returns its stdout; on failure the error names the command and its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
