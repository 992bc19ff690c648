//! The command line (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mcd",
    version,
    about = "Machine Config Daemon: keeps a node at its rendered MachineConfig"
)]
pub struct Cli {
    /// Operate on the tree under DIR instead of / (no systemd there: live actions are reported)
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// The ostree sysroot for rpm-ostree (default: derived from --root)
    #[arg(long, global = true, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: follow the pool's desired config from the MCS (see docs/mcd.md)
    Start {
        /// The node's name (default: the host name)
        #[arg(long, value_name = "NAME")]
        node_name: Option<String>,
        /// After a reboot into an update, the boot-complete check (as verify-boot's)
        /// [default: unit:multi-user.target on the booted system, none under --root]
        #[arg(long, value_name = "CHECK", value_parser = |s: &str| s.parse::<crate::verify::BootCheck>())]
        boot_check: Option<crate::verify::BootCheck>,
        /// How long the boot-complete check may take (seconds, or with s, m, h)
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::verify::parse_duration)]
        boot_timeout: std::time::Duration,
        /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP; off unless given),
        /// e.g. 127.0.0.1:9334
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Apply a rendered MachineConfig or an Ignition config (file or URL) once
    OnceFrom { source: String },
    /// Print the diff and the plan from the current config to NEW; change nothing
    Plan {
        /// A rendered MachineConfig or an Ignition config (file or URL)
        new: String,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
    },
    /// Apply the OS image and kernel arguments of the encapsulated first-boot MachineConfig
    FirstbootCompleteMachineconfig,
    /// Compare the on-disk state with the current config; exit 1 on drift
    Validate,
    /// After the reboot into an update: check the booted deployment, the boot, the files;
    /// record the config (Done), or roll back an unhealthy deployment (Degraded)
    VerifyBoot {
        /// unit:NAME (active over D-Bus), file:/PATH (exists in the root), command:CMD (exits 0)
        /// or none [default: unit:multi-user.target on the booted system, none under --root]
        #[arg(long, value_name = "CHECK", value_parser = |s: &str| s.parse::<crate::verify::BootCheck>())]
        boot_check: Option<crate::verify::BootCheck>,
        /// How long the boot-complete check may take (seconds, or with s, m, h)
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::verify::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Finish or roll back an interrupted apply, then re-apply the current config
    Recover {
        /// Accept the on-disk state as it is instead of re-applying
        #[arg(long)]
        accept_on_disk: bool,
    },
}
