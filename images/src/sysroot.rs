//! The ostree sysroot of the disk: init-fs, os-init, the remote, pull-local, deploy with the
//! first-boot kernel arguments; ostree writes the BLS entry and (sysroot.bootloader=syslinux)
//! `/boot/syslinux/syslinux.cfg`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::manifest::Manifest;
use crate::run;

#[derive(Debug, Clone)]
pub struct Deployed {
    /// The deployment directory (relative to the sysroot).
    pub deployment: PathBuf,
    /// The BLS entry (text) ostree wrote.
    pub bls_entry: String,
    /// `/boot/loader/syslinux.cfg`.
    pub syslinux_cfg: String,
}

/// Directories the stateroot's /var gets up front (the root's links point here; useradd needs
/// /var/home on first boot).
pub const VAR_DIRS: &[(&str, u32)] = &[
    ("home", 0o755),
    ("roothome", 0o700),
    ("opt", 0o755),
    ("srv", 0o755),
    ("mnt", 0o755),
    ("usrlocal", 0o755),
    ("usrlocal/bin", 0o755),
    ("lib", 0o755),
    ("log", 0o755),
    // A persistent journal, as Debian's systemd package sets up.
    ("log/journal", 0o2755),
    ("cache", 0o755),
    ("spool", 0o755),
    ("tmp", 0o1777),
];

pub fn deploy(m: &Manifest, repo: &Path, sysroot: &Path) -> Result<Deployed> {
    let s = sysroot.to_string_lossy().to_string();
    let srepo = format!("--repo={s}/ostree/repo");
    let os = &m.stateroot;
    run::quiet("ostree", &["admin", "init-fs", &s])?;
    run::quiet(
        "ostree",
        &["admin", "os-init", &format!("--sysroot={s}"), os],
    )?;
    run::quiet(
        "ostree",
        &[
            "remote",
            "add",
            &srepo,
            "--no-gpg-verify",
            &m.remote_name,
            &m.remote_url,
        ],
    )?;
    run::quiet(
        "ostree",
        &["config", &srepo, "set", "sysroot.bootloader", "syslinux"],
    )?;
    // ostree's syslinux backend reads the current config through boot/syslinux/syslinux.cfg ->
    // ../loader/syslinux.cfg and writes the next one into loader.N/; start from an empty
    // loader.0 (the first deploy then writes loader.1 and swaps the link).
    let sdir = sysroot.join("boot/syslinux");
    let loader0 = sysroot.join("boot/loader.0");
    fs::create_dir_all(&sdir).with_context(|| format!("creating {}", sdir.display()))?;
    fs::create_dir_all(&loader0).with_context(|| format!("creating {}", loader0.display()))?;
    fs::write(loader0.join("syslinux.cfg"), "").context("writing boot/loader.0/syslinux.cfg")?;
    symlink("loader.0", sysroot.join("boot/loader")).context("linking boot/loader")?;
    symlink("../loader/syslinux.cfg", sdir.join("syslinux.cfg"))
        .context("linking boot/syslinux/syslinux.cfg")?;
    crate::ostree::pull_local(
        &sysroot.join("ostree/repo"),
        repo,
        Some(&m.remote_name),
        &[&m.ostree_ref],
    )?;
    let mut args: Vec<String> = vec![
        "admin".into(),
        "deploy".into(),
        format!("--sysroot={s}"),
        format!("--os={os}"),
    ];
    args.extend(m.disk.kargs.iter().map(|k| format!("--karg={k}")));
    args.push(format!("{}:{}", m.remote_name, m.ostree_ref));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run::quiet("ostree", &a)?;

    let var = sysroot.join("ostree/deploy").join(os).join("var");
    for (d, mode) in VAR_DIRS {
        let p = var.join(d);
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
            .with_context(|| format!("chmod {}", p.display()))?;
    }

    let entries = sysroot.join("boot/loader/entries");
    let mut found = Vec::new();
    for e in fs::read_dir(&entries).with_context(|| format!("reading {}", entries.display()))? {
        let e = e?;
        found.push(
            fs::read_to_string(e.path())
                .with_context(|| format!("reading {}", e.path().display()))?,
        );
    }
    let [bls_entry] = <[String; 1]>::try_from(found)
        .map_err(|v| anyhow::anyhow!("{}: {} entries, expected 1", entries.display(), v.len()))?;
    let cfg_path = sysroot.join("boot/loader/syslinux.cfg");
    let syslinux_cfg = fs::read_to_string(&cfg_path).with_context(|| {
        format!(
            "reading {} (ostree did not write the syslinux config)",
            cfg_path.display()
        )
    })?;
    if !syslinux_cfg.contains("APPEND") {
        bail!("{}: no APPEND line:\n{syslinux_cfg}", cfg_path.display());
    }
    let deploy_dir = sysroot.join("ostree/deploy").join(os).join("deploy");
    let deployment = fs::read_dir(&deploy_dir)
        .with_context(|| format!("reading {}", deploy_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .with_context(|| format!("{}: no deployment", deploy_dir.display()))?;
    let deployment = deployment
        .strip_prefix(sysroot)
        .unwrap_or(&deployment)
        .to_path_buf();
    Ok(Deployed {
        deployment,
        bls_entry,
        syslinux_cfg,
    })
}
