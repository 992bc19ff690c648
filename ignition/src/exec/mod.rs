//! The first-boot executor behind the `ignition` binary: Go Ignition's
//! command line and stages: `fetch-offline`, `fetch` (config acquisition,
//! see [`acquire`]), `kargs` ([`kargs`]), `disks` ([`disks`]), `mount` and
//! `umount` ([`mount`]), `files` (on a root directory, see [`files`]).

pub mod acquire;
pub mod cli;
pub mod cmd;
pub mod disks;
pub mod files;
pub mod kargs;
pub mod logging;
pub mod mount;
pub mod net;
pub mod root;
pub mod rootcache;
pub mod state;
pub mod tftp;

use std::path::PathBuf;
use std::time::Duration;

use crate::model::Config;
use acquire::AcquireError;
use cli::Options;
use state::{FetchedConfig, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    FetchOffline,
    Fetch,
    Kargs,
    Disks,
    Mount,
    Files,
    Umount,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::FetchOffline,
        Stage::Fetch,
        Stage::Kargs,
        Stage::Disks,
        Stage::Mount,
        Stage::Files,
        Stage::Umount,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::FetchOffline => "fetch-offline",
            Stage::Fetch => "fetch",
            Stage::Kargs => "kargs",
            Stage::Disks => "disks",
            Stage::Mount => "mount",
            Stage::Files => "files",
            Stage::Umount => "umount",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown stage; stages are {}",
                    Stage::ALL.map(Stage::name).join(", ")
                )
            })
    }
}

/// Where the executor looks for what the machine provides. [`Env::from_env`]
/// reads the defaults and the overrides tests use.
#[derive(Debug, Clone)]
pub struct Env {
    /// `$IGNITION_SYSTEM_CONFIG_DIR`, default `/usr/lib/ignition`.
    pub system_dir: PathBuf,
    /// `$IGNITION_CONFIG_FILE` (platform `file`).
    pub config_file: Option<PathBuf>,
    /// `$IGNITION_KERNEL_CMDLINE_PATH`, default `/proc/cmdline`.
    pub cmdline_path: PathBuf,
    /// `$IGNITION_QEMU_FW_CFG_PATH`, default the sysfs blob of `opt/com.coreos/config`.
    pub fw_cfg_path: PathBuf,
    /// `$IGNITION_BOOT_ID_PATH`, default `/proc/sys/kernel/random/boot_id`.
    pub boot_id_path: PathBuf,
    /// `$IGNITION_KARGS_REBOOT_PATH`, default [`kargs::REBOOT_FLAG`]: created
    /// when the kargs stage changed the boot entries.
    pub kargs_reboot_path: PathBuf,
}

impl Env {
    pub fn from_env() -> Env {
        let var = |name: &str, default: &str| {
            PathBuf::from(
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_string()),
            )
        };
        Env {
            system_dir: var("IGNITION_SYSTEM_CONFIG_DIR", "/usr/lib/ignition"),
            config_file: std::env::var("IGNITION_CONFIG_FILE")
                .ok()
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cmdline_path: var("IGNITION_KERNEL_CMDLINE_PATH", "/proc/cmdline"),
            fw_cfg_path: var(
                "IGNITION_QEMU_FW_CFG_PATH",
                "/sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw",
            ),
            boot_id_path: var("IGNITION_BOOT_ID_PATH", "/proc/sys/kernel/random/boot_id"),
            kargs_reboot_path: var("IGNITION_KARGS_REBOOT_PATH", kargs::REBOOT_FLAG),
        }
    }
}

/// A stage's failure: one line naming what and why.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{stage} failed: {message}")]
    Failed { stage: Stage, message: String },
}

/// Runs one stage. In a dry run, prints what it would do to stdout and
/// changes nothing (no cache, flag, state or root writes).
pub fn run(opts: &Options, env: &Env) -> Result<(), ExecError> {
    let stage = opts.stage;
    let fail = |message: String| ExecError::Failed { stage, message };
    let mut state = State::load(&opts.state_file).map_err(fail)?;
    let base = acquire::base_config(env, &opts.platform).map_err(fail)?;
    state
        .fetched_configs
        .push(FetchedConfig::new("base", "system", false));
    let dry = |line: String| println!("[dry-run] {stage}: {line}");

    match stage {
        Stage::FetchOffline | Stage::Fetch => {
            let provider = if stage == Stage::FetchOffline {
                net::fetchers(None)
            } else {
                net::fetchers(Some(net::NetSettings {
                    total: Some(opts.fetch_timeout).filter(|t| *t > Duration::ZERO),
                    ..Default::default()
                }))
            }
            .map_err(fail)?;
            let offline = stage == Stage::FetchOffline;
            // A config's references are fetched with its own timeouts, proxy
            // and CAs (as Go does): a pointer config carries the CA of the
            // server its merged config comes from.
            let render = |c: &Config| {
                if offline {
                    return net::fetchers(None);
                }
                let mut settings =
                    net::NetSettings::from_config(&c.ignition.timeouts, &c.ignition.proxy);
                for (i, ca) in c
                    .ignition
                    .security
                    .tls
                    .certificate_authorities
                    .iter()
                    .enumerate()
                {
                    let blob = crate::fetch::fetch_resource(&provider, ca).map_err(|e| {
                        format!("$.ignition.security.tls.certificateAuthorities.{i}: {e}")
                    })?;
                    settings.cas.push(blob);
                }
                net::fetchers(Some(settings))
            };
            let acquired =
                acquire::user_config(env, &opts.platform, &provider, &render, &mut state).and_then(
                    |mut cfg| {
                        let f = render(&cfg)?;
                        acquire::inline_cas(&mut cfg, &f)?;
                        Ok(cfg)
                    },
                );
            let cfg = match acquired {
                Ok(cfg) => cfg,
                Err(AcquireError::NeedsNetwork(url)) if offline => {
                    tracing::info!("the config needs the network ({url}): signalling neednet");
                    return signal_neednet(opts, &state, dry).map_err(fail);
                }
                Err(AcquireError::NeedsNetwork(url)) => {
                    return Err(fail(format!("{url} needs the network")))
                }
                Err(AcquireError::Failed(m)) => return Err(fail(m)),
            };
            if opts.dry_run {
                dry(format!(
                    "write the config cache {} (mode 0640)",
                    opts.config_cache.display()
                ));
            } else {
                acquire::write_cache(&opts.config_cache, &cfg).map_err(fail)?;
                tracing::info!("wrote the config cache {}", opts.config_cache.display());
            }
            let full = crate::merge::merge(&base, &cfg);
            if offline && acquire::needs_network(&full) {
                tracing::info!(
                    "the config references resources that need the network: signalling neednet"
                );
                return signal_neednet(opts, &state, dry).map_err(fail);
            }
            save_state(opts, &state, dry).map_err(fail)
        }
        Stage::Files => {
            let cfg = acquire::cached_config(&opts.config_cache).map_err(fail)?;
            let full = crate::merge::merge(&base, &cfg);
            let root = root::Root::new(&opts.root).map_err(|e| fail(e.to_string()))?;
            let fetchers = resource_fetchers(&full).map_err(fail)?;
            let fopts = files::FilesOptions {
                boot_id_path: env.boot_id_path.clone(),
                user_config_provided: state.user_config_provided(),
                dry_run: opts.dry_run,
            };
            let ops =
                files::run_with_state(&full, &root, &fetchers, &fopts, &mut state).map_err(fail)?;
            for op in ops {
                dry(op);
            }
            save_state(opts, &state, dry).map_err(fail)
        }
        Stage::Kargs | Stage::Disks | Stage::Mount | Stage::Umount => {
            let cfg = acquire::cached_config(&opts.config_cache).map_err(fail)?;
            let full = crate::merge::merge(&base, &cfg);
            let ops = match stage {
                Stage::Kargs => kargs::run(
                    &full.kernel_arguments,
                    &opts.root,
                    &env.kargs_reboot_path,
                    opts.dry_run,
                ),
                Stage::Disks => resource_fetchers(&full)
                    .and_then(|f| disks::run(&full, &f, &mut state, opts.dry_run)),
                Stage::Mount => mount::mount(&full, &opts.root, &mut state, opts.dry_run),
                _ => mount::umount(&full, &opts.root, opts.dry_run),
            }
            .map_err(fail)?;
            for op in ops {
                dry(op);
            }
            save_state(opts, &state, dry).map_err(fail)
        }
    }
}

/// The fetchers for a config's resources: network settings and CAs from
/// the config (its CAs are data URLs in the cache).
fn resource_fetchers(full: &Config) -> Result<crate::fetch::Fetchers, String> {
    let mut settings = net::NetSettings::from_config(&full.ignition.timeouts, &full.ignition.proxy);
    let data_only = crate::fetch::Fetchers::new();
    for (i, ca) in full
        .ignition
        .security
        .tls
        .certificate_authorities
        .iter()
        .enumerate()
    {
        let blob = crate::fetch::fetch_resource(&data_only, ca)
            .map_err(|e| format!("$.ignition.security.tls.certificateAuthorities.{i}: {e}"))?;
        settings.cas.push(blob);
    }
    net::fetchers(Some(settings))
}

fn signal_neednet(opts: &Options, state: &State, dry: impl Fn(String)) -> Result<(), String> {
    if opts.dry_run {
        dry(format!("write the neednet flag {}", opts.neednet.display()));
    } else {
        if let Some(d) = opts.neednet.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("failed to signal neednet: {}: {e}", d.display()))?;
        }
        std::fs::write(&opts.neednet, b"")
            .map_err(|e| format!("failed to signal neednet: {}: {e}", opts.neednet.display()))?;
    }
    save_state(opts, state, dry)
}

fn save_state(opts: &Options, state: &State, dry: impl Fn(String)) -> Result<(), String> {
    if opts.dry_run {
        dry(format!(
            "write the state file {}",
            opts.state_file.display()
        ));
        Ok(())
    } else {
        state.save(&opts.state_file)
    }
}

/// The current time as RFC 3339 in the local zone, as Go formats it.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if !ok {
        return String::new();
    }
    let off = tm.tm_gmtoff;
    let zone = if off == 0 {
        "Z".to_string()
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            off.abs() / 3600,
            (off.abs() % 3600) / 60
        )
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Sends `tracing` output to the journal when its socket exists and
/// `to_stdout` is false, else to stdout or stderr (see [`logging`]).
pub fn init_logging(to_stdout: bool) -> logging::Sink {
    let sink = logging::choose(to_stdout, &logging::journal_socket());
    logging::init(&sink, None);
    sink
}
