//! Filesystems: probing with `blkid -p`, Go's reuse rule, and the
//! `wipefs`/`mkfs.*` command lines (Go's flags).

use std::path::Path;

use crate::exec::cmd;
use crate::model::Filesystem;

/// What `blkid -p` finds on a device; `kind` is empty when there is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsInfo {
    pub kind: String,
    pub label: String,
    pub uuid: String,
}

/// Probes a device's superblock, bypassing blkid's cache.
pub fn probe(dev: &Path) -> Result<FsInfo, String> {
    let args = vec![
        "-p".to_string(),
        "-o".into(),
        "export".into(),
        dev.display().to_string(),
    ];
    match cmd::run("blkid", &args, None) {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out);
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                    .unwrap_or("")
                    .to_string()
            };
            Ok(FsInfo {
                kind: get("TYPE"),
                label: get("LABEL"),
                uuid: get("UUID"),
            })
        }
        // 2: nothing identified.
        Err(e) if e.reason.starts_with("exit status 2") => Ok(FsInfo::default()),
        // 8: several signatures (ambivalent probe).
        Err(e) if e.reason.starts_with("exit status 8") => Ok(FsInfo {
            kind: "several signatures (ambivalent)".into(),
            ..Default::default()
        }),
        Err(e) => Err(format!("probing {}: {e}", dev.display())),
    }
}

/// Go's canonical form for comparing UUIDs: lower case; for vfat the
/// volume ID without its dash.
pub fn canonical_uuid(format: &str, uuid: &str) -> String {
    let mut u = uuid.to_ascii_lowercase();
    if format == "vfat" && u.len() >= 5 && u.as_bytes()[4] == b'-' {
        u.remove(4);
    }
    u
}

/// What to do with one filesystem entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No `format`: nothing to do (as Go).
    Nothing,
    /// Format, label and UUID match: keep it and its contents.
    Reuse,
    /// `wipefs -a`, then (unless the format is `none`) mkfs.
    Create,
}

/// Go's reuse rule: without `wipeFilesystem`, an existing filesystem is kept
/// when format, label (if given) and UUID (if given) match, and is an error
/// otherwise; an empty device is formatted.
pub fn decide(fs: &Filesystem, found: &FsInfo) -> Result<Decision, String> {
    let Some(format) = fs.format.as_deref() else {
        return Ok(Decision::Nothing);
    };
    if fs.wipe_filesystem == Some(true) {
        return Ok(Decision::Create);
    }
    let want = if format == "none" { "" } else { format };
    let matches = found.kind == want
        && fs.label.as_ref().map_or(true, |l| *l == found.label)
        && fs.uuid.as_ref().map_or(true, |u| {
            canonical_uuid(&found.kind, &found.uuid) == canonical_uuid(want, u)
        });
    if matches {
        Ok(if found.kind.is_empty() {
            Decision::Create
        } else {
            Decision::Reuse
        })
    } else if !found.kind.is_empty() {
        Err(format!(
            "{}: found {} (label {:?}, UUID {:?}) but the config asks for {format}{}{} and wipeFilesystem is not set",
            fs.device,
            found.kind,
            found.label,
            found.uuid,
            fs.label.as_ref().map(|l| format!(" labelled {l:?}")).unwrap_or_default(),
            fs.uuid.as_ref().map(|u| format!(" with UUID {u}")).unwrap_or_default(),
        ))
    } else {
        Ok(Decision::Create)
    }
}

/// The mkfs command line for `fs` on `dev` (Go's flags; the config's
/// options first). `None` for format `none`.
pub fn mkfs_command(fs: &Filesystem, dev: &Path) -> Result<Option<(String, Vec<String>)>, String> {
    let format = fs.format.as_deref().unwrap_or("");
    let mut args: Vec<String> = fs.options.clone();
    let uuid = fs.uuid.as_deref().map(|u| canonical_uuid(format, u));
    let label = fs.label.clone();
    let program = match format {
        "ext4" | "btrfs" | "swap" => {
            args.push(
                if format == "btrfs" {
                    "--force"
                } else if format == "ext4" {
                    "-F"
                } else {
                    "-f"
                }
                .into(),
            );
            if let Some(u) = uuid {
                args.extend(["-U".into(), u]);
            }
            if let Some(l) = label {
                args.extend(["-L".into(), l]);
            }
            match format {
                "ext4" => "mkfs.ext4",
                "btrfs" => "mkfs.btrfs",
                _ => "mkswap",
            }
        }
        "xfs" => {
            args.push("-f".into());
            if let Some(u) = uuid {
                args.extend(["-m".into(), format!("uuid={u}")]);
            }
            if let Some(l) = label {
                args.extend(["-L".into(), l]);
            }
            "mkfs.xfs"
        }
        "vfat" => {
            if let Some(u) = uuid {
                args.extend(["-i".into(), u]);
            }
            if let Some(l) = label {
                args.extend(["-n".into(), l]);
            }
            "mkfs.vfat"
        }
        "none" => return Ok(None),
        other => {
            return Err(format!(
                "{}: unsupported filesystem format {other:?}",
                fs.device
            ))
        }
    };
    args.push(dev.display().to_string());
    Ok(Some((program.to_string(), args)))
}

/// The programs a filesystem entry needs (checked before any write).
pub fn tools(fs: &Filesystem) -> Vec<&'static str> {
    let mut t = vec!["blkid"];
    if fs.format.is_some() {
        t.push("wipefs");
    }
    t.push(match fs.format.as_deref() {
        Some("ext4") => "mkfs.ext4",
        Some("xfs") => "mkfs.xfs",
        Some("btrfs") => "mkfs.btrfs",
        Some("vfat") => "mkfs.vfat",
        Some("swap") => "mkswap",
        _ => return t,
    });
    t
}

/// Makes the filesystem as decided: `wipefs -a`, then mkfs.
pub fn create(fs: &Filesystem, dev: &Path) -> Result<(), String> {
    cmd::run("wipefs", &["-a".into(), dev.display().to_string()], None)
        .map_err(|e| format!("{}: wipefs failed: {e}", fs.device))?;
    if let Some((program, args)) = mkfs_command(fs, dev)? {
        cmd::run(&program, &args, None).map_err(|e| format!("{}: mkfs failed: {e}", fs.device))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(format: &str, label: Option<&str>, uuid: Option<&str>, wipe: bool) -> Filesystem {
        Filesystem {
            device: "/dev/vda1".into(),
            format: Some(format.into()),
            label: label.map(String::from),
            uuid: uuid.map(String::from),
            wipe_filesystem: Some(wipe),
            ..Default::default()
        }
    }

    fn found(kind: &str, label: &str, uuid: &str) -> FsInfo {
        FsInfo {
            kind: kind.into(),
            label: label.into(),
            uuid: uuid.into(),
        }
    }

    #[test]
    fn reuse_rule_table() {
        let u = "3f3b4bd4-8e2a-4c0c-a8f4-2f0e4f5c1a11";
        let cases: Vec<(Filesystem, FsInfo, Result<Decision, &str>)> = vec![
            (
                fs("ext4", None, None, false),
                FsInfo::default(),
                Ok(Decision::Create),
            ),
            (
                fs("ext4", Some("r"), None, false),
                found("ext4", "r", u),
                Ok(Decision::Reuse),
            ),
            (
                fs("ext4", None, None, false),
                found("ext4", "any", u),
                Ok(Decision::Reuse),
            ),
            (
                fs("ext4", None, Some(&u.to_uppercase()), false),
                found("ext4", "", u),
                Ok(Decision::Reuse),
            ),
            (
                fs("ext4", Some("r"), None, false),
                found("ext4", "other", u),
                Err("found ext4"),
            ),
            (
                fs(
                    "ext4",
                    None,
                    Some("00000000-0000-0000-0000-000000000000"),
                    false,
                ),
                found("ext4", "", u),
                Err("with UUID"),
            ),
            (
                fs("xfs", None, None, false),
                found("ext4", "", u),
                Err("asks for xfs"),
            ),
            (
                fs("xfs", None, None, true),
                found("ext4", "", u),
                Ok(Decision::Create),
            ),
            (
                fs("none", None, None, false),
                FsInfo::default(),
                Ok(Decision::Create),
            ),
            (
                fs("none", None, None, false),
                found("swap", "", u),
                Err("found swap"),
            ),
            (
                fs("vfat", None, Some("a1b2-c3d4"), false),
                found("vfat", "", "A1B2-C3D4"),
                Ok(Decision::Reuse),
            ),
            (
                fs("vfat", None, Some("A1B2C3D4"), false),
                found("vfat", "", "A1B2-C3D4"),
                Ok(Decision::Reuse),
            ),
        ];
        for (i, (f, info, want)) in cases.into_iter().enumerate() {
            match (decide(&f, &info), want) {
                (Ok(d), Ok(w)) => assert_eq!(d, w, "case {i}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "case {i}: {e}"),
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
        let mut nf = fs("ext4", None, None, false);
        nf.format = None;
        assert_eq!(
            decide(&nf, &found("xfs", "", "")).unwrap(),
            Decision::Nothing
        );
    }

    #[test]
    fn mkfs_flags_as_go() {
        let dev = Path::new("/dev/vda1");
        let mut f = fs("ext4", Some("root"), Some("AB-CD"), false);
        f.options = vec!["-E".into(), "lazy_itable_init=1".into()];
        assert_eq!(
            mkfs_command(&f, dev).unwrap().unwrap(),
            (
                "mkfs.ext4".to_string(),
                [
                    "-E",
                    "lazy_itable_init=1",
                    "-F",
                    "-U",
                    "ab-cd",
                    "-L",
                    "root",
                    "/dev/vda1"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        let cmdline = |f: &Filesystem| {
            let (p, a) = mkfs_command(f, dev).unwrap().unwrap();
            format!("{p} {}", a.join(" "))
        };
        assert_eq!(
            cmdline(&fs("xfs", Some("x"), Some("U"), false)),
            "mkfs.xfs -f -m uuid=u -L x /dev/vda1"
        );
        assert_eq!(
            cmdline(&fs("btrfs", Some("b"), None, false)),
            "mkfs.btrfs --force -L b /dev/vda1"
        );
        assert_eq!(
            cmdline(&fs("swap", None, None, false)),
            "mkswap -f /dev/vda1"
        );
        assert_eq!(
            cmdline(&fs("vfat", Some("EFI"), Some("A1B2-C3D4"), false)),
            "mkfs.vfat -i a1b2c3d4 -n EFI /dev/vda1"
        );
        assert_eq!(
            mkfs_command(&fs("none", None, None, false), dev).unwrap(),
            None
        );
        assert!(mkfs_command(&fs("zfs", None, None, false), dev)
            .unwrap_err()
            .contains("unsupported"));
    }
}
