//! `cleanup [-p] [-r] [-b] [-m]`.

use anyhow::{bail, Context, Result};
use ostree::gio;

use super::{Globals, Outcome};
use crate::cli::CleanupArgs;
use crate::inspect;
use crate::order;
use crate::sysroot::{Access, Sys};

pub fn run(g: &Globals, a: &CleanupArgs) -> Result<Outcome> {
    if !(a.pending || a.rollback || a.base || a.repomd) {
        bail!(
            "cleanup: choose at least one of -p (pending), -r (rollback), -b (base), -m (repomd)"
        );
    }
    let sys = Sys::open(&g.sysroot, Access::Write)?;
    let _lock = sys.lock()?;
    let mut outcome = Outcome::Unchanged;
    if a.pending || a.rollback {
        let os = sys.osname(g.os.as_deref())?;
        let (deps, entries) = inspect::entries(&sys);
        let (keep, pinned) = order::plan_cleanup(&entries, &os, a.pending, a.rollback);
        for i in pinned {
            println!(
                "Keeping pinned deployment {}.{} (unpin it with `ostree admin pin --unpin`)",
                deps[i].csum(),
                deps[i].deployserial()
            );
        }
        if keep.len() < deps.len() {
            for (i, d) in deps.iter().enumerate().filter(|(i, _)| !keep.contains(i)) {
                println!("Removing deployment {i}: {}.{}", d.csum(), d.deployserial());
            }
            sys.write_order(&deps, &keep, "the deployments")?;
            outcome = Outcome::Changed;
        } else {
            println!("No deployments to remove.");
        }
    }
    if a.base || outcome == Outcome::Changed {
        sys.sysroot
            .cleanup(gio::Cancellable::NONE)
            .with_context(|| format!("cleaning up sysroot {}", sys.path.display()))?;
    }
    Ok(outcome)
}
