//! `deploy REVISION`: deploy a given commit (checksum or version) of the origin's ref.

use anyhow::{Context, Result};

use super::{fetch_and_resolve, require_default, Globals, Outcome};
use crate::cli::UpdateOpts;
use crate::deploy::{self, NewDeployment};
use crate::origin;
use crate::refspec::Revision;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals, revision: &str, opts: &UpdateOpts) -> Result<Outcome> {
    crate::refspec::refuse_container(revision)?;
    let sys = Sys::open(&g.sysroot, Access::Write)?;
    let _lock = sys.lock()?;
    let os = sys.osname(g.os.as_deref())?;
    let current = require_default(&sys, &os)?;
    let cur_origin = current.origin().with_context(|| {
        format!(
            "deployment {}.{} has no origin file",
            current.csum(),
            current.deployserial()
        )
    })?;
    let refspec = origin::refspec(&cur_origin)?
        .context("the current deployment's origin has no refspec to find the revision in")?;
    let rev = Revision::parse(revision);
    let repo = sys.sysroot.repo();
    let checksum = fetch_and_resolve(&repo, &refspec, Some(&rev))
        .with_context(|| format!("finding revision {revision:?} of {refspec}"))?;
    if checksum == current.csum().as_str() {
        println!("Already on {checksum}; nothing to deploy.");
        return Ok(Outcome::Unchanged);
    }
    let new_origin = origin::derive(Some(&cur_origin))?;
    origin::set_override_commit(&new_origin, Some(&checksum));
    let (d, how) = deploy::apply(
        &sys,
        &NewDeployment {
            osname: &os,
            checksum: &checksum,
            origin: &new_origin,
            kargs: None,
            lock_finalization: opts.lock_finalization,
            what: revision,
        },
    )?;
    println!("{}", deploy::report(&sys, &d, how));
    Ok(Outcome::Changed)
}
