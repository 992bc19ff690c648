//! `rebase REF [REVISION]`: switch the origin to another ref and deploy it.

use anyhow::{bail, Result};
use ostree::gio;

use super::{default_deployment, fetch_and_resolve, Globals, Outcome};
use crate::cli::UpdateOpts;
use crate::deploy::{self, NewDeployment};
use crate::origin;
use crate::refspec::{Refspec, Revision};
use crate::sysroot::{Access, Sys};

pub fn run(
    g: &Globals,
    arg: &str,
    revision: Option<&str>,
    skip_purge: bool,
    opts: &UpdateOpts,
) -> Result<Outcome> {
    // Refuse container references before touching the sysroot.
    crate::refspec::refuse_container(arg)?;
    let sys = Sys::open(&g.sysroot, Access::Write)?;
    let _lock = sys.lock()?;
    let os = sys.osname(g.os.as_deref())?;
    let current = default_deployment(&sys, &os);
    let cur_origin = current.as_ref().and_then(|d| d.origin());
    let old = origin::describe(cur_origin.as_ref())
        .refspec
        .and_then(|r| Refspec::parse(&r).ok());
    let new = Refspec::for_rebase(arg, old.as_ref())?;
    let revision = revision.map(Revision::parse);
    if old.as_ref() == Some(&new) && revision.is_none() {
        bail!("old and new refs are equal: {new} (use `upgrade` or `deploy` to move along it)");
    }
    let repo = sys.sysroot.repo();
    let checksum = fetch_and_resolve(&repo, &new, revision.as_ref())?;
    let new_origin = origin::derive(cur_origin.as_ref())?;
    origin::set_refspec(&new_origin, &new);
    if revision.is_some() {
        origin::set_override_commit(&new_origin, Some(&checksum));
    }
    let what = new.to_string();
    let (d, how) = deploy::apply(
        &sys,
        &NewDeployment {
            osname: &os,
            checksum: &checksum,
            origin: &new_origin,
            kargs: None,
            lock_finalization: opts.lock_finalization,
            what: &what,
        },
    )?;
    println!("{}", deploy::report(&sys, &d, how));
    if let Some(old) = old.filter(|o| *o != new && !skip_purge) {
        // The old deployment keeps its commit alive through its own deployment ref.
        if let Err(e) = repo.set_ref_immediate(
            old.remote.as_deref(),
            &old.ref_,
            None,
            gio::Cancellable::NONE,
        ) {
            eprintln!("warning: could not remove the old ref {old}: {e}");
        }
    }
    Ok(Outcome::Changed)
}
