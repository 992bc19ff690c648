//! What a scenario gets: its temporary directory, the image, and helpers that boot the image
//! with a config (an overlay over the image's disk, the config through fw_cfg, the agent
//! merged in, user-mode networking, the console and markers logs in the directory).

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::accel::Accel;
use crate::disk;
use crate::image::Image;
use crate::machine::Machine;
use crate::qemu::{Drive, VmSpec, IGNITION_FW_CFG};
use crate::workdir::WorkDir;

pub struct Ctx {
    pub work: WorkDir,
    pub image: Option<Image>,
    pub accel: Accel,
    /// Stream the console to stderr.
    pub console: bool,
}

/// How to boot the image.
pub struct Boot {
    /// The Ignition config (the agent is merged in when `agent` is set).
    pub config: Value,
    pub agent: bool,
    /// Disks after the OS disk (`/dev/vdb`, ...).
    pub extra_disks: Vec<Drive>,
    pub network: bool,
}

impl Boot {
    pub fn with_agent(config: Value) -> Boot {
        Boot {
            config,
            agent: true,
            extra_disks: Vec::new(),
            network: true,
        }
    }
}

impl Ctx {
    pub fn image(&self) -> Result<&Image> {
        self.image
            .as_ref()
            .context("this scenario needs the OS image, and none was loaded")
    }

    /// The scenario's OS disk: a qcow2 overlay over the image's `disk.qcow2`, made on first use.
    pub fn os_disk(&self) -> Result<PathBuf> {
        let p = self.work.join("os.qcow2");
        if !p.exists() {
            disk::overlay(&self.image()?.disk_qcow2(), &p)?;
        }
        Ok(p)
    }

    /// Boots the image (firmware, bootloader on the disk) with `boot`'s config; `name` names
    /// the logs (`console-NAME.log`, `markers-NAME.log`, `qemu-NAME.log`).
    pub fn boot(&self, name: &str, mut boot: Boot) -> Result<Machine> {
        if boot.agent {
            crate::agent::merge_into(&mut boot.config)?;
        }
        let cfg = self.work.join(&format!("config-{name}.ign"));
        std::fs::write(&cfg, serde_json::to_vec_pretty(&boot.config)?)
            .with_context(|| format!("writing {}", cfg.display()))?;
        let mut spec = VmSpec::new(self.accel, self.work.join(&format!("console-{name}.log")));
        spec.markers_log = Some(self.work.join(&format!("markers-{name}.log")));
        spec.drives.push(Drive {
            path: self.os_disk()?,
            format: "qcow2".into(),
        });
        spec.drives.extend(boot.extra_disks);
        spec.fw_cfg.push((IGNITION_FW_CFG.into(), cfg));
        spec.network = boot.network.then(Vec::new);
        if boot.agent {
            spec.agent_socket = Some(self.work.join(&format!("agent-{name}.sock")));
        }
        Machine::start(name, &spec, self.work.path(), self.console)
    }
}
