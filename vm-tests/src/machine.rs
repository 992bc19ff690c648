//! The scenario API over one running guest: wait for a console line, run a command through
//! the agent, wait for a file, reboot, power off. Every timeout error carries the last
//! console lines; an unexpected QEMU exit is reported with QEMU's stderr.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::agent::{Agent, Exec};
use crate::console::{Console, Pattern};
use crate::qemu::{Vm, VmSpec};

/// How long one agent command may run unless told otherwise.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

/// The command that powers a guest off (systemd, or busybox in the harness's own tests).
pub const POWEROFF: &str =
    "(sleep 1; if command -v systemctl >/dev/null; then systemctl poweroff; else poweroff -f; fi) >/dev/null 2>&1 &";
/// The command that reboots a guest.
pub const REBOOT: &str =
    "(sleep 1; if command -v systemctl >/dev/null; then systemctl reboot; else reboot -f; fi) >/dev/null 2>&1 &";

pub struct Machine {
    vm: Vm,
    pub console: Console,
    /// ttyS1, when the spec has it.
    pub markers: Option<Console>,
    agent: Option<Agent>,
    name: String,
}

impl Machine {
    /// Starts QEMU for `spec`; QEMU's stderr goes to `dir/qemu-<name>.log`.
    pub fn start(name: &str, spec: &VmSpec, dir: &Path, stream_console: bool) -> Result<Machine> {
        let vm = Vm::start(spec, &dir.join(format!("qemu-{name}.log")))?;
        Ok(Machine {
            vm,
            console: Console::new(&spec.console_log, stream_console),
            markers: spec.markers_log.as_ref().map(|p| Console::new(p, false)),
            agent: spec.agent_socket.as_ref().map(|s| Agent::new(s)),
            name: name.to_string(),
        })
    }

    fn failure(&mut self, what: String) -> anyhow::Error {
        let exit = self
            .vm
            .exited()
            .map(|s| format!("\n{}", self.vm.exit_report(s)))
            .unwrap_or_default();
        anyhow::anyhow!(
            "{}: {what}{exit}\n{}",
            self.name,
            self.console.tail_report()
        )
    }

    /// Waits for a console line matching `pattern` after the last one found; returns it.
    pub fn wait_console(
        &mut self,
        pattern: impl Into<Pattern>,
        timeout: Duration,
    ) -> Result<String> {
        let pattern = pattern.into();
        let start = Instant::now();
        loop {
            if let Some(line) = self.console.poll(&pattern) {
                return Ok(line);
            }
            if let Some(s) = self.vm.exited() {
                // One last look: QEMU may have written the line just before exiting.
                if let Some(line) = self.console.poll(&pattern) {
                    return Ok(line);
                }
                let _ = s;
                return Err(self.failure(format!(
                    "QEMU exited before a console line matched {pattern}"
                )));
            }
            if start.elapsed() > timeout {
                return Err(self.failure(format!(
                    "no console line matched {pattern} within {}s",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for a line on the markers channel (ttyS1).
    pub fn wait_marker(
        &mut self,
        pattern: impl Into<Pattern>,
        timeout: Duration,
    ) -> Result<String> {
        let pattern = pattern.into();
        let start = Instant::now();
        loop {
            let Some(m) = self.markers.as_mut() else {
                bail!("{}: the machine has no markers channel", self.name);
            };
            if let Some(line) = m.poll(&pattern) {
                return Ok(line);
            }
            if self.vm.exited().is_some() || start.elapsed() > timeout {
                return Err(self.failure(format!("no marker matched {pattern}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn agent(&mut self) -> Result<&mut Agent> {
        match self.agent.as_mut() {
            Some(a) => Ok(a),
            None => bail!("{}: the machine has no agent port", self.name),
        }
    }

    /// Runs a command with `sh` in the guest: its exit status and output.
    pub fn exec(&mut self, command: &str, timeout: Duration) -> Result<Exec> {
        if let Some(s) = self.vm.exited() {
            let report = self.vm.exit_report(s);
            return Err(self.failure(format!("cannot run `{command}`: {report}")));
        }
        match self.agent()?.exec(command, timeout) {
            Ok(e) => Ok(e),
            Err(e) => Err(self.failure(format!("{e:#}"))),
        }
    }

    /// Runs a command that must succeed; returns its output.
    pub fn run(&mut self, command: &str) -> Result<String> {
        let e = self.exec(command, EXEC_TIMEOUT)?;
        if e.status != 0 {
            bail!(
                "{}: `{command}` exited with {} in the guest: {}",
                self.name,
                e.status,
                e.output.trim()
            );
        }
        Ok(e.output)
    }

    /// Waits until the agent answers (the guest is up and the agent started).
    pub fn wait_agent(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            // Each attempt queues one command until the guest opens its port: few, long ones.
            let left = timeout.saturating_sub(start.elapsed());
            let step = left.clamp(Duration::from_secs(1), Duration::from_secs(30));
            if self.vm.exited().is_some() {
                return Err(self.failure("QEMU exited while waiting for the agent".into()));
            }
            let err = match self.agent()?.exec("true", step) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if start.elapsed() > timeout {
                return Err(self.failure(format!(
                    "the guest agent did not answer within {}s ({err:#})",
                    timeout.as_secs()
                )));
            }
            // Connection refused before QEMU listens: do not spin.
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Waits until `path` exists in the guest.
    pub fn wait_file(&mut self, path: &str, timeout: Duration) -> Result<()> {
        let test = format!("test -e '{}'", path.replace('\'', "'\\''"));
        self.poll(&test, timeout, Duration::from_secs(1))
            .map(|_| ())
            .map_err(|e| e.context(format!("{path} did not appear in the guest")))
    }

    /// Waits until `check` (a command) succeeds in the guest; returns its output.
    pub fn wait_until(&mut self, check: &str, timeout: Duration) -> Result<String> {
        self.poll(check, timeout, Duration::from_secs(2))
    }

    /// Runs `check` every `every` until it succeeds; returns its output.
    fn poll(&mut self, check: &str, timeout: Duration, every: Duration) -> Result<String> {
        let start = Instant::now();
        loop {
            let e = self.exec(check, EXEC_TIMEOUT)?;
            if e.status == 0 {
                return Ok(e.output);
            }
            if start.elapsed() > timeout {
                return Err(self.failure(format!(
                    "`{check}` did not succeed within {}s (last: status {}, {})",
                    timeout.as_secs(),
                    e.status,
                    e.output.trim()
                )));
            }
            std::thread::sleep(every);
        }
    }

    /// The guest's boot id.
    pub fn boot_id(&mut self) -> Result<String> {
        Ok(self
            .run("cat /proc/sys/kernel/random/boot_id")?
            .trim()
            .to_string())
    }

    /// Reboots the guest and waits until the agent answers from the new boot.
    pub fn reboot(&mut self, timeout: Duration) -> Result<()> {
        let before = self.boot_id()?;
        self.agent()?.send(REBOOT)?;
        let start = Instant::now();
        loop {
            if self.vm.exited().is_some() {
                return Err(self.failure("QEMU exited instead of rebooting".into()));
            }
            if let Ok(e) = self.agent()?.exec(
                "cat /proc/sys/kernel/random/boot_id",
                Duration::from_secs(3),
            ) {
                if e.status == 0 && e.output.trim() != before {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                return Err(self.failure(format!(
                    "the guest did not come back from a reboot within {}s",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Asks the guest to power off and waits for QEMU to exit.
    pub fn poweroff(&mut self, timeout: Duration) -> Result<()> {
        self.agent()?.send(POWEROFF)?;
        self.wait_exit(timeout)
    }

    /// Waits for QEMU to exit on its own (the guest powered off).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<()> {
        match self.vm.wait_exit(timeout) {
            Some(_) => Ok(()),
            None => {
                let e = self.failure(format!(
                    "the guest did not power off within {}s",
                    timeout.as_secs()
                ));
                self.vm.kill();
                Err(e)
            }
        }
    }

    /// Stops QEMU now.
    pub fn kill(&mut self) {
        self.vm.kill();
    }

    pub fn console_path(&self) -> PathBuf {
        self.console.path().to_path_buf()
    }
}
