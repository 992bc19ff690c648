//! Logs: `tracing` to journald (structured fields, a MESSAGE_ID per key event) when the journal
//! socket exists, to stderr otherwise (stdout carries the commands' output).

use tracing_subscriber::prelude::*;

/// MESSAGE_IDs of the key events (stable; `journalctl MESSAGE_ID=...`).
pub mod ids {
    pub const UPDATE_STARTED: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e01";
    pub const UPDATE_APPLIED: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e02";
    pub const REBOOTING: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e03";
    pub const DONE: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e04";
    pub const DEGRADED: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e05";
    pub const ROLLED_BACK: &str = "8c5f4d1e0b8a4f6f9d5e2a7c3b1d0e06";
}

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Installs the subscriber once (later calls do nothing). `MCD_LOG=debug|info|warn` sets the level.
pub fn init() {
    let level = match std::env::var("MCD_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    if std::path::Path::new(JOURNAL_SOCKET).exists() {
        if let Ok(j) = tracing_journald::layer() {
            let _ = tracing_subscriber::registry()
                .with(
                    j.with_syslog_identifier("mcd".into())
                        .with_field_prefix(None),
                )
                .with(filter)
                .try_init();
            return;
        }
    }
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .try_init();
}
