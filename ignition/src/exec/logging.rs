//! Logs: `tracing` events to the systemd journal with structured fields when
//! a journal is present (its socket exists and `-log-to-stdout` is not
//! given), otherwise plain lines to stdout (`-log-to-stdout`) or stderr.
//!
//! As mcd does (`mcd/src/logging.rs`), every event becomes one journal
//! entry: `MESSAGE`, `PRIORITY` (from the level), `SYSLOG_IDENTIFIER=ignition`,
//! `IGNITION_STAGE`, `CODE_FILE`/`CODE_LINE`, and the event's own fields in
//! upper case (`path` → `PATH`); key events carry a `MESSAGE_ID` ([`ids`]),
//! so `journalctl MESSAGE_ID=…` finds every file written or command run.
//! The entry is written in journald's native datagram protocol by a small
//! layer of our own rather than `tracing-journald`, whose socket path is
//! fixed: ours takes `$IGNITION_JOURNAL_SOCKET` (default
//! [`JOURNAL_SOCKET`]) so that tests can read what is sent. An entry that
//! cannot be sent (journald gone, a message larger than a datagram) is
//! written to stderr instead, so nothing is lost silently.

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// journald's socket for native messages.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// MESSAGE_IDs of the key events (stable; `journalctl MESSAGE_ID=…`).
pub mod ids {
    pub const STAGE_STARTED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e01";
    pub const STAGE_FINISHED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e02";
    pub const STAGE_FAILED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e03";
    pub const FILE_WRITTEN: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e04";
    pub const DIRECTORY_CREATED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e05";
    pub const LINK_WRITTEN: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e06";
    pub const COMMAND_RUN: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e07";
    pub const COMMAND_FAILED: &str = "3f0c9a52d8e44b7e9b1f6a20c47d5e08";
}

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// journald's native socket at this path.
    Journal(PathBuf),
    Stdout,
    Stderr,
}

/// The socket path: `$IGNITION_JOURNAL_SOCKET` or [`JOURNAL_SOCKET`].
pub fn journal_socket() -> PathBuf {
    std::env::var_os("IGNITION_JOURNAL_SOCKET")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(JOURNAL_SOCKET), PathBuf::from)
}

/// The journal when its socket exists and `-log-to-stdout` is not given.
pub fn choose(to_stdout: bool, socket: &Path) -> Sink {
    if to_stdout {
        Sink::Stdout
    } else if socket.exists() {
        Sink::Journal(socket.to_path_buf())
    } else {
        Sink::Stderr
    }
}

/// Installs the subscriber for `sink` (later calls do nothing). `stage`
/// becomes the `IGNITION_STAGE` field of every journal entry.
pub fn init(sink: &Sink, stage: Option<&str>) {
    match sink {
        Sink::Journal(path) => match JournalLayer::new(path, stage) {
            Ok(layer) => {
                let _ = tracing_subscriber::registry()
                    .with(layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
                    .try_init();
            }
            Err(e) => {
                eprintln!(
                    "ignition: cannot use the journal at {}: {e}; logging to stderr",
                    path.display()
                );
                init(&Sink::Stderr, stage);
            }
        },
        Sink::Stdout | Sink::Stderr => {
            let builder = tracing_subscriber::fmt()
                .with_target(false)
                .without_time()
                .with_ansi(false)
                .fmt_fields(plain_fields());
            let _ = if *sink == Sink::Stdout {
                builder.with_writer(std::io::stdout).try_init()
            } else {
                builder.with_writer(std::io::stderr).try_init()
            };
        }
    }
}

/// Plain lines: the message, then `name=value` fields, without the
/// MESSAGE_ID (it is for the journal).
fn plain_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| match field.name() {
        "message" => write!(w, "{value:?}"),
        "message_id" => Ok(()),
        name => write!(w, " {name}={value:?}"),
    })
}

/// A `tracing` layer that sends each event to journald's native socket.
pub struct JournalLayer {
    socket: UnixDatagram,
    path: PathBuf,
    /// Fields sent with every entry, already encoded.
    common: Vec<u8>,
}

impl JournalLayer {
    pub fn new(path: &Path, stage: Option<&str>) -> std::io::Result<JournalLayer> {
        let socket = UnixDatagram::unbound()?;
        let mut common = Vec::new();
        put(&mut common, "SYSLOG_IDENTIFIER", b"ignition");
        if let Some(s) = stage {
            put(&mut common, "IGNITION_STAGE", s.as_bytes());
        }
        Ok(JournalLayer {
            socket,
            path: path.to_path_buf(),
            common,
        })
    }
}

/// Appends one field in journald's native format (the binary form when the
/// value holds a newline).
fn put(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

/// A tracing field name as a journal field name: upper case, `[A-Z0-9_]`,
/// not starting with `_` or a digit (journald drops such fields from clients).
pub fn field_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        })
        .collect();
    let trimmed = s.trim_start_matches('_').to_string();
    s = trimmed;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "F_");
    }
    s
}

fn priority(level: &Level) -> &'static [u8] {
    match *level {
        Level::ERROR => b"3",
        Level::WARN => b"4",
        Level::INFO => b"6",
        _ => b"7",
    }
}

struct Fields<'a> {
    buf: &'a mut Vec<u8>,
    message: String,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            put(self.buf, &field_name(field.name()), value.as_bytes());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            put(
                self.buf,
                &field_name(field.name()),
                format!("{value:?}").as_bytes(),
            );
        }
    }
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut buf = self.common.clone();
        put(&mut buf, "PRIORITY", priority(meta.level()));
        if let Some(f) = meta.file() {
            put(&mut buf, "CODE_FILE", f.as_bytes());
        }
        if let Some(l) = meta.line() {
            put(&mut buf, "CODE_LINE", l.to_string().as_bytes());
        }
        let mut fields = Fields {
            buf: &mut buf,
            message: String::new(),
        };
        event.record(&mut fields);
        let message = fields.message;
        put(&mut buf, "MESSAGE", message.as_bytes());
        if self.socket.send_to(&buf, &self.path).is_err() {
            eprintln!("{} {message}", meta.level());
        }
    }
}

// The key events, so that their fields and MESSAGE_IDs are the same everywhere.

pub fn stage_started(stage: &str) {
    tracing::info!(
        message_id = ids::STAGE_STARTED,
        stage,
        "Ignition (mooring) {}: stage {stage}",
        env!("CARGO_PKG_VERSION")
    );
}

pub fn stage_finished(stage: &str, elapsed: std::time::Duration) {
    let ms = elapsed.as_millis() as u64;
    tracing::info!(
        message_id = ids::STAGE_FINISHED,
        stage,
        elapsed_ms = ms,
        "stage {stage} finished successfully in {ms} ms"
    );
}

pub fn stage_failed(stage: &str, error: &str) {
    tracing::error!(message_id = ids::STAGE_FAILED, stage, error, "{error}");
}

pub fn file_written(path: &str, bytes: usize, mode: u32) {
    tracing::info!(message_id = ids::FILE_WRITTEN, path, bytes, mode = %format_args!("{mode:04o}"), "wrote file {path}");
}

pub fn dir_created(path: &str, mode: u32) {
    tracing::info!(message_id = ids::DIRECTORY_CREATED, path, mode = %format_args!("{mode:04o}"), "created directory {path}");
}

pub fn link_written(path: &str, target: &str, hard: bool) {
    if hard {
        tracing::info!(
            message_id = ids::LINK_WRITTEN,
            path,
            target,
            hard,
            "wrote hard link {path} to {target}"
        );
    } else {
        tracing::info!(
            message_id = ids::LINK_WRITTEN,
            path,
            target,
            hard,
            "wrote link {path} -> {target}"
        );
    }
}

pub fn command_run(command: &str, elapsed: std::time::Duration) {
    let ms = elapsed.as_millis() as u64;
    tracing::info!(
        message_id = ids::COMMAND_RUN,
        command,
        elapsed_ms = ms,
        "ran {command} ({ms} ms)"
    );
}

pub fn command_failed(command: &str, reason: &str) {
    // Info, not a warning: callers probe with commands that may fail
    // (`blkid`, `cryptsetup isLuks`, `is-live-image`) and decide.
    tracing::info!(
        message_id = ids::COMMAND_FAILED,
        command,
        reason,
        "{command}: {reason}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_journal_only_when_its_socket_exists() {
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("socket");
        assert_eq!(choose(false, &sock), Sink::Stderr);
        let _s = UnixDatagram::bind(&sock).unwrap();
        assert_eq!(choose(false, &sock), Sink::Journal(sock.clone()));
        assert_eq!(choose(true, &sock), Sink::Stdout);
    }

    #[test]
    fn field_names_as_journald_takes_them() {
        assert_eq!(field_name("message_id"), "MESSAGE_ID");
        assert_eq!(field_name("path"), "PATH");
        assert_eq!(field_name("elapsed.ms"), "ELAPSED_MS");
        assert_eq!(field_name("_secret"), "SECRET");
        assert_eq!(field_name("9lives"), "F_9LIVES");
    }

    #[test]
    fn encodes_multiline_values_in_binary_form() {
        let mut b = Vec::new();
        put(&mut b, "A", b"x");
        put(&mut b, "B", b"1\n2");
        let mut want = b"A=x\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"1\n2\n");
        assert_eq!(b, want);
    }

    /// Parses one native datagram into (name, value) pairs.
    pub fn parse(mut d: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !d.is_empty() {
            let nl = d.iter().position(|&c| c == b'\n').unwrap();
            let line = &d[..nl];
            if let Some(eq) = line.iter().position(|&c| c == b'=') {
                out.push((
                    String::from_utf8(line[..eq].to_vec()).unwrap(),
                    line[eq + 1..].to_vec(),
                ));
                d = &d[nl + 1..];
            } else {
                let name = String::from_utf8(line.to_vec()).unwrap();
                let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
                out.push((name, d[nl + 9..nl + 9 + len].to_vec()));
                d = &d[nl + 9 + len + 1..];
            }
        }
        out
    }

    #[test]
    fn sends_structured_entries_with_message_ids() {
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("socket");
        let server = UnixDatagram::bind(&sock).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let layer = JournalLayer::new(&sock, Some("files")).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            file_written("/etc/motd", 6, 0o644);
            command_failed("useradd core", "exit status 9\nuseradd: user exists");
        });
        let mut buf = vec![0u8; 65536];
        let n = server.recv(&mut buf).unwrap();
        let f = parse(&buf[..n]);
        let get = |f: &[(String, Vec<u8>)], k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| panic!("no {k} in {f:?}"))
        };
        assert_eq!(get(&f, "MESSAGE"), "wrote file /etc/motd");
        assert_eq!(get(&f, "MESSAGE_ID"), ids::FILE_WRITTEN);
        assert_eq!(get(&f, "PATH"), "/etc/motd");
        assert_eq!(get(&f, "BYTES"), "6");
        assert_eq!(get(&f, "MODE"), "0644");
        assert_eq!(get(&f, "PRIORITY"), "6");
        assert_eq!(get(&f, "SYSLOG_IDENTIFIER"), "ignition");
        assert_eq!(get(&f, "IGNITION_STAGE"), "files");
        assert!(get(&f, "CODE_FILE").ends_with("logging.rs"));
        let n = server.recv(&mut buf).unwrap();
        let f = parse(&buf[..n]);
        assert_eq!(get(&f, "MESSAGE_ID"), ids::COMMAND_FAILED);
        assert_eq!(get(&f, "PRIORITY"), "6");
        assert_eq!(get(&f, "REASON"), "exit status 9\nuseradd: user exists");
        assert_eq!(
            get(&f, "MESSAGE"),
            "useradd core: exit status 9\nuseradd: user exists"
        );
    }
}
