//! Our dracut module (`initramfs/dracut/50mooring-ignition/` in the repository), embedded in the
//! binary so that `initramfs build` and `images build` work from the binary alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The module's directory name under `/usr/lib/dracut/modules.d/`.
pub const MODULE_DIR: &str = "50mooring-ignition";
/// The dracut module name (what `--add` takes).
pub const MODULE_NAME: &str = "mooring-ignition";

macro_rules! file {
    ($name:literal, $mode:literal) => {
        (
            $name,
            include_str!(concat!("../dracut/50mooring-ignition/", $name)),
            $mode,
        )
    };
}

/// (file name, contents, mode) of every file of the module.
pub const FILES: &[(&str, &str, u32)] = &[
    file!("module-setup.sh", 0o755),
    file!("mooring-ignition-generator", 0o755),
    file!("mooring-boot-config.sh", 0o755),
    file!("mooring-mount-var.sh", 0o755),
    file!("mooring-ignition-failed.sh", 0o755),
    file!("50-mooring-initrd-dhcp.network", 0o644),
    file!("ignition-fetch-offline.service", 0o644),
    file!("ignition-fetch.service", 0o644),
    file!("ignition-kargs.service", 0o644),
    file!("ignition-disks.service", 0o644),
    file!("ignition-mount.service", 0o644),
    file!("ignition-files.service", 0o644),
    file!("ignition-complete.target", 0o644),
    file!("mooring-boot-config.service", 0o644),
    file!("mooring-mount-var.service", 0o644),
    file!("mooring-ignition-failed.service", 0o644),
];

/// The stage units, in Ignition's names (what a built initramfs must contain).
pub const STAGE_UNITS: &[&str] = &[
    "ignition-fetch-offline.service",
    "ignition-fetch.service",
    "ignition-kargs.service",
    "ignition-disks.service",
    "ignition-mount.service",
    "ignition-files.service",
    "ignition-complete.target",
];

/// Writes the module into `ROOT/usr/lib/dracut/modules.d/50mooring-ignition/` (replacing it).
pub fn install(root: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = root.join("usr/lib/dracut/modules.d").join(MODULE_DIR);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, contents, mode) in FILES {
        let path = dir.join(name);
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}

/// A stable digest input: every file's name, mode and contents.
pub fn fingerprint() -> Vec<u8> {
    let mut out = Vec::new();
    for (name, contents, mode) in FILES {
        out.extend_from_slice(format!("{name}\0{mode:o}\0{}\0", contents.len()).as_bytes());
        out.extend_from_slice(contents.as_bytes());
    }
    out
}

/// Other dracut modules of the repository (`initramfs/dracut/*` besides ours, e.g. the live-boot
/// module), read at run time from the checkout: (directory name, module name).
pub fn extra_modules() -> Vec<(std::path::PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dracut");
    let mut v = Vec::new();
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == MODULE_DIR || !e.path().join("module-setup.sh").is_file() {
            continue;
        }
        let module = name
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .to_string();
        v.push((e.path(), module));
    }
    v.sort();
    v
}

/// Copies the extra modules into the root; returns their module names.
pub fn install_extra(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (dir, module) in extra_modules() {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = root.join("usr/lib/dracut/modules.d").join(&name);
        if dest.exists() {
            fs::remove_dir_all(&dest)
                .map_err(|e| anyhow::anyhow!("removing {}: {e}", dest.display()))?;
        }
        crate::cmd::run(
            "cp",
            &["-a", &dir.to_string_lossy(), &dest.to_string_lossy()],
            None,
        )?;
        names.push(module);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_unit_is_embedded_and_wired() {
        let setup = FILES.iter().find(|f| f.0 == "module-setup.sh").unwrap().1;
        for unit in STAGE_UNITS {
            assert!(FILES.iter().any(|f| f.0 == *unit), "{unit} not embedded");
            assert!(
                setup.contains(unit),
                "module-setup.sh does not install {unit}"
            );
        }
    }

    #[test]
    fn stages_run_in_ignitions_order() {
        let unit = |n: &str| FILES.iter().find(|f| f.0 == n).unwrap().1;
        assert!(unit("ignition-disks.service")
            .contains("Before=ignition-mount.service initrd-root-device.target sysroot.mount"));
        assert!(unit("ignition-mount.service").contains("ostree-prepare-root.service"));
        assert!(unit("ignition-files.service").contains("After=ostree-prepare-root.service"));
        assert!(unit("ignition-fetch-offline.service")
            .contains("After=basic.target mooring-boot-config.service"));
        for stage in ["fetch-offline", "fetch", "kargs", "disks", "mount", "files"] {
            let text = unit(&format!("ignition-{stage}.service"));
            assert!(text.contains(&format!("-stage {stage}")), "{stage}");
            assert!(
                text.contains("OnFailure=mooring-ignition-failed.service"),
                "{stage}"
            );
        }
    }

    #[test]
    fn install_writes_executable_scripts() {
        let root = tempfile::tempdir().unwrap();
        install(root.path()).unwrap();
        let dir = root
            .path()
            .join("usr/lib/dracut/modules.d")
            .join(MODULE_DIR);
        let mode = fs::metadata(dir.join("module-setup.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), FILES.len());
    }

    #[test]
    fn generator_only_acts_on_firstboot() {
        let dir = tempfile::tempdir().unwrap();
        let gen = dir.path().join("gen");
        let script = FILES
            .iter()
            .find(|f| f.0 == "mooring-ignition-generator")
            .unwrap()
            .1;
        // Run it with a fake /proc/cmdline and /run.
        let text = script
            .replace(
                "/proc/cmdline",
                &dir.path().join("cmdline").to_string_lossy(),
            )
            .replace(
                "/run/ignition.env",
                &dir.path().join("ignition.env").to_string_lossy(),
            );
        fs::write(&gen, text).unwrap();
        let run = |cmdline: &str, out: &Path| {
            fs::write(dir.path().join("cmdline"), cmdline).unwrap();
            let st = std::process::Command::new("sh")
                .arg(&gen)
                .arg(out)
                .status()
                .unwrap();
            assert!(st.success());
        };
        let out1 = dir.path().join("out1");
        run("root=LABEL=root rw quiet\n", &out1);
        assert!(!out1.join("initrd.target.requires").exists());
        let out2 = dir.path().join("out2");
        run(
            "root=LABEL=root ignition.firstboot ignition.platform.id=qemu\n",
            &out2,
        );
        assert!(out2
            .join("initrd.target.requires/ignition-complete.target")
            .symlink_metadata()
            .is_ok());
        assert_eq!(
            fs::read_to_string(dir.path().join("ignition.env")).unwrap(),
            "PLATFORM_ID=qemu\n"
        );
    }
}
