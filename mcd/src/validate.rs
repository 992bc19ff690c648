//! Compares the on-disk state with a config and lists every difference (OpenShift's
//! `validateOnDiskState`, plus modes, owners, enablement and the kernel arguments).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ignition::exec::files::passwd::Db;
use ignition::exec::root::Root;

use crate::apply::{os, units};
use crate::config::{Contents, Desired, Owner};
use crate::paths::{CORE_USER, UNITS_DIR};

fn read(root: &Root, path: &str) -> Result<(std::fs::Metadata, Option<Vec<u8>>), String> {
    let r = root.resolve(path).map_err(|e| format!("{path}: {e}"))?;
    let host = root.host(&r);
    let m = std::fs::symlink_metadata(&host).map_err(|_| format!("{path}: missing"))?;
    let data = if m.is_file() {
        std::fs::read(&host).ok()
    } else {
        None
    };
    Ok((m, data))
}

fn ids(db: &Db, u: &Owner, g: &Owner) -> Option<(u32, u32)> {
    let uid = match u {
        Owner::Id(i) => *i,
        Owner::Name(n) => db.users.get(n)?.uid,
    };
    let gid = match g {
        Owner::Id(i) => *i,
        Owner::Name(n) => *db.groups.get(n)?,
    };
    Some((uid, gid))
}

fn check_file(
    root: &Root,
    path: &str,
    want: &Contents,
    mode: u32,
    owner: Option<(u32, u32)>,
    out: &mut Vec<String>,
) {
    match read(root, path) {
        Err(e) => out.push(format!("file {e}")),
        Ok((m, data)) => {
            if !m.is_file() {
                out.push(format!("file {path}: not a regular file"));
                return;
            }
            if !data.as_deref().is_some_and(|d| want.matches(d)) {
                out.push(format!(
                    "file {path}: contents differ ({} bytes on disk, {} expected)",
                    m.len(),
                    want.len()
                ));
            }
            if m.mode() & 0o7777 != mode {
                out.push(format!(
                    "file {path}: mode {:04o}, expected {mode:04o}",
                    m.mode() & 0o7777
                ));
            }
            if let Some((u, g)) = owner {
                if (m.uid(), m.gid()) != (u, g) {
                    out.push(format!(
                        "file {path}: owner {}:{}, expected {u}:{g}",
                        m.uid(),
                        m.gid()
                    ));
                }
            }
        }
    }
}

/// Every difference between the root and `cfg` (empty: no drift). `sysroot`: where to ask
/// `rpm-ostree` for the kernel arguments and the deployed OS; without one they are not checked.
pub fn validate(root: &Root, cfg: &Desired, sysroot: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    let db = Db::load(root);
    for (path, f) in &cfg.files {
        let owner = ids(&db, &f.user, &f.group);
        if owner.is_none() {
            out.push(format!("file {path}: owner cannot be resolved in the root"));
        }
        check_file(root, path, &f.contents, f.mode, owner, &mut out);
    }
    for (name, u) in &cfg.units {
        let path = format!("{UNITS_DIR}/{name}");
        let link = std::fs::read_link(root.host(&path)).ok();
        let masked = link.as_deref() == Some(Path::new("/dev/null"));
        if u.mask && !masked {
            out.push(format!("unit {name}: not masked"));
        }
        if !u.mask && masked {
            out.push(format!("unit {name}: masked on disk"));
        }
        if let (Some(c), false) = (&u.contents, u.mask) {
            check_file(
                root,
                &path,
                &Contents::Data(c.as_bytes().to_vec()),
                0o644,
                None,
                &mut out,
            );
        }
        for (d, c) in &u.dropins {
            check_file(
                root,
                &format!("{path}.d/{d}"),
                &Contents::Data(c.as_bytes().to_vec()),
                0o644,
                None,
                &mut out,
            );
        }
        match u.enabled {
            Some(true) if !u.mask => {
                let file = match &u.contents {
                    Some(c) => Some((path.clone(), c.clone())),
                    None => units::find_unit_file(root, name),
                };
                match file {
                    None => out.push(format!(
                        "unit {name}: enabled, but no unit file in the root"
                    )),
                    Some((p, text)) => {
                        for (l, target) in
                            units::enable_links(name, &p, &units::parse_install(&text))
                        {
                            if std::fs::read_link(root.host(&l)).ok().as_deref()
                                != Some(Path::new(&target))
                            {
                                out.push(format!(
                                    "unit {name}: not enabled ({l} does not point to {target})"
                                ));
                            }
                        }
                    }
                }
            }
            Some(false) => {
                for l in units::existing_links(root, name) {
                    out.push(format!(
                        "unit {name}: enabled on disk ({l}), expected disabled"
                    ));
                }
            }
            _ => {}
        }
    }
    if !cfg.core.ssh_keys.is_empty() {
        let home = db
            .users
            .get(CORE_USER)
            .map(|u| u.home.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("/home/{CORE_USER}"));
        let mut text = cfg.core.ssh_keys.join("\n");
        text.push('\n');
        let owner = db.users.get(CORE_USER).map(|u| (u.uid, u.gid));
        check_file(
            root,
            &format!("{home}/.ssh/authorized_keys.d/ignition"),
            &Contents::Data(text.as_bytes().to_vec()),
            0o600,
            owner,
            &mut out,
        );
    }
    out.extend(check_os(root, cfg, sysroot));
    out
}

/// Kernel arguments and OS image: `/proc/cmdline` on the booted system, else `rpm-ostree --sysroot`.
fn check_os(root: &Root, cfg: &Desired, sysroot: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    if cfg.kargs.is_empty() && cfg.mc.spec.os_image_url.is_empty() {
        return out;
    }
    let program = os::program();
    let prefix: Vec<String> = sysroot
        .map(|s| vec![format!("--sysroot={}", s.display())])
        .unwrap_or_default();
    let have: Option<Vec<String>> = if root.dir() == Path::new("/") {
        std::fs::read_to_string("/proc/cmdline")
            .ok()
            .map(|c| crate::kargs::split(&c))
    } else if sysroot.is_some_and(|s| s.join("ostree").exists()) {
        let mut a = prefix.clone();
        a.push("kargs".into());
        ignition::exec::cmd::run(&program, &a, None)
            .ok()
            .map(|o| crate::kargs::split(&String::from_utf8_lossy(&o)))
    } else {
        None
    };
    if let Some(have) = have {
        for k in &cfg.kargs {
            if !have.contains(k) {
                out.push(format!("kernel argument {k}: missing"));
            }
        }
    }
    if !cfg.mc.spec.os_image_url.is_empty()
        && (root.dir() == Path::new("/") || sysroot.is_some_and(|s| s.join("ostree").exists()))
    {
        let mut a = prefix;
        a.extend(["status".to_string(), "--json".to_string()]);
        if let Ok(o) = ignition::exec::cmd::run(&program, &a, None) {
            let v: serde_json::Value = serde_json::from_slice(&o).unwrap_or_default();
            let deps = v["deployments"].as_array().cloned().unwrap_or_default();
            let d = deps
                .iter()
                .find(|d| d["booted"].as_bool() == Some(true))
                .or(deps.first());
            let origin = d
                .and_then(|d| {
                    d["origin"]
                        .as_str()
                        .or(d["container-image-reference"].as_str())
                })
                .unwrap_or("");
            if origin != cfg.mc.spec.os_image_url {
                out.push(format!(
                    "OS: deployed {origin:?}, expected {:?}",
                    cfg.mc.spec.os_image_url
                ));
            }
        }
    }
    out
}
