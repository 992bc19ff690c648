//! The test agent: a shell script the scenario's Ignition config installs in the guest (so the
//! image stays clean) with a unit that starts it; it listens on the virtio-serial port
//! `org.mooring.agent` and runs the host's commands. This module holds the script, the helper
//! that merges it into a config, and the host side of the protocol (see `agent.sh`).

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};

/// The guest side, a POSIX shell script (busybox sh and dash).
pub const SCRIPT: &str = include_str!("agent.sh");
/// Where the config puts the script in the guest.
pub const SCRIPT_PATH: &str = "/etc/mooring-agent/agent.sh";
pub const UNIT_NAME: &str = "mooring-agent.service";

fn unit() -> String {
    format!(
        "[Unit]\nDescription=mooring vm-tests agent (virtio-serial port org.mooring.agent)\n\n\
         [Service]\nExecStart=/bin/sh {SCRIPT_PATH}\nRestart=always\nRestartSec=1\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

/// A `data:` URL carrying `bytes`.
pub fn data_url(bytes: &[u8]) -> String {
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn array<'a>(v: &'a mut Value, path: &[&str]) -> Result<&'a mut Vec<Value>> {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| anyhow!("config: {} is not an object", path[..i].join(".")))?;
        let last = i + 1 == path.len();
        cur = obj
            .entry(key.to_string())
            .or_insert_with(|| if last { json!([]) } else { json!({}) });
    }
    cur.as_array_mut()
        .ok_or_else(|| anyhow!("config: {} is not an array", path.join(".")))
}

/// Adds the agent (its script and an enabled unit) to an Ignition config (spec 3.x).
pub fn merge_into(config: &mut Value) -> Result<()> {
    array(config, &["storage", "files"])?.push(json!({
        "path": SCRIPT_PATH,
        "mode": 0o755,
        "overwrite": true,
        "contents": {"source": data_url(SCRIPT.as_bytes())}
    }));
    array(config, &["systemd", "units"])?.push(json!({
        "name": UNIT_NAME,
        "enabled": true,
        "contents": unit()
    }));
    // `enabled` becomes a preset (`/etc/systemd/system-preset/20-ignition.preset`, as Go
    // Ignition does), which systemd applies only on a boot it detects as the first one. The
    // agent must not depend on that (scenario 1 tests it): link it into the target as well.
    array(config, &["storage", "links"])?.push(json!({
        "path": format!("/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"),
        "target": format!("/etc/systemd/system/{UNIT_NAME}"),
        "overwrite": true
    }));
    Ok(())
}

/// What a command did in the guest.
#[derive(Debug, Clone)]
pub struct Exec {
    pub status: i32,
    /// stdout and stderr, interleaved.
    pub output: String,
}

/// One response line: `R <id> <status> <base64>`. Pure.
pub fn parse_response(line: &str) -> Option<(u64, Exec)> {
    let mut it = line.trim_end().splitn(4, ' ');
    if it.next()? != "R" {
        return None;
    }
    let id = it.next()?.parse().ok()?;
    let status = it.next()?.parse().ok()?;
    let b64 = it.next().unwrap_or("").trim();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((
        id,
        Exec {
            status,
            output: String::from_utf8_lossy(&bytes).into_owned(),
        },
    ))
}

/// One request line. Pure.
pub fn request(id: u64, command: &str) -> String {
    format!(
        "C {id} {}\n",
        base64::engine::general_purpose::STANDARD.encode(command)
    )
}

/// The host side: a connection to QEMU's socket for the port, reopened when needed.
pub struct Agent {
    socket: PathBuf,
    conn: Option<BufReader<UnixStream>>,
    next_id: u64,
}

impl Agent {
    pub fn new(socket: &Path) -> Agent {
        Agent {
            socket: socket.to_path_buf(),
            conn: None,
            next_id: 1,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<UnixStream>> {
        if self.conn.is_none() {
            let s = UnixStream::connect(&self.socket)
                .with_context(|| format!("connecting to {}", self.socket.display()))?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Sends a command; does not wait for its answer (for `poweroff` and `reboot`).
    pub fn send(&mut self, command: &str) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let line = request(id, command);
        let r = self.connect()?.get_mut().write_all(line.as_bytes());
        if let Err(e) = r {
            self.conn = None;
            return Err(e).context("writing to the agent socket");
        }
        Ok(id)
    }

    /// Runs `command` with `sh` in the guest and waits up to `timeout` for its answer.
    /// Answers to earlier commands (that timed out) are skipped.
    pub fn exec(&mut self, command: &str, timeout: Duration) -> Result<Exec> {
        let deadline = Instant::now() + timeout;
        let id = self.send(command)?;
        let mut line = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no answer from the guest agent within {timeout:?} to `{command}`");
            }
            let conn = self.connect()?;
            conn.get_ref()
                .set_read_timeout(Some(left.min(Duration::from_millis(500))))?;
            match conn.read_line(&mut line) {
                Ok(0) => {
                    self.conn = None;
                    bail!("the agent socket closed (QEMU exited?) while running `{command}`");
                }
                Ok(_) if line.ends_with('\n') => {
                    let got = parse_response(&line);
                    line.clear();
                    match got {
                        Some((rid, exec)) if rid == id => return Ok(exec),
                        _ => continue,
                    }
                }
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => {
                    self.conn = None;
                    return Err(e).context("reading from the agent socket");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_round_trip() {
        let req = request(7, "echo 'a b'; exit 3");
        assert!(req.starts_with("C 7 ") && req.ends_with('\n'));
        let out = base64::engine::general_purpose::STANDARD.encode("a b\n");
        let (id, e) = parse_response(&format!("R 7 3 {out}\n")).unwrap();
        assert_eq!((id, e.status, e.output.as_str()), (7, 3, "a b\n"));
        let (_, e) = parse_response("R 8 0 \n").unwrap();
        assert_eq!(e.output, "");
        assert!(parse_response("garbage").is_none());
        assert!(parse_response("R x 0 ").is_none());
    }

    #[test]
    fn merge_adds_script_and_enabled_unit() {
        let mut c =
            json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/x"}]}});
        merge_into(&mut c).unwrap();
        let files = c["storage"]["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1]["path"], SCRIPT_PATH);
        assert_eq!(files[1]["mode"], 0o755);
        assert_eq!(c["systemd"]["units"][0]["name"], UNIT_NAME);
        assert_eq!(c["systemd"]["units"][0]["enabled"], true);
        assert_eq!(
            c["storage"]["links"][0]["path"],
            "/etc/systemd/system/multi-user.target.wants/mooring-agent.service"
        );
        let mut bad = json!({"storage": []});
        assert!(merge_into(&mut bad).is_err());
    }
}
