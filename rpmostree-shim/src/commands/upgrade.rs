//! `upgrade`: pull the origin's ref and deploy it if it moved.

use anyhow::{bail, Context, Result};

use super::{fetch_and_resolve, require_default, Globals, Outcome};
use crate::cli::UpdateOpts;
use crate::commit;
use crate::deploy::{self, NewDeployment};
use crate::origin;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals, opts: &UpdateOpts) -> Result<Outcome> {
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
    let refspec = origin::refspec(&cur_origin)?.with_context(|| {
        format!(
            "the origin of deployment {}.{} has no refspec",
            current.csum(),
            current.deployserial()
        )
    })?;
    let pinned_commit = origin::describe(Some(&cur_origin)).override_commit;
    println!("Updating from: {refspec}");
    let repo = sys.sysroot.repo();
    let rev = fetch_and_resolve(&repo, &refspec, None)?;
    if rev == current.csum().as_str() && pinned_commit.is_none() {
        println!("No upgrade available.");
        return Ok(Outcome::Unchanged);
    }
    let (old_t, new_t) = (
        commit::info(&repo, &current.csum()).timestamp,
        commit::info(&repo, &rev).timestamp,
    );
    if new_t < old_t && !opts.allow_downgrade {
        bail!(
            "upgrading {refspec} to {rev} would go back in time (commit timestamp {new_t} < {old_t}); \
             use --allow-downgrade or `deploy`"
        );
    }
    let new_origin = origin::derive(Some(&cur_origin))?;
    origin::set_override_commit(&new_origin, None);
    let what = refspec.to_string();
    let (d, how) = deploy::apply(
        &sys,
        &NewDeployment {
            osname: &os,
            checksum: &rev,
            origin: &new_origin,
            kargs: None,
            lock_finalization: opts.lock_finalization,
            what: &what,
        },
    )?;
    println!("{}", deploy::report(&sys, &d, how));
    Ok(Outcome::Changed)
}
