//! `finalize-deployment [CHECKSUM]`: unlock the staged deployment and reboot into it.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

use super::{Globals, Outcome};
use crate::deploy::staged_lock_path;
use crate::exec;
use crate::sysroot::{Access, Sys};

pub fn run(
    g: &Globals,
    checksum: Option<&str>,
    allow_missing_checksum: bool,
    allow_unlocked: bool,
) -> Result<Outcome> {
    let sys = Sys::open(&g.sysroot, Access::Read)?;
    let staged = sys.sysroot.staged_deployment().with_context(|| {
        format!(
            "sysroot {} has no staged deployment (deployments are staged only on the booted \
             system; elsewhere they are written directly and need no finalization)",
            sys.path.display()
        )
    })?;
    let csum = staged.csum().to_string();
    match checksum {
        Some(c) if c != csum => {
            bail!("the staged deployment is {csum}, not {c}")
        }
        None if !allow_missing_checksum => {
            bail!("give the checksum of the staged deployment ({csum}) or --allow-missing-checksum")
        }
        _ => {}
    }
    let lock = Path::new(staged_lock_path());
    if lock.exists() {
        std::fs::remove_file(lock).with_context(|| format!("removing {}", lock.display()))?;
    } else if !allow_unlocked {
        bail!(
            "the staged deployment {csum} is not locked (pass --allow-unlocked to reboot anyway)"
        );
    }
    println!("Finalizing {csum} and rebooting");
    exec::run(Command::new("systemctl").arg("reboot"))?;
    Ok(Outcome::Changed)
}
