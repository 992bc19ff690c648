//! Our release binaries: found in --bin-dir, stripped into the image.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The binaries every build needs: `ignition` (initramfs), the manifest's others (root).
pub fn locate(bin_dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !bin_dir.join(n).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: missing our release binaries {} (build them with `cargo build --release --workspace`, \
             or point --bin-dir at the directory that has them)",
            bin_dir.display(),
            missing.join(", ")
        );
    }
    Ok(names.iter().map(|n| bin_dir.join(n)).collect())
}

/// `strip -o DEST SRC` (DEST mode 0755).
pub fn strip(src: &Path, dest: &Path) -> Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = dest.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    crate::run::quiet(
        "strip",
        &["-o", &dest.to_string_lossy(), &src.to_string_lossy()],
    )?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", dest.display()))?;
    Ok(())
}

/// The default --bin-dir: the directory of the running executable.
pub fn default_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_build_command() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("mcd"), "").unwrap();
        let err = locate(d.path(), &["mcd", "ignition", "rpm-ostree"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ignition, rpm-ostree"), "{err}");
        assert!(err.contains("cargo build --release --workspace"), "{err}");
        assert_eq!(
            locate(d.path(), &["mcd"]).unwrap(),
            vec![d.path().join("mcd")]
        );
    }
}
