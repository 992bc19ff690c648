//! Fetching from a remote over HTTP(S) with libostree's pull.

use anyhow::{Context, Result};
use ostree::{gio, glib, prelude::*};

use crate::refspec::Refspec;

/// Which part of a ref to fetch.
pub enum What<'a> {
    /// The tip of the ref, with its content.
    Tip,
    /// A given commit of the ref, with its content.
    Commit(&'a str),
    /// Commit objects of the whole history, no content (to find a version).
    HistoryMetadata,
}

/// Pulls `what` of `refspec` (which must name a remote) into `repo`.
pub fn pull(repo: &ostree::Repo, refspec: &Refspec, what: What<'_>) -> Result<()> {
    let Some(remote) = refspec.remote.as_deref() else {
        return Ok(());
    };
    let url = repo
        .remote_get_url(remote)
        .with_context(|| format!("remote {remote:?} of {refspec} is not configured in the repo"))?;
    let dict = glib::VariantDict::new(None);
    let refs = [refspec.ref_.as_str()];
    dict.insert_value("refs", &refs[..].to_variant());
    match what {
        What::Tip => {}
        What::Commit(c) => {
            let ids = [c];
            dict.insert_value("override-commit-ids", &ids[..].to_variant());
        }
        What::HistoryMetadata => {
            dict.insert_value(
                "flags",
                &(ostree::RepoPullFlags::COMMIT_ONLY.bits() as i32).to_variant(),
            );
            dict.insert_value("depth", &(-1i32).to_variant());
        }
    }
    let opts = dict.end();
    repo.pull_with_options(remote, &opts, None, gio::Cancellable::NONE)
        .with_context(|| format!("pulling {refspec} from {url}"))?;
    Ok(())
}
