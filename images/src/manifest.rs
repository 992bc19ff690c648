//! The image manifest (`images/manifest.toml`): what goes into the OS. Parsing is pure.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The repository's manifest, embedded so the binary works without a checkout.
pub const EMBEDDED: &str = include_str!("../manifest.toml");
/// Where the embedded manifest lives in the repository (its overlay directory is relative to it).
pub const EMBEDDED_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: String,
    #[serde(rename = "ref")]
    pub ostree_ref: String,
    pub stateroot: String,
    pub remote_name: String,
    pub remote_url: String,
    pub rootfs: Rootfs,
    pub overlay: Overlay,
    pub disk: Disk,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rootfs {
    pub suite: String,
    pub mirror: String,
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Relative to the manifest's directory.
    pub dir: PathBuf,
    pub binaries: Vec<Binary>,
    pub enable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// File name in --bin-dir.
    pub name: String,
    /// Absolute path in the image.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    pub size_mib: u64,
    pub efi_mib: u64,
    pub boot_mib: u64,
    pub kargs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Manifest {
    /// Parses and checks a manifest; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        m.check().map_err(|message| ManifestError::Invalid {
            path: path.to_string(),
            message,
        })?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        if self.rootfs.packages.is_empty() {
            return Err("rootfs.packages is empty".into());
        }
        for p in &self.rootfs.packages {
            if p.is_empty() || p.contains(|c: char| c.is_whitespace() || c == ',') {
                return Err(format!("rootfs.packages: {p:?} is not a package name"));
            }
        }
        for b in &self.overlay.binaries {
            if !b.path.starts_with('/') || b.name.contains('/') {
                return Err(format!(
                    "overlay.binaries: {} -> {}: name must be a file name, path absolute",
                    b.name, b.path
                ));
            }
        }
        if self.overlay.dir.is_absolute() {
            return Err("overlay.dir must be relative to the manifest".into());
        }
        let d = &self.disk;
        if d.efi_mib == 0 || d.boot_mib == 0 || d.size_mib < 2 + d.efi_mib + d.boot_mib + 512 {
            return Err(format!(
                "disk: size_mib {} leaves less than 512 MiB for the root",
                d.size_mib
            ));
        }
        if d.kargs.iter().any(|k| k.starts_with("ostree=")) {
            return Err("disk.kargs: ostree= is added by ostree, do not set it".into());
        }
        if self.ostree_ref.is_empty() || self.stateroot.is_empty() || self.stateroot.contains('/') {
            return Err("ref and stateroot must be set (stateroot without '/')".into());
        }
        Ok(())
    }
}

/// A manifest with the directory its relative paths start from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub source: String,
}

impl Loaded {
    pub fn overlay_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.overlay.dir)
    }
}

/// Loads `path`, or the embedded manifest (its overlay from the repository) when `None`.
pub fn load(path: Option<&Path>) -> anyhow::Result<Loaded> {
    use anyhow::Context;
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let manifest = Manifest::parse(&text, &p.display().to_string())?;
            let dir = p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            Ok(Loaded {
                manifest,
                dir,
                source: p.display().to_string(),
            })
        }
        None => {
            let manifest = Manifest::parse(EMBEDDED, "images/manifest.toml (embedded)")?;
            Ok(Loaded {
                manifest,
                dir: PathBuf::from(EMBEDDED_DIR),
                source: format!("{EMBEDDED_DIR}/manifest.toml"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses() {
        let m = Manifest::parse(EMBEDDED, "embedded").unwrap();
        assert_eq!(m.rootfs.suite, "bookworm");
        assert!(m.rootfs.packages.iter().any(|p| p == "ostree-boot"));
        assert!(m.rootfs.packages.iter().any(|p| p == "dracut"));
        assert!(m
            .overlay
            .binaries
            .iter()
            .any(|b| b.name == "mcd" && b.path == "/usr/bin/mcd"));
        assert!(
            !m.overlay.binaries.iter().any(|b| b.name == "ignition"),
            "ignition only goes into the initramfs"
        );
        assert!(m
            .overlay
            .enable
            .iter()
            .any(|u| u == "machine-config-daemon.service"));
        assert!(m.disk.kargs.iter().any(|k| k == "ignition.firstboot"));
        assert_eq!(m.ostree_ref, "mooring/x86_64/stable");
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let bad = EMBEDDED.replace("suite = \"bookworm\"", "suite = 12");
        let err = Manifest::parse(&bad, "m.toml").unwrap_err().to_string();
        assert!(
            err.starts_with("m.toml: ") && err.contains("suite"),
            "{err}"
        );
        let typo = EMBEDDED.replace("[disk]", "[disk]\nsize_mb = 3");
        let err = Manifest::parse(&typo, "m.toml").unwrap_err().to_string();
        assert!(err.contains("size_mb"), "{err}");
        let small = EMBEDDED.replace("size_mib = 4096", "size_mib = 600");
        let err = Manifest::parse(&small, "m.toml").unwrap_err().to_string();
        assert!(err.contains("512 MiB"), "{err}");
        let ostree = EMBEDDED.replace("\"rw\",", "\"rw\", \"ostree=/x\",");
        assert!(Manifest::parse(&ostree, "m.toml")
            .unwrap_err()
            .to_string()
            .contains("ostree="));
        let pkg = EMBEDDED.replace("\"kmod\",", "\"kmod vim\",");
        assert!(Manifest::parse(&pkg, "m.toml")
            .unwrap_err()
            .to_string()
            .contains("not a package name"));
    }
}
