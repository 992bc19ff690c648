//! Live actions after an apply: on a booted system through systemd and logind over D-Bus (zbus,
//! blocking); under `--root` (no systemd running there) they are reported, not performed.

use anyhow::{Context, Result};

use crate::policy::Action;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// The system bus and the calls the daemon makes on it.
pub struct Bus {
    conn: zbus::blocking::Connection,
}

impl Bus {
    pub fn system() -> Result<Bus> {
        Ok(Bus {
            conn: zbus::blocking::Connection::system().context("connecting to the system bus")?,
        })
    }

    fn manager(
        &self,
        method: &str,
        body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    ) -> Result<()> {
        self.conn
            .call_method(Some(SYSTEMD), SYSTEMD_PATH, Some(MANAGER), method, body)
            .with_context(|| format!("systemd {method}"))?;
        Ok(())
    }

    pub fn daemon_reload(&self) -> Result<()> {
        self.manager("Reload", &())
    }
    pub fn reload(&self, unit: &str) -> Result<()> {
        self.manager("ReloadUnit", &(unit, "replace"))
    }
    pub fn restart(&self, unit: &str) -> Result<()> {
        self.manager("RestartUnit", &(unit, "replace"))
    }
    /// `systemctl enable` (links from `[Install]`, as systemd computes them).
    pub fn enable(&self, units: &[&str]) -> Result<()> {
        self.manager("EnableUnitFiles", &(units, false, true))
    }
    pub fn disable(&self, units: &[&str]) -> Result<()> {
        self.manager("DisableUnitFiles", &(units, false))
    }
    /// `ActiveState` of a unit (loaded if it is not).
    pub fn active_state(&self, unit: &str) -> Result<String> {
        let reply = self
            .conn
            .call_method(
                Some(SYSTEMD),
                SYSTEMD_PATH,
                Some(MANAGER),
                "LoadUnit",
                &(unit,),
            )
            .with_context(|| format!("systemd LoadUnit {unit}"))?;
        let path: zbus::zvariant::OwnedObjectPath = reply
            .body()
            .deserialize()
            .with_context(|| format!("systemd LoadUnit {unit}: reply"))?;
        let proxy =
            zbus::blocking::Proxy::new(&self.conn, SYSTEMD, path, "org.freedesktop.systemd1.Unit")
                .with_context(|| format!("unit {unit}"))?;
        proxy
            .get_property::<String>("ActiveState")
            .with_context(|| format!("ActiveState of {unit}"))
    }

    /// Reboot through logind.
    pub fn reboot(&self) -> Result<()> {
        self.conn
            .call_method(
                Some("org.freedesktop.login1"),
                "/org/freedesktop/login1",
                Some("org.freedesktop.login1.Manager"),
                "Reboot",
                &(false,),
            )
            .context("logind Reboot")?;
        Ok(())
    }
}

/// Performs (booted) or reports (under a root) the live actions; returns what was done, one line each.
/// `units_changed`: a daemon-reload comes first. Drains are reported: there is no cluster API yet (#7).
pub fn run_actions(booted: bool, actions: &[Action], units_changed: bool) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let bus = if booted { Some(Bus::system()?) } else { None };
    let verb = if booted {
        ""
    } else {
        "skipped (no systemd under --root): "
    };
    let mut want_reload = units_changed;
    for a in actions {
        if *a == Action::DaemonReload {
            want_reload = true;
        }
    }
    if want_reload {
        if let Some(b) = &bus {
            b.daemon_reload()?;
        }
        done.push(format!("{verb}daemon-reload"));
    }
    for a in actions {
        match a {
            Action::Reload { service } => {
                if let Some(b) = &bus {
                    b.reload(&service.service_name)?;
                }
                done.push(format!("{verb}reload {}", service.service_name));
            }
            Action::Restart { service } => {
                if let Some(b) = &bus {
                    b.restart(&service.service_name)?;
                }
                done.push(format!("{verb}restart {}", service.service_name));
            }
            Action::Drain => done.push("drain: single node, no cluster API yet (issue #7)".into()),
            _ => {}
        }
    }
    Ok(done)
}
