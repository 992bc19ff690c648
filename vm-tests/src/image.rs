//! The OS image the scenarios boot: where it is (`--image-dir`, `$MOORING_IMAGE_DIR`,
//! `$MOORING_CACHE/image`, `/var/cache/mooring/image`), what `images build` recorded about it
//! (`build.json`), and building it when it is missing (`images build --output DIR`, the
//! `images` binary next to our own executable).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The image directory from the option and the environment. Pure given its inputs.
pub fn resolve_dir(
    option: Option<&Path>,
    image_dir_env: Option<&str>,
    cache_env: Option<&str>,
) -> PathBuf {
    if let Some(d) = option {
        return d.to_path_buf();
    }
    if let Some(d) = image_dir_env.filter(|s| !s.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(c) = cache_env.filter(|s| !s.is_empty()) {
        return Path::new(c).join("image");
    }
    PathBuf::from("/var/cache/mooring/image")
}

#[derive(Debug, Clone, Deserialize)]
pub struct BuildPartition {
    pub number: u32,
    pub label: String,
    #[serde(alias = "startBytes")]
    pub start_bytes: u64,
    #[serde(alias = "sizeBytes")]
    pub size_bytes: u64,
    #[serde(default, alias = "typeGuid")]
    pub type_guid: String,
}

/// `DIR/build.json`, written by `images build`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    #[serde(rename = "ref")]
    pub ostree_ref: String,
    pub commit: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kernel_version: String,
    #[serde(default)]
    pub kargs: Vec<String>,
    #[serde(default)]
    pub partitions: Vec<BuildPartition>,
}

/// A built image directory.
#[derive(Debug, Clone)]
pub struct Image {
    pub dir: PathBuf,
    pub info: BuildInfo,
}

impl Image {
    pub fn disk_qcow2(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    pub fn partition(&self, label: &str) -> Option<&BuildPartition> {
        self.info.partitions.iter().find(|p| p.label == label)
    }

    /// Reads `DIR/build.json`; `DIR/disk.qcow2` must exist.
    pub fn open(dir: &Path) -> Result<Image> {
        let disk = dir.join("disk.qcow2");
        if !disk.is_file() {
            bail!(
                "{}: no disk image (run `images build --output {}`)",
                disk.display(),
                dir.display()
            );
        }
        let p = dir.join("build.json");
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let info =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        Ok(Image {
            dir: dir.to_path_buf(),
            info,
        })
    }
}

/// A binary of this workspace next to our own executable (the same target directory).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding our own executable")?;
    let dir = me.parent().context("our executable has no directory")?;
    // Integration tests run from target/*/deps: the binaries are one level up.
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "no `{name}` binary next to {} (build the workspace: cargo build --release --workspace)",
        me.display()
    )
}

/// The image in `dir`, built first with `images build --output DIR` when `disk.qcow2` is
/// missing (its progress goes to our stderr).
pub fn ensure_built(dir: &Path) -> Result<Image> {
    if !dir.join("disk.qcow2").is_file() {
        let images = sibling_binary("images")?;
        eprintln!(
            "vm-tests: no image in {}: running {} build --output {}",
            dir.display(),
            images.display(),
            dir.display()
        );
        let status = Command::new(&images)
            .args(["build", "--output"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .with_context(|| format!("starting {}", images.display()))?;
        if !status.success() {
            bail!(
                "`{} build --output {}` failed ({status})",
                images.display(),
                dir.display()
            );
        }
    }
    Image::open(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_dir_precedence() {
        let o = Path::new("/o");
        assert_eq!(resolve_dir(Some(o), Some("/e"), Some("/c")), o);
        assert_eq!(resolve_dir(None, Some("/e"), Some("/c")), Path::new("/e"));
        assert_eq!(
            resolve_dir(None, Some(""), Some("/c")),
            Path::new("/c/image")
        );
        assert_eq!(
            resolve_dir(None, None, None),
            Path::new("/var/cache/mooring/image")
        );
    }

    #[test]
    fn build_json() {
        let j = r#"{"ref":"mooring/x86_64/stable","commit":"abc","version":"1","kernelVersion":"6.1.0",
            "kargs":["quiet"],"partitions":[{"number":4,"label":"root","start_bytes":1048576,
            "size_bytes":2097152,"type_guid":"0FC63DAF-8483-4772-8E79-3D69D8477DE4"}]}"#;
        let b: BuildInfo = serde_json::from_str(j).unwrap();
        assert_eq!(b.ostree_ref, "mooring/x86_64/stable");
        assert_eq!(b.partitions[0].start_bytes, 1048576);
        assert_eq!(b.partitions[0].label, "root");
    }
}
