//! Scenario 1, first boot: Ignition partitions and formats a second disk, writes files,
//! creates user `core` with an SSH key and enables units; checked through the agent in the
//! guest, then offline on both disks after the guest powered off.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use super::common::{keys_command, FIRST_BOOT, KEY_1, POWEROFF};
use crate::agent::data_url;
use crate::ctx::{Boot, Ctx};
use crate::disk::{self, Ext4, OfflineDisk};
use crate::qemu::Drive;

const HELLO: &str = "hello from the first boot\n";
const UNIT_OUTPUT: &str = "hello-unit-ran\n";

const MOUNT_UNIT: &str =
    "[Unit]\nDescription=vm-tests data disk\n\n[Mount]\nWhat=/dev/disk/by-label/DATA\n\
Where=/var/mnt/data\nType=ext4\n\n[Install]\nWantedBy=multi-user.target\n";

const HELLO_UNIT: &str = "[Unit]\nDescription=vm-tests enabled unit\nRequires=var-mnt-data.mount\n\
After=var-mnt-data.mount\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
ExecStart=/bin/sh -c 'echo hello-unit-ran > /var/mnt/data/unit-ran.txt'\n\n\
[Install]\nWantedBy=multi-user.target\n";

fn config() -> serde_json::Value {
    json!({
        "ignition": {"version": "3.4.0"},
        "storage": {
            "disks": [{
                "device": "/dev/vdb",
                "wipeTable": true,
                "partitions": [{"number": 1, "label": "data", "sizeMiB": 0}]
            }],
            "filesystems": [{
                "device": "/dev/disk/by-partlabel/data",
                "format": "ext4",
                "label": "DATA",
                "wipeFilesystem": true
            }],
            "files": [{
                "path": "/etc/mooring-test/hello.txt",
                "mode": 0o644,
                "contents": {"source": data_url(HELLO.as_bytes())}
            }]
        },
        "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": [KEY_1]}]},
        "systemd": {"units": [
            {"name": "var-mnt-data.mount", "enabled": true, "contents": MOUNT_UNIT},
            {"name": "mooring-hello.service", "enabled": true, "contents": HELLO_UNIT}
        ]}
    })
}

/// The `etc` directory of the (single) ostree deployment on a root filesystem.
pub(super) fn deployment_etc(root: &Ext4) -> Result<String> {
    let osnames = root.list("/ostree/deploy")?;
    let [os] = osnames.as_slice() else {
        bail!("/ostree/deploy holds {osnames:?}, expected one stateroot");
    };
    let base = format!("/ostree/deploy/{os}/deploy");
    let deps: Vec<String> = root
        .list(&base)?
        .into_iter()
        .filter(|n| !n.ends_with(".origin"))
        .collect();
    let [dep] = deps.as_slice() else {
        bail!("{base} holds {deps:?}, expected one deployment");
    };
    Ok(format!("{base}/{dep}/etc"))
}

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let data = ctx.work.join("data.qcow2");
    disk::blank_qcow2(&data, 512)?;
    let mut boot = Boot::with_agent(config());
    boot.extra_disks.push(Drive {
        path: data.clone(),
        format: "qcow2".into(),
    });
    let mut m = ctx.boot("first", boot)?;
    m.wait_agent(FIRST_BOOT)?;

    // In the guest.
    let hello = m.run("cat /etc/mooring-test/hello.txt")?;
    ensure!(
        hello == HELLO,
        "/etc/mooring-test/hello.txt holds {hello:?}"
    );
    let keys = m.run(&keys_command("core"))?;
    ensure!(
        keys.contains(KEY_1),
        "core's Ignition key file lacks the key: {keys:?}"
    );
    let enabled = m.exec(
        "systemctl is-enabled mooring-hello.service",
        Duration::from_secs(30),
    )?;
    ensure!(
        enabled.output.trim() == "enabled",
        "mooring-hello.service is {:?}",
        enabled.output.trim()
    );
    m.wait_file("/var/mnt/data/unit-ran.txt", Duration::from_secs(120))?;
    let probe = m.run("blkid -o export /dev/vdb1")?;
    for want in ["TYPE=ext4", "LABEL=DATA", "PARTLABEL=data"] {
        ensure!(
            probe.lines().any(|l| l == want),
            "/dev/vdb1 lacks {want}: {probe}"
        );
    }
    m.poweroff(POWEROFF)?;
    drop(m);

    // Offline, on the disks the guest left.
    let d = OfflineDisk::open(&data, &ctx.work.join("data.raw"))?;
    let fs = d.ext4("data")?;
    ensure!(
        fs.label()? == "DATA",
        "the data filesystem's label is {:?}",
        fs.label()?
    );
    let ran = fs.read_string("/unit-ran.txt")?;
    ensure!(
        ran == UNIT_OUTPUT,
        "unit-ran.txt on the data disk holds {ran:?}"
    );

    let os = OfflineDisk::open(&ctx.os_disk()?, &ctx.work.join("os.raw"))?;
    let root = os.ext4("root").context("the OS disk's root partition")?;
    let etc = deployment_etc(&root)?;
    let hello = root.read_string(&format!("{etc}/mooring-test/hello.txt"))?;
    ensure!(
        hello == HELLO,
        "{etc}/mooring-test/hello.txt on the OS disk holds {hello:?}"
    );
    let passwd = root.read_string(&format!("{etc}/passwd"))?;
    ensure!(
        passwd.lines().any(|l| l.starts_with("core:")),
        "{etc}/passwd on the OS disk has no core user"
    );
    let _ = std::fs::remove_file(ctx.work.join("os.raw"));
    Ok(())
}
