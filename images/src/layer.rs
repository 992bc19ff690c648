//! The overlay layer: the manifest's overlay files, our binaries (stripped), os-release and the
//! unit enablement links, committed on top of the base commit (`--tree=ref= --tree=dir=`), so a
//! change here recommits in well under a second instead of rebuilding the tree.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cache::Key;
use crate::manifest::Loaded;
use crate::{ostree, run, units};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub commit: String,
    pub version: String,
}

/// The commit step's inputs.
pub fn key(m: &Loaded, base_commit: &str, bin_dir: &Path) -> Result<Key> {
    let mut k = Key::new();
    k.add_str("base", base_commit)
        .add_str("version", &m.manifest.version)
        .add_str("ref", &m.manifest.ostree_ref);
    k.add_tree("overlay", &m.overlay_dir())?;
    for b in &m.manifest.overlay.binaries {
        k.add_str("binary", &b.path);
        k.add_file(&b.name, &bin_dir.join(&b.name))?;
    }
    for u in &m.manifest.overlay.enable {
        k.add_str("enable", u);
    }
    Ok(k)
}

/// `/usr/lib/os-release` of the image. PRETTY_NAME has no spaces: ostree puts it into the
/// syslinux label.
pub fn os_release(version: &str) -> String {
    format!(
        "NAME=\"mooring\"\nID=mooring\nID_LIKE=debian\nVERSION_ID=\"{version}\"\nVERSION=\"{version}\"\n\
         PRETTY_NAME=\"mooring-{version}\"\nHOME_URL=\"https://github.com/mooring\"\n"
    )
}

pub fn build(
    m: &Loaded,
    base_commit: &str,
    bin_dir: &Path,
    repo: &Path,
    work: &Path,
    key: &str,
) -> Result<Commit> {
    let version = format!("{}.{}", m.manifest.version, &key[..8]);
    let layer = work.join("layer");
    fs::create_dir_all(&layer).with_context(|| format!("creating {}", layer.display()))?;
    let overlay = m.overlay_dir();
    run::quiet(
        "cp",
        &[
            "-a",
            &format!("{}/.", overlay.display()),
            &layer.to_string_lossy(),
        ],
    )?;
    // /etc of the overlay is /usr/etc in an ostree commit.
    if layer.join("etc").exists() {
        fs::create_dir_all(layer.join("usr")).context("creating usr in the layer")?;
        fs::rename(layer.join("etc"), layer.join("usr/etc"))
            .context("moving the overlay's etc to usr/etc")?;
    }
    for b in &m.manifest.overlay.binaries {
        crate::binaries::strip(
            &bin_dir.join(&b.name),
            &layer.join(b.path.trim_start_matches('/')),
        )?;
    }
    let osr = layer.join("usr/lib/os-release");
    fs::create_dir_all(osr.parent().unwrap_or(&layer)).context("creating usr/lib")?;
    fs::write(&osr, os_release(&version)).with_context(|| format!("writing {}", osr.display()))?;

    let links = units::plan(&m.manifest.overlay.enable, |name| {
        for dir in [
            "usr/lib/systemd/system",
            "lib/systemd/system",
            "usr/etc/systemd/system",
        ] {
            let rel = format!("{dir}/{name}");
            let in_image = format!("/{}", rel.replace("usr/etc/", "etc/"));
            if let Ok(t) = fs::read_to_string(layer.join(&rel)) {
                return Some((t, in_image));
            }
            if let Some(t) = ostree::cat(repo, base_commit, &format!("/{rel}")) {
                return Some((String::from_utf8_lossy(&t).into_owned(), in_image));
            }
        }
        None
    })
    .map_err(anyhow::Error::msg)?;
    let sysdir = layer.join("usr/etc/systemd/system");
    for l in &links {
        let p = sysdir.join(&l.link);
        fs::create_dir_all(p.parent().unwrap_or(&sysdir))
            .with_context(|| format!("creating {}", p.display()))?;
        let _ = fs::remove_file(&p);
        symlink(&l.target, &p).with_context(|| format!("linking {}", p.display()))?;
    }

    let subject = format!("mooring {version}");
    let commit = ostree::commit(
        repo,
        &m.manifest.ostree_ref,
        &[
            format!("--tree=ref={base_commit}"),
            format!("--tree=dir={}", layer.display()),
            format!("--subject={subject}"),
        ],
        &[("version", &version)],
    )?;
    crate::cache::remove_tree(&layer)?;
    Ok(Commit { commit, version })
}
