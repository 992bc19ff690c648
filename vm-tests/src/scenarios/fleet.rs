//! Scenarios 2 and 3: a node joins its pool through `mcs` on the host, then takes a
//! rebootless change. `mcs serve` listens on all addresses; the guest reaches it at
//! 10.0.2.2 (user-mode networking), over HTTPS with the CA the pointer config carries.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use serde_json::Value;

use super::common::{keys_command, FIRST_BOOT, KEY_1, KEY_2};
use crate::ctx::{Boot, Ctx};
use crate::machine::Machine;
use crate::mcs_host::McsHost;

pub(super) const POOL: &str = "worker";
/// From first contact to the node reporting Done, and for a change to land.
const CONVERGE: Duration = Duration::from_secs(300);

pub(super) fn mc(name: &str, config: &str) -> String {
    format!(
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: {name}\n  labels:\n    \
         machineconfiguration.openshift.io/role: worker\nspec:\n  config:\n    ignition: {{version: 3.2.0}}\n{config}"
    )
}

fn ssh(keys: &[&str]) -> String {
    let list = keys
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    mc(
        "60-worker-ssh",
        &format!(
            "    passwd:\n      users:\n      - name: core\n        sshAuthorizedKeys: [{list}]\n"
        ),
    )
}

const MOTD: &str = "mooring vm-tests fleet node\n";

fn motd() -> String {
    mc(
        "50-worker-motd",
        "    storage:\n      files:\n      - path: /etc/motd\n        mode: 0644\n        overwrite: true\n        \
         contents: {source: 'data:,mooring%20vm-tests%20fleet%20node%0A'}\n",
    )
}

const POOL_YAML: &str = "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: worker\nspec:\n  \
machineConfigSelector:\n    matchLabels:\n      machineconfiguration.openshift.io/role: worker\n  maxUnavailable: 1\n";

/// What the daemon says in the guest, for errors.
pub(super) fn daemon_log(m: &mut Machine) -> String {
    m.exec(
        "systemctl list-units --all --no-pager 'mcd*' 'machine-config*'; journalctl -b --no-pager -n 40 -u 'mcd*' -u 'machine-config*'",
        Duration::from_secs(30),
    )
    .map(|e| e.output)
    .unwrap_or_else(|e| format!("(cannot read the daemon's journal: {e:#})"))
}

/// Starts mcs with the pool, a motd and core's key; boots a node with the pointer config;
/// waits for the node to be Done at the pool's rendered config.
pub(super) fn join_fleet(ctx: &mut Ctx) -> Result<(McsHost, Machine, Value)> {
    join_fleet_with(ctx, &[])
}

/// [`join_fleet`] with more MachineConfigs in the pool from the start (file name, YAML).
pub(super) fn join_fleet_with(
    ctx: &mut Ctx,
    extra: &[(&str, String)],
) -> Result<(McsHost, Machine, Value)> {
    let input = ctx.work.join("mcs-in");
    std::fs::create_dir_all(&input)?;
    std::fs::write(input.join("pool.yaml"), POOL_YAML)?;
    std::fs::write(input.join("50-worker-motd.yaml"), motd())?;
    std::fs::write(input.join("60-worker-ssh.yaml"), ssh(&[KEY_1]))?;
    for (name, text) in extra {
        std::fs::write(input.join(name), text)?;
    }
    let mcs = McsHost::start(ctx.work.path(), POOL)?;
    let rendered = mcs.rendered(POOL)?;
    let pointer = mcs.pointer(POOL)?;
    let mut m = ctx.boot("node", Boot::with_agent(pointer))?;
    m.wait_agent(FIRST_BOOT)?;
    // The pool's config came over HTTPS at first boot.
    let motd = m.run("cat /etc/motd")?;
    ensure!(
        motd == MOTD,
        "/etc/motd holds {motd:?}: the pool's config was not applied"
    );
    let node = match mcs.wait_node_done(POOL, rendered.as_deref(), CONVERGE) {
        Ok(n) => n,
        Err(e) => bail!("{e:#}\nin the guest:\n{}", daemon_log(&mut m)),
    };
    Ok((mcs, m, node))
}

/// Waits until the pool's rendered config is no longer `old`; returns the new one.
pub(super) fn wait_rerender(mcs: &McsHost, old: &str) -> Result<String> {
    let start = Instant::now();
    loop {
        match mcs.rendered(POOL)? {
            Some(r) if r != old => return Ok(r),
            _ if start.elapsed() > Duration::from_secs(60) => {
                bail!(
                    "mcs did not re-render pool {POOL} within 60s: {}",
                    mcs.log_text()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Scenario 2.
pub fn join(ctx: &mut Ctx) -> Result<()> {
    let (_mcs, mut m, node) = join_fleet(ctx)?;
    let keys = m.run(&keys_command("core"))?;
    ensure!(keys.contains(KEY_1), "core lacks the pool's key: {keys:?}");
    ensure!(
        node["registered"] != false,
        "the node is not registered: {node}"
    );
    Ok(())
}

/// Scenario 3.
pub fn rebootless_change(ctx: &mut Ctx) -> Result<()> {
    let (mcs, mut m, node) = join_fleet(ctx)?;
    let old = node["currentConfig"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let boot_before = m.boot_id()?;

    mcs.write_input("60-worker-ssh.yaml", &ssh(&[KEY_1, KEY_2]))?;
    let new = wait_rerender(&mcs, &old)?;
    if let Err(e) = mcs.wait_node_done(POOL, Some(&new), CONVERGE) {
        bail!("{e:#}\nin the guest:\n{}", daemon_log(&mut m));
    }
    let keys = m.wait_until(
        &format!("{} | grep -F '{}'", keys_command("core"), KEY_2),
        Duration::from_secs(30),
    )?;
    ensure!(
        keys.contains(KEY_2),
        "the new key is not in place: {keys:?}"
    );
    let all = m.run(&keys_command("core"))?;
    ensure!(all.contains(KEY_1), "the first key went away: {all:?}");
    let boot_after = m.boot_id()?;
    ensure!(
        boot_before == boot_after,
        "the node rebooted ({boot_before} -> {boot_after})"
    );
    Ok(())
}
