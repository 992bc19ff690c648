//! `kargs`: print the kernel arguments, or deploy the same tree with edited ones.

use anyhow::{Context, Result};

use super::{require_default, Globals, Outcome};
use crate::cli::KargsArgs;
use crate::deploy::{self, NewDeployment};
use crate::inspect;
use crate::kargs::{join, Edits};
use crate::origin;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals, a: &KargsArgs) -> Result<Outcome> {
    let edits = Edits {
        delete: a.delete.clone(),
        delete_if_present: a.delete_if_present.clone(),
        replace: a.replace.clone(),
        append: a.append.clone(),
        append_if_missing: a.append_if_missing.clone(),
    };
    if edits.is_empty() {
        let sys = Sys::open(&g.sysroot, Access::Read)?;
        let os = sys.osname(g.os.as_deref())?;
        let d = match sys.sysroot.booted_deployment() {
            Some(b) if g.os.is_none() => b,
            _ => require_default(&sys, &os)?,
        };
        println!("{}", join(&inspect::kargs(&d)));
        return Ok(Outcome::Unchanged);
    }
    let sys = Sys::open(&g.sysroot, Access::Write)?;
    let _lock = sys.lock()?;
    let os = sys.osname(g.os.as_deref())?;
    let base = require_default(&sys, &os)?;
    let current = inspect::kargs(&base);
    let new = edits.apply(&current).with_context(|| {
        format!(
            "editing the kernel arguments of {}.{} in sysroot {}",
            base.csum(),
            base.deployserial(),
            sys.path.display()
        )
    })?;
    if new == current {
        println!("No changes.");
        return Ok(Outcome::Unchanged);
    }
    let new_origin = origin::derive(base.origin().as_ref())?;
    let checksum = base.csum().to_string();
    let (d, how) = deploy::apply(
        &sys,
        &NewDeployment {
            osname: &os,
            checksum: &checksum,
            origin: &new_origin,
            kargs: Some(new),
            lock_finalization: a.lock_finalization,
            what: "the same tree with new kernel arguments",
        },
    )?;
    println!("Kernel arguments updated.");
    println!("{}", deploy::report(&sys, &d, how));
    Ok(Outcome::Changed)
}
