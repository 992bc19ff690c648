//! Writing a new deployment: staged on a booted system, written directly otherwise.

use anyhow::{Context, Result};
use ostree::{gio, glib};

use crate::sysroot::Sys;

/// A new deployment to create (the plan; [`apply`] carries it out).
pub struct NewDeployment<'a> {
    pub osname: &'a str,
    pub checksum: &'a str,
    pub origin: &'a glib::KeyFile,
    /// Kernel arguments; `None` keeps the merge deployment's.
    pub kargs: Option<Vec<String>>,
    /// Staged only: keep the staged deployment from being finalized until
    /// `finalize-deployment` (rpm-ostree's `--lock-finalization`).
    pub lock_finalization: bool,
    /// What the user asked for, for messages (`remote:ref`, a checksum...).
    pub what: &'a str,
}

/// Where the deployment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Staged,
    Direct,
}

const STAGED_LOCK: &str = "/run/ostree/staged-deployment-locked";

/// Deploys the tree with the merge deployment's /etc and, unless overridden, its kernel arguments.
pub fn apply(sys: &Sys, new: &NewDeployment<'_>) -> Result<(ostree::Deployment, Written)> {
    let sysroot = &sys.sysroot;
    let merge = sys.merge_deployment(new.osname);
    let kargs: Option<Vec<&str>> = new
        .kargs
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect());
    let opts = ostree::SysrootDeployTreeOpts {
        override_kernel_argv: kargs.as_deref(),
        ..Default::default()
    };
    let ctx = || {
        format!(
            "deploying {} ({}) to stateroot {:?} of sysroot {}",
            new.what,
            new.checksum,
            new.osname,
            sys.path.display()
        )
    };
    if sys.is_booted() {
        if new.lock_finalization {
            std::fs::write(STAGED_LOCK, b"")
                .with_context(|| format!("writing {STAGED_LOCK}"))
                .with_context(ctx)?;
        }
        let d = sysroot
            .stage_tree_with_options(
                Some(new.osname),
                new.checksum,
                Some(new.origin),
                merge.as_ref(),
                &opts,
                gio::Cancellable::NONE,
            )
            .with_context(ctx)?;
        Ok((d, Written::Staged))
    } else {
        let d = sysroot
            .deploy_tree_with_options(
                Some(new.osname),
                new.checksum,
                Some(new.origin),
                merge.as_ref(),
                Some(&opts),
                gio::Cancellable::NONE,
            )
            .with_context(ctx)?;
        sysroot
            .simple_write_deployment(
                Some(new.osname),
                &d,
                merge.as_ref(),
                ostree::SysrootSimpleWriteDeploymentFlags::NONE,
                gio::Cancellable::NONE,
            )
            .with_context(|| {
                format!("writing the boot entries of sysroot {}", sys.path.display())
            })?;
        Ok((d, Written::Direct))
    }
}

/// Whether the staged deployment is locked against finalization.
pub fn staged_lock_path() -> &'static str {
    STAGED_LOCK
}

/// The line printed after a deployment was written.
pub fn report(sys: &Sys, d: &ostree::Deployment, how: Written) -> String {
    let id = format!("{}-{}.{}", d.osname(), d.csum(), d.deployserial());
    match how {
        Written::Staged => {
            format!("Staged deployment {id}; run \"systemctl reboot\" to start a reboot")
        }
        Written::Direct => format!(
            "Deployed {id} as the default for the next boot of sysroot {}",
            sys.path.display()
        ),
    }
}
