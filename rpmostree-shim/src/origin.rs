//! Origin files (`[origin] refspec=...`): reading and deriving new ones.

use anyhow::{Context, Result};
use ostree::glib;

use crate::refspec::{refuse_container, Refspec};

pub const GROUP: &str = "origin";

/// A copy of `origin` without transient state (pinning), which a new deployment must not inherit.
pub fn derive(origin: Option<&glib::KeyFile>) -> Result<glib::KeyFile> {
    let kf = glib::KeyFile::new();
    if let Some(o) = origin {
        let data = o.to_data();
        kf.load_from_data(&data, glib::KeyFileFlags::KEEP_COMMENTS)
            .context("copying the origin file")?;
        ostree::Deployment::origin_remove_transient_state(&kf);
    }
    Ok(kf)
}

fn get(kf: &glib::KeyFile, key: &str) -> Option<String> {
    kf.string(GROUP, key).ok().map(|s| s.to_string())
}

/// The refspec of a deployment's origin; container references are refused.
pub fn refspec(origin: &glib::KeyFile) -> Result<Option<Refspec>> {
    if let Some(c) = get(origin, "container-image-reference") {
        refuse_container(&format!("ostree-unverified-image:{c}"))?;
    }
    match get(origin, "refspec").or_else(|| get(origin, "baserefspec")) {
        Some(r) => Ok(Some(Refspec::parse(&r)?)),
        None => Ok(None),
    }
}

/// What `status` shows: the refspec text, a container reference, or a custom origin.
pub struct Described {
    pub refspec: Option<String>,
    pub container: Option<String>,
    pub custom: Option<Vec<String>>,
    pub override_commit: Option<String>,
}

pub fn describe(origin: Option<&glib::KeyFile>) -> Described {
    let Some(o) = origin else {
        return Described {
            refspec: None,
            container: None,
            custom: None,
            override_commit: None,
        };
    };
    let custom_url = get(o, "custom-url");
    Described {
        refspec: get(o, "refspec").or_else(|| get(o, "baserefspec")),
        container: get(o, "container-image-reference"),
        custom: custom_url.map(|u| vec![u, get(o, "custom-description").unwrap_or_default()]),
        override_commit: get(o, "override-commit"),
    }
}

/// Points the origin at `refspec` and clears any pinned commit.
pub fn set_refspec(kf: &glib::KeyFile, refspec: &Refspec) {
    let _ = kf.remove_key(GROUP, "baserefspec");
    kf.set_string(GROUP, "refspec", &refspec.to_string());
    let _ = kf.remove_key(GROUP, "override-commit");
}

/// Records that the deployment was asked for a specific commit (`deploy REV`).
pub fn set_override_commit(kf: &glib::KeyFile, checksum: Option<&str>) {
    match checksum {
        Some(c) => kf.set_string(GROUP, "override-commit", c),
        None => {
            let _ = kf.remove_key(GROUP, "override-commit");
        }
    }
}
