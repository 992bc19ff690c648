//! The scenarios of issue #9, in its order. A scenario not written yet fails with a clear
//! reason; it never passes.

use anyhow::Result;

use crate::ctx::Ctx;

mod bad_config;
mod bad_update;
mod first_boot;
mod fleet;
mod live;
mod os_update;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// Boots the OS image (built first when missing).
    pub needs_image: bool,
    pub run: fn(&mut Ctx) -> Result<()>,
}

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "first-boot",
        about: "1: partitions + ext4 on a second disk, files, user core with an SSH key, enabled units; checked in the guest and offline",
        needs_image: true,
        run: first_boot::run,
    },
    Scenario {
        name: "fleet-join",
        about: "2: boots with `mcs pointer` output only; fetches its pool's config from mcs over HTTPS; mcd registers; node Done",
        needs_image: true,
        run: fleet::join,
    },
    Scenario {
        name: "rebootless-change",
        about: "3: a new MachineConfig adds an SSH key: applied with no reboot, node Done",
        needs_image: true,
        run: fleet::rebootless_change,
    },
    Scenario {
        name: "os-update",
        about: "4: new ostree commit (served over HTTP), then a kernel argument: slot, staged deployment, reboot, node Done, slot released",
        needs_image: true,
        run: os_update::run,
    },
    Scenario {
        name: "bad-update",
        about: "5: a commit whose boot never completes (a required unit fails): rolled back, back on the previous deployment, Degraded with the reason; taking the config back recovers it",
        needs_image: true,
        run: bad_update::run,
    },
    Scenario {
        name: "bad-first-boot-config",
        about: "6: a file whose verification hash mismatches: Ignition fails before touching the second disk, error on the console",
        needs_image: true,
        run: bad_config::run,
    },
    Scenario {
        name: "live-and-network-boot",
        about: "7: PXE artifacts and the live ISO (SeaBIOS) with an embedded config; `images install` from the live system; the disk boots alone, provisioned by the installed config",
        needs_image: true,
        run: live::run,
    },
];

pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}

/// Shared config pieces.
pub mod common {
    use std::time::Duration;

    /// First boot under TCG (firmware, bootloader, Ignition, systemd) until the agent answers.
    pub const FIRST_BOOT: Duration = Duration::from_secs(600);
    /// Generous: the image's mdadm-shutdown.service can hold the shutdown for its 90 s stop timeout.
    pub const POWEROFF: Duration = Duration::from_secs(240);
    /// Well-formed ed25519 public keys whose key bytes are ASCII text: nobody holds a private half.
    pub const KEY_1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1vb3Jpbmcgdm0tdGVzdHMga2V5IG51bWJlciBvbmUh vm-tests-1";
    pub const KEY_2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG1vb3Jpbmcgdm0tdGVzdHMga2V5IG51bWJlciB0d28h vm-tests-2";

    /// The home directory of `user` in the guest, then the content of its Ignition key file.
    pub fn keys_command(user: &str) -> String {
        format!(
            "h=$(getent passwd {user} | cut -d: -f6) && cat \"$h/.ssh/authorized_keys.d/ignition\""
        )
    }
}
