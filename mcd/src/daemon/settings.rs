//! The daemon's own settings: `/etc/machine-config-daemon/daemon.json` under the root (optional;
//! every field has a default), and the hooks it runs (drain, and the reboot under `--root`).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// In-root path of the settings file.
pub const SETTINGS_PATH: &str = "/etc/machine-config-daemon/daemon.json";
/// Environment: a shell command run instead of the reboot when the root is not the booted system.
pub const REBOOT_HOOK_ENV: &str = "MCD_REBOOT_HOOK";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// The drain command (argv; empty: no drain, the embedded default), e.g.
    /// `["kubectl", "drain", "--ignore-daemonsets", "--delete-emptydir-data", "NODE"]`.
    /// `MCD_NODE_NAME` is set in its environment. A failing drain keeps the slot and is retried.
    pub drain_command: Vec<String>,
    /// The long-poll `wait` (seconds, at most 300).
    pub poll_wait_seconds: u64,
    /// How often the managed paths are checked for changes (seconds).
    pub watch_interval_seconds: u64,
    /// How often the whole node is validated against its config, changed or not (seconds).
    pub validate_interval_seconds: u64,
    /// The longest pause between retries (unreachable server, slots full, failed drain or apply).
    pub max_backoff_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            drain_command: Vec::new(),
            poll_wait_seconds: 300,
            watch_interval_seconds: 2,
            validate_interval_seconds: 600,
            max_backoff_seconds: 60,
        }
    }
}

impl Settings {
    /// Reads the settings file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Settings> {
        let s: Settings = match std::fs::read(path) {
            Ok(raw) => serde_json::from_slice(&raw)
                .with_context(|| format!("parsing {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if s.watch_interval_seconds == 0 || s.max_backoff_seconds == 0 {
            bail!("{SETTINGS_PATH}: watchIntervalSeconds and maxBackoffSeconds must be positive");
        }
        Ok(Settings {
            poll_wait_seconds: s
                .poll_wait_seconds
                .min(machine_config::node_api::MAX_WAIT_SECS),
            ..s
        })
    }
}

/// Exponential backoff: 1 s, doubling, up to a cap; reset on success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max_secs: u64) -> Backoff {
        Backoff {
            next: Duration::from_secs(1).min(Duration::from_secs(max_secs)),
            max: Duration::from_secs(max_secs),
        }
    }
    /// The pause to take now; the next one is twice as long (capped).
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    pub fn sleep(&mut self) {
        std::thread::sleep(self.step());
    }
    pub fn reset(&mut self) {
        self.next = Duration::from_secs(1).min(self.max);
    }
}

/// Runs a hook command (argv, or `sh -c` text) with extra environment, logging it; the error
/// carries the exit status and stderr.
pub fn run_hook(what: &str, argv: &[String], env: &[(&str, &str)]) -> Result<()> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(());
    };
    tracing::info!("{what}: running {}", argv.join(" "));
    let out = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{what}: starting {program}"))?;
    if !out.status.success() {
        bail!(
            "{what}: {} failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        assert_eq!(Settings::load(&p).unwrap(), Settings::default());
        std::fs::write(&p, r#"{"drainCommand": ["true"], "pollWaitSeconds": 900}"#).unwrap();
        let s = Settings::load(&p).unwrap();
        assert_eq!(s.drain_command, ["true"]);
        assert_eq!(s.poll_wait_seconds, 300);
        std::fs::write(&p, r#"{"drain": "x"}"#).unwrap();
        assert!(Settings::load(&p).is_err());
    }

    #[test]
    fn backoff_doubles_to_cap() {
        let mut b = Backoff::new(5);
        let s: Vec<u64> = (0..5).map(|_| b.step().as_secs()).collect();
        assert_eq!(s, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.step().as_secs(), 1);
    }

    #[test]
    fn hooks_report_failure() {
        assert!(run_hook("drain", &[], &[]).is_ok());
        assert!(run_hook("drain", &["true".into()], &[]).is_ok());
        let e = run_hook(
            "drain",
            &["sh".into(), "-c".into(), "echo no >&2; exit 3".into()],
            &[],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("no"), "{e:#}");
    }
}
