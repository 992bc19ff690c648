//! One module per subcommand. Each opens the sysroot, takes the lock when it writes, plans with
//! the pure modules and applies with libostree.

pub mod cleanup;
pub mod deploy;
pub mod finalize;
pub mod kargs;
pub mod rebase;
pub mod rollback;
pub mod status;
pub mod upgrade;

use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::commit;
use crate::pull::{self, What};
use crate::refspec::{Refspec, Revision};
use crate::sysroot::Sys;

/// Options every subcommand takes.
#[derive(Debug, Clone)]
pub struct Globals {
    pub sysroot: PathBuf,
    pub os: Option<String>,
}

/// Whether a command changed the sysroot (`--unchanged-exit-77` turns `Unchanged` into 77).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
}

/// The default deployment of a stateroot for the next boot: its first deployment.
pub fn default_deployment(sys: &Sys, osname: &str) -> Option<ostree::Deployment> {
    sys.sysroot
        .deployments()
        .into_iter()
        .find(|d| d.osname() == osname)
}

/// Like [`default_deployment`], with an error naming the sysroot and stateroot.
pub fn require_default(sys: &Sys, osname: &str) -> Result<ostree::Deployment> {
    default_deployment(sys, osname).with_context(|| {
        format!(
            "stateroot {osname:?} of sysroot {} has no deployment yet (use `rebase REMOTE:REF` to create one)",
            sys.path.display()
        )
    })
}

/// Fetches (if the refspec has a remote) and resolves `revision` of `refspec`, or its tip.
pub fn fetch_and_resolve(
    repo: &ostree::Repo,
    refspec: &Refspec,
    revision: Option<&Revision>,
) -> Result<String> {
    let name = refspec.to_string();
    match revision {
        None => {
            pull::pull(repo, refspec, What::Tip)?;
            commit::resolve(repo, &name)
        }
        Some(Revision::Checksum(c)) => {
            if repo.load_commit(c).is_err() {
                pull::pull(repo, refspec, What::Commit(c))?;
            }
            commit::resolve(repo, c).with_context(|| format!("commit {c} of {name}"))
        }
        Some(Revision::Version(v)) => {
            pull::pull(repo, refspec, What::HistoryMetadata)?;
            let tip = commit::resolve(repo, &name)?;
            let c = commit::find_version(repo, &tip, v, &name)?;
            pull::pull(repo, refspec, What::Commit(&c))?;
            Ok(c)
        }
    }
}

/// Prints the result and maps it to the exit status.
pub fn exit_status(outcome: Outcome, unchanged_exit_77: bool) -> i32 {
    match outcome {
        Outcome::Unchanged if unchanged_exit_77 => 77,
        _ => 0,
    }
}
