//! Scenario 5, bad update: a new ostree commit that cannot boot healthily (it adds a unit that
//! `multi-user.target` requires and that fails, so the target, which `mcd start`'s
//! boot-complete check watches, never becomes active) becomes the pool's `osImageURL`. The
//! node stages it, reboots into it, finds the boot incomplete within its boot timeout, rolls
//! back and reboots: it comes back on the previous deployment and reports Degraded with the
//! reason, holding its slot. Taking the config back recovers it: Done at the config it came
//! from, the slot released, no further reboot.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use super::fleet::{daemon_log, join_fleet_with, mc, wait_rerender, POOL};
use super::os_update::{commit_on_image, copy_repo, serve};
use crate::ctx::Ctx;
use crate::machine::Machine;
use crate::mcs_host::McsHost;

const BAD_REF: &str = "mooring/x86_64/bad";
const UNIT: &str = "mooring-vmtest-broken.service";
const UNIT_TEXT: &str =
    "[Unit]\nDescription=vm-tests: a unit the boot requires, broken in this commit\n\
Before=multi-user.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/false\n";
/// mcd's boot-complete timeout on this node (default 5 minutes): long enough for a healthy
/// boot under TCG on a loaded machine, short enough to keep the scenario reasonable.
const BOOT_TIMEOUT: &str = "150s";
/// Slot, stage, reboot, the boot timeout, rollback, reboot back, verify.
const ROLLBACK: Duration = Duration::from_secs(1500);
const RECOVER: Duration = Duration::from_secs(300);

/// The pool's drop-in for `machine-config-daemon.service`: the same `mcd start` with a shorter
/// boot-complete timeout.
fn boot_timeout_mc() -> String {
    let dropin = format!(
        "[Service]\\nExecStart=\\nExecStart=/usr/bin/mcd start --boot-timeout {BOOT_TIMEOUT}\\n"
    );
    mc(
        "40-worker-mcd-boot",
        &format!(
            "    systemd:\n      units:\n      - name: machine-config-daemon.service\n        dropins:\n        \
             - name: 50-vmtests-boot-timeout.conf\n          contents: \"{dropin}\"\n"
        ),
    )
}

fn make_bad_commit(ctx: &Ctx) -> Result<String> {
    let repo = copy_repo(ctx, &ctx.work.join("www"))?;
    let tree = ctx.work.join("bad-tree");
    let units = tree.join("usr/lib/systemd/system");
    std::fs::create_dir_all(units.join("multi-user.target.requires"))?;
    std::fs::write(units.join(UNIT), UNIT_TEXT)?;
    std::os::unix::fs::symlink(
        format!("../{UNIT}"),
        units.join("multi-user.target.requires").join(UNIT),
    )
    .context("linking the broken unit into multi-user.target.requires")?;
    commit_on_image(ctx, &repo, BAD_REF, &tree, "vm-tests-bad")
}

/// The booted deployment's checksum in the guest.
fn booted_checksum(m: &mut Machine) -> Result<String> {
    let out = m.run("rpm-ostree status --json")?;
    let v: Value = serde_json::from_str(&out).context("parsing rpm-ostree status --json")?;
    v["deployments"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["booted"] == true))
        .and_then(|d| d["checksum"].as_str())
        .map(str::to_string)
        .with_context(|| format!("no booted deployment in {out}"))
}

/// Waits until the pool's node satisfies `ok`; returns it.
fn wait_node(
    mcs: &McsHost,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let start = Instant::now();
    loop {
        let st = mcs.status()?;
        if let Some(n) = st["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["pool"] == POOL && ok(n)))
        {
            return Ok(n.clone());
        }
        if start.elapsed() > timeout {
            bail!(
                "no node {what} within {}s; mcs status: {st}",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let bad = make_bad_commit(ctx)?;
    let _http = serve(&ctx.work.join("www"))?;
    let (mcs, mut m, node) =
        join_fleet_with(ctx, &[("40-worker-mcd-boot.yaml", boot_timeout_mc())])?;
    let first = node["currentConfig"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let good = booted_checksum(&mut m)?;
    let boot0 = m.boot_id()?;

    mcs.write_input(
        "70-worker-os.yaml",
        &format!(
            "{}  osImageURL: \"mooring:{BAD_REF}\"\n",
            mc("70-worker-os", "")
        ),
    )?;
    let second = wait_rerender(&mcs, &first)?;
    let node = match wait_node(
        &mcs,
        &format!("Degraded after the rollback of {second}, back at {first}"),
        ROLLBACK,
        |n| {
            n["state"] == "Degraded"
                && n["desiredConfig"] == second.as_str()
                && n["currentConfig"] == first.as_str()
                && n["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("was rolled back"))
        },
    ) {
        Ok(n) => n,
        Err(e) => bail!("{e:#}\nin the guest:\n{}", daemon_log(&mut m)),
    };
    let reason = node["reason"].as_str().unwrap_or_default();
    ensure!(
        reason.contains("not healthy") && reason.contains("multi-user.target"),
        "the reason does not say what was unhealthy: {node}"
    );
    ensure!(
        node["holdsSlot"] == true,
        "a node Degraded after its reboot should keep its slot: {node}"
    );
    m.wait_agent(Duration::from_secs(300))?;
    ensure!(
        m.boot_id()? != boot0,
        "the node did not reboot for the OS update"
    );
    let now = booted_checksum(&mut m)?;
    ensure!(
        now == good,
        "booted {now}, not the previous deployment {good} (the bad commit is {bad})"
    );
    let unit = m.exec(
        &format!("test -e /usr/lib/systemd/system/{UNIT}"),
        Duration::from_secs(30),
    )?;
    ensure!(
        unit.status != 0,
        "the bad commit's unit is on the booted system"
    );
    let boot_back = m.boot_id()?;

    // The admin takes the bad config back.
    mcs.write_input("70-worker-os.yaml", &mc("70-worker-os", ""))?;
    let third = wait_rerender(&mcs, &second)?;
    let node = match mcs.wait_node_done(POOL, Some(&third), RECOVER) {
        Ok(n) => n,
        Err(e) => bail!("{e:#}\nin the guest:\n{}", daemon_log(&mut m)),
    };
    ensure!(
        node["holdsSlot"] == false,
        "the slot was not released: {node}"
    );
    ensure!(m.boot_id()? == boot_back, "the node rebooted to recover");
    ensure!(
        booted_checksum(&mut m)? == good,
        "the node left the previous deployment"
    );
    Ok(())
}
