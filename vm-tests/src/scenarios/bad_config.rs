//! Scenario 6, a bad first-boot config: a file whose `verification.hash` does not match its
//! contents, next to a partitioning request for the second disk. Ignition must fail before
//! it writes the disk (the disks stage fetches and verifies every resource first), the error
//! must be on the console, and the second disk must be byte-identical afterwards.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use serde_json::json;

use crate::agent::data_url;
use crate::console::Pattern;
use crate::ctx::{Boot, Ctx};
use crate::disk;
use crate::qemu::Drive;

const WRONG: &str = "sha512-00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

pub fn run(ctx: &mut Ctx) -> Result<()> {
    // A second disk with a recognisable GPT and filesystem, to show nothing touched it.
    let data = ctx.work.join("data.raw");
    disk::blank_raw(&data, 256)?;
    let part = disk::write_single_partition_gpt(&data, "before")?;
    disk::mkfs_ext4(&data, &part, "BEFORE")?;
    let before = disk::sha256(&data)?;

    let config = json!({
        "ignition": {"version": "3.4.0"},
        "storage": {
            "disks": [{
                "device": "/dev/vdb",
                "wipeTable": true,
                "partitions": [{"number": 1, "label": "after", "sizeMiB": 0}]
            }],
            "filesystems": [{"device": "/dev/disk/by-partlabel/after", "format": "ext4", "wipeFilesystem": true}],
            "files": [{
                "path": "/etc/mooring-test/bad.txt",
                "contents": {
                    "source": data_url(b"these bytes do not hash to zero\n"),
                    "verification": {"hash": WRONG}
                }
            }]
        }
    });
    let boot = Boot {
        config,
        agent: false,
        extra_disks: vec![Drive {
            path: data.clone(),
            format: "raw".into(),
        }],
        network: false,
    };
    let mut m = ctx.boot("bad", boot)?;
    // The initramfs reports the failed stage and stops the boot: after that nothing writes.
    m.wait_console(
        Pattern::regex(r"(?i)ignition failed")?,
        Duration::from_secs(600),
    )?;
    let text = m.console.text();
    let Some(line) = text
        .lines()
        .find(|l| l.contains("hash verification failed"))
    else {
        bail!(
            "the console does not show the hash error:\n{}",
            m.console.tail_report()
        );
    };
    ensure!(
        line.contains("sha512"),
        "the console error does not name the hash: {line}"
    );
    m.kill();
    drop(m);
    let after = disk::sha256(&data)?;
    ensure!(
        before == after,
        "the second disk changed (sha256 {before} -> {after})"
    );
    let parts = disk::partitions(&data)?;
    ensure!(
        parts.len() == 1 && parts[0].label == "before",
        "the second disk's partitions changed: {parts:?}"
    );
    Ok(())
}
