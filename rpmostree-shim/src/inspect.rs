//! Reading the deployments of a loaded sysroot into the status model and planning entries.

use crate::commit;
use crate::order::Entry;
use crate::origin;
use crate::status::{DeploymentStatus, Status};
use crate::sysroot::Sys;

fn is_booted(sys: &Sys, d: &ostree::Deployment) -> bool {
    sys.sysroot.booted_deployment().is_some_and(|b| b.equal(d))
}

/// The whole status, in boot order.
pub fn status(sys: &Sys) -> Status {
    let repo = sys.sysroot.repo();
    let deployments = sys
        .sysroot
        .deployments()
        .iter()
        .map(|d| deployment_status(sys, &repo, d))
        .collect();
    Status {
        deployments,
        transaction: None,
        cached_update: None,
    }
}

fn deployment_status(sys: &Sys, repo: &ostree::Repo, d: &ostree::Deployment) -> DeploymentStatus {
    let checksum = d.csum().to_string();
    let osname = d.osname().to_string();
    let info = commit::info(repo, &checksum);
    let origin = origin::describe(d.origin().as_ref());
    let gpg_enabled = origin
        .refspec
        .as_deref()
        .and_then(|r| r.split_once(':'))
        .and_then(|(remote, _)| repo.remote_get_gpg_verify(remote).ok())
        .unwrap_or(false);
    DeploymentStatus {
        id: format!("{osname}-{checksum}.{}", d.deployserial()),
        serial: d.deployserial(),
        osname,
        version: info.version,
        timestamp: info.timestamp,
        origin: origin.refspec,
        container_image_reference: origin.container,
        custom_origin: origin.custom,
        booted: is_booted(sys, d),
        staged: d.is_staged(),
        pinned: d.is_pinned(),
        unlocked: ostree::Deployment::unlocked_state_to_string(d.unlocked()).to_string(),
        gpg_enabled,
        regenerate_initramfs: false,
        requested_packages: vec![],
        requested_local_packages: vec![],
        requested_base_removals: vec![],
        requested_base_local_replacements: vec![],
        packages: vec![],
        base_removals: vec![],
        base_local_replacements: vec![],
        base_commit_meta: info.meta,
        checksum,
    }
}

/// The deployments as planning entries, with the libostree objects in the same order.
pub fn entries(sys: &Sys) -> (Vec<ostree::Deployment>, Vec<Entry>) {
    let deps = sys.sysroot.deployments();
    let entries = deps
        .iter()
        .map(|d| Entry {
            osname: d.osname().to_string(),
            booted: is_booted(sys, d),
            staged: d.is_staged(),
            pinned: d.is_pinned(),
        })
        .collect();
    (deps, entries)
}

/// The kernel arguments of a deployment's boot entry, without libostree's `ostree=`.
pub fn kargs(d: &ostree::Deployment) -> Vec<String> {
    let options = d
        .bootconfig()
        .and_then(|b| b.get("options"))
        .map(|s| s.to_string())
        .unwrap_or_default();
    crate::kargs::without_ostree_arg(crate::kargs::split(&options))
}
