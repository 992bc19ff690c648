//! One QEMU process: a pure description of the machine ([`VmSpec`], turned into arguments by
//! [`VmSpec::args`]) and the running process ([`Vm`], killed on drop).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::accel::Accel;

/// The name of the guest's virtio-serial port for the agent
/// (`/dev/virtio-ports/org.mooring.agent` in the guest).
pub const AGENT_PORT: &str = "org.mooring.agent";

/// The fw_cfg name Ignition's `qemu` platform reads its config from.
pub const IGNITION_FW_CFG: &str = "opt/com.coreos/config";

/// How the machine boots.
#[derive(Debug, Clone)]
pub enum BootFrom {
    /// Firmware (SeaBIOS) boots the first disk through its bootloader.
    Disk,
    /// Direct kernel boot.
    Kernel {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
    },
}

#[derive(Debug, Clone)]
pub struct Drive {
    pub path: PathBuf,
    /// `qcow2` or `raw`.
    pub format: String,
}

#[derive(Debug, Clone)]
pub struct VmSpec {
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    pub boot: BootFrom,
    /// virtio disks: `/dev/vda`, `/dev/vdb`, ... in this order.
    pub drives: Vec<Drive>,
    /// Read-only virtio disks after `drives` (QEMU opens them `readonly=on`, so the guest
    /// cannot write them and their files are never changed).
    pub read_only_drives: Vec<Drive>,
    /// An ISO image as the machine's CD-ROM (`-cdrom`, `/dev/sr0`); with no disk, SeaBIOS
    /// boots it.
    pub cdrom: Option<PathBuf>,
    /// fw_cfg blobs: (name, file).
    pub fw_cfg: Vec<(String, PathBuf)>,
    /// User-mode networking (the host is 10.0.2.2 in the guest) with these
    /// `tcp` forwards: (host port on 127.0.0.1, guest port).
    pub network: Option<Vec<(u16, u16)>>,
    /// ttyS0.
    pub console_log: PathBuf,
    /// ttyS1: a clean channel for test markers (the getty competes for ttyS0).
    pub markers_log: Option<PathBuf>,
    /// The agent's virtio-serial port, as a UNIX socket QEMU listens on.
    pub agent_socket: Option<PathBuf>,
    /// Exit instead of rebooting.
    pub no_reboot: bool,
}

impl VmSpec {
    /// A machine with the defaults of the scenarios: 2 GiB, 2 CPUs, boots its first disk.
    pub fn new(accel: Accel, console_log: PathBuf) -> VmSpec {
        VmSpec {
            accel,
            memory_mib: 2048,
            cpus: 2,
            boot: BootFrom::Disk,
            drives: Vec::new(),
            read_only_drives: Vec::new(),
            cdrom: None,
            fw_cfg: Vec::new(),
            network: None,
            console_log,
            markers_log: None,
            agent_socket: None,
            no_reboot: false,
        }
    }

    /// The arguments of `qemu-system-x86_64`. Pure.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        push(&[
            "-accel",
            self.accel.arg(),
            "-nodefaults",
            "-nographic",
            "-monitor",
            "none",
        ]);
        push(&[
            "-m",
            &self.memory_mib.to_string(),
            "-smp",
            &self.cpus.to_string(),
        ]);
        if self.no_reboot {
            push(&["-no-reboot"]);
        }
        push(&["-serial", &format!("file:{}", self.console_log.display())]);
        if let Some(m) = &self.markers_log {
            push(&["-serial", &format!("file:{}", m.display())]);
        }
        if let BootFrom::Kernel {
            kernel,
            initrd,
            append,
        } = &self.boot
        {
            push(&["-kernel", &kernel.to_string_lossy()]);
            push(&["-initrd", &initrd.to_string_lossy()]);
            push(&["-append", append]);
        }
        for (i, d) in self.drives.iter().enumerate() {
            let boot = if i == 0 && matches!(self.boot, BootFrom::Disk) {
                ",bootindex=0"
            } else {
                ""
            };
            push(&[
                "-drive",
                &format!(
                    "file={},format={},if=none,id=disk{i},cache=writeback,discard=unmap",
                    d.path.display(),
                    d.format
                ),
                "-device",
                &format!("virtio-blk-pci,drive=disk{i},serial=disk{i}{boot}"),
            ]);
        }
        for (j, d) in self.read_only_drives.iter().enumerate() {
            let i = self.drives.len() + j;
            push(&[
                "-drive",
                &format!(
                    "file={},format={},if=none,id=disk{i},readonly=on",
                    d.path.display(),
                    d.format
                ),
                "-device",
                &format!("virtio-blk-pci,drive=disk{i},serial=disk{i}"),
            ]);
        }
        if let Some(iso) = &self.cdrom {
            push(&["-cdrom", &iso.to_string_lossy()]);
        }
        for (name, file) in &self.fw_cfg {
            push(&["-fw_cfg", &format!("name={name},file={}", file.display())]);
        }
        if let Some(fwd) = &self.network {
            let mut netdev = "user,id=net0".to_string();
            for (host, guest) in fwd {
                netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
            }
            // No option ROM: the guest boots from its disk, iPXE only costs time.
            push(&[
                "-netdev",
                &netdev,
                "-device",
                "virtio-net-pci,netdev=net0,romfile=",
            ]);
        }
        if let Some(sock) = &self.agent_socket {
            push(&[
                "-device",
                "virtio-serial-pci",
                "-chardev",
                &format!("socket,path={},server=on,wait=off,id=agent", sock.display()),
                "-device",
                &format!("virtserialport,chardev=agent,name={AGENT_PORT}"),
            ]);
        }
        a
    }
}

/// A running QEMU; killed on drop.
pub struct Vm {
    child: Child,
    stderr_log: PathBuf,
    command: String,
}

impl Vm {
    /// Starts QEMU; its stderr goes to `stderr_log`.
    pub fn start(spec: &VmSpec, stderr_log: &Path) -> Result<Vm> {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(spec.args());
        let command = crate::cmd::display(&cmd);
        crate::cmd::log(&format!("$ {command}"));
        let err = std::fs::File::create(stderr_log)
            .with_context(|| format!("creating {}", stderr_log.display()))?;
        // QEMU dies with us, even when we are killed (no Drop then).
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting `{command}`"))?;
        Ok(Vm {
            child,
            stderr_log: stderr_log.to_path_buf(),
            command,
        })
    }

    /// The exit status, when QEMU has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What QEMU wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Describes an unexpected exit: the status, the command and QEMU's stderr.
    pub fn exit_report(&self, status: ExitStatus) -> String {
        format!(
            "qemu exited ({status}); command: {}; stderr: {}",
            self.command,
            self.stderr().trim()
        )
    }

    /// Waits for QEMU to exit (the guest powered off); false on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VmSpec {
        let mut s = VmSpec::new(Accel::Tcg, "/w/console.log".into());
        s.drives.push(Drive {
            path: "/w/disk.qcow2".into(),
            format: "qcow2".into(),
        });
        s.drives.push(Drive {
            path: "/w/data.raw".into(),
            format: "raw".into(),
        });
        s.fw_cfg
            .push((IGNITION_FW_CFG.into(), "/w/config.ign".into()));
        s.network = Some(vec![(2222, 22)]);
        s.agent_socket = Some("/w/agent.sock".into());
        s.markers_log = Some("/w/markers.log".into());
        s
    }

    fn has(args: &[String], pair: [&str; 2]) -> bool {
        args.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
    }

    #[test]
    fn machine_arguments() {
        let a = spec().args();
        assert!(has(&a, ["-accel", "tcg"]));
        assert!(a.contains(&"-nodefaults".to_string()));
        assert!(a.contains(&"-nographic".to_string()));
        assert!(has(&a, ["-m", "2048"]));
        assert!(has(&a, ["-smp", "2"]));
        assert!(has(&a, ["-serial", "file:/w/console.log"]));
        assert!(has(&a, ["-serial", "file:/w/markers.log"]));
        assert!(has(
            &a,
            ["-fw_cfg", "name=opt/com.coreos/config,file=/w/config.ign"]
        ));
        assert!(has(
            &a,
            ["-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"]
        ));
        assert!(has(
            &a,
            [
                "-device",
                "virtio-blk-pci,drive=disk0,serial=disk0,bootindex=0"
            ]
        ));
        assert!(has(
            &a,
            ["-device", "virtio-blk-pci,drive=disk1,serial=disk1"]
        ));
        assert!(has(
            &a,
            [
                "-chardev",
                "socket,path=/w/agent.sock,server=on,wait=off,id=agent"
            ]
        ));
        assert!(has(
            &a,
            [
                "-device",
                "virtserialport,chardev=agent,name=org.mooring.agent"
            ]
        ));
        assert!(!a.contains(&"-kernel".to_string()));
        assert!(!a.contains(&"-no-reboot".to_string()));
        assert!(!a.contains(&"-cdrom".to_string()));
        assert!(!a.iter().any(|x| x.contains("readonly")));
    }

    #[test]
    fn read_only_disks_follow_the_others_and_a_cdrom() {
        let mut s = spec();
        s.read_only_drives.push(Drive {
            path: "/i/disk.raw".into(),
            format: "raw".into(),
        });
        s.cdrom = Some("/w/live.iso".into());
        let a = s.args();
        assert!(has(
            &a,
            [
                "-drive",
                "file=/i/disk.raw,format=raw,if=none,id=disk2,readonly=on"
            ]
        ));
        assert!(has(
            &a,
            ["-device", "virtio-blk-pci,drive=disk2,serial=disk2"]
        ));
        assert!(has(&a, ["-cdrom", "/w/live.iso"]));
    }

    #[test]
    fn direct_kernel_boot() {
        let mut s = spec();
        s.boot = BootFrom::Kernel {
            kernel: "/boot/vmlinuz".into(),
            initrd: "/w/initrd".into(),
            append: "console=ttyS0".into(),
        };
        s.no_reboot = true;
        let a = s.args();
        assert!(has(&a, ["-kernel", "/boot/vmlinuz"]));
        assert!(has(&a, ["-append", "console=ttyS0"]));
        assert!(a.contains(&"-no-reboot".to_string()));
        assert!(has(
            &a,
            ["-device", "virtio-blk-pci,drive=disk0,serial=disk0"]
        ));
    }
}
