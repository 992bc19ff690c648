//! `mcs serve` on the host for the fleet scenarios: listens on all addresses so the guest
//! reaches it at 10.0.2.2 (QEMU's user-mode network), advertises `https://10.0.2.2:PORT`, and
//! puts 10.0.2.2 in its generated serving certificate. Killed on drop.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::cmd;
use crate::image::sibling_binary;

/// The host as the guest sees it.
pub const HOST_FROM_GUEST: &str = "10.0.2.2";

pub struct McsHost {
    child: Child,
    pub bin: PathBuf,
    pub input: PathBuf,
    pub state: PathBuf,
    pub port: u16,
    log: PathBuf,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("0.0.0.0:0").context("finding a free TCP port")?;
    Ok(l.local_addr()?.port())
}

impl McsHost {
    /// Starts `mcs serve` over `dir/mcs-in` (written by the caller before or after) and waits
    /// until it listens and has rendered `pool`.
    pub fn start(dir: &Path, pool: &str) -> Result<McsHost> {
        let bin = sibling_binary("mcs")?;
        let input = dir.join("mcs-in");
        let state = dir.join("mcs-state");
        std::fs::create_dir_all(&input)?;
        std::fs::create_dir_all(&state)?;
        let port = free_port()?;
        let log = dir.join("mcs.log");
        let err = std::fs::File::create(&log)?;
        let mut c = Command::new(&bin);
        c.arg("serve")
            .arg("--dir")
            .arg(&input)
            .arg("--state-dir")
            .arg(&state)
            .args(["--listen", &format!("0.0.0.0:{port}")])
            .args([
                "--advertise-url",
                &format!("https://{HOST_FROM_GUEST}:{port}"),
            ])
            .args(["--san", HOST_FROM_GUEST]);
        cmd::log(&format!("$ {}", cmd::display(&c)));
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut host = McsHost {
            child,
            bin,
            input,
            state,
            port,
            log,
        };
        let start = Instant::now();
        loop {
            if let Some(s) = host.child.try_wait()? {
                bail!("mcs serve exited ({s}): {}", host.log_text());
            }
            let listening = TcpStream::connect(("127.0.0.1", port)).is_ok();
            if listening && host.rendered(pool).ok().flatten().is_some() {
                return Ok(host);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "mcs serve did not render pool {pool} within 30s: {}",
                    host.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Writes an input file through a rename, as editors do (mcs reloads on change).
    pub fn write_input(&self, name: &str, text: &str) -> Result<()> {
        let tmp = self.input.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.input.join(name))?;
        Ok(())
    }

    /// `mcs status --json`.
    pub fn status(&self) -> Result<Value> {
        let out = cmd::stdout(
            Command::new(&self.bin)
                .args(["status", "--json", "--state-dir"])
                .arg(&self.state),
        )?;
        serde_json::from_str(&out).context("parsing `mcs status --json`")
    }

    /// The pool's rendered config name, once rendered.
    pub fn rendered(&self, pool: &str) -> Result<Option<String>> {
        let st = self.status()?;
        Ok(st["pools"].as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == pool)
                .and_then(|p| p["renderedConfig"].as_str().map(str::to_string))
        }))
    }

    /// The pointer config for `pool` (`mcs pointer`), reaching this server from the guest.
    pub fn pointer(&self, pool: &str) -> Result<Value> {
        let out = cmd::stdout(
            Command::new(&self.bin)
                .arg("pointer")
                .arg("--state-dir")
                .arg(&self.state)
                .args(["--pool", pool, "--url"])
                .arg(format!("https://{HOST_FROM_GUEST}:{}", self.port)),
        )?;
        serde_json::from_str(&out).context("parsing `mcs pointer` output")
    }

    /// Waits until exactly one node is Done at `config` (None: at the pool's rendered config
    /// at that moment); returns the node.
    pub fn wait_node_done(
        &self,
        pool: &str,
        config: Option<&str>,
        timeout: Duration,
    ) -> Result<Value> {
        let start = Instant::now();
        loop {
            let st = self.status()?;
            let want = match config {
                Some(c) => Some(c.to_string()),
                None => self.rendered(pool)?,
            };
            if let Some(nodes) = st["nodes"].as_array() {
                if let Some(n) = nodes.iter().find(|n| {
                    n["pool"] == pool
                        && n["state"] == "Done"
                        && want.as_deref().is_some_and(|w| n["currentConfig"] == w)
                }) {
                    return Ok(n.clone());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "no node of pool {pool} Done at {want:?} within {}s; mcs status: {st}; mcs log tail: {}",
                    timeout.as_secs(),
                    tail(&self.log_text(), 15)
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let l: Vec<&str> = s.lines().collect();
    l[l.len().saturating_sub(n)..].join(" | ")
}

impl Drop for McsHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
