//! Cross-crate integration tests for mooring; the tests live in `tests/tests/`.
//!
//! This library holds helpers those tests share. Tests that need root (loop devices, mounts,
//! ostree sysroots) must skip with a printed reason when not run as root, never silently.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(super::workspace_root().join("Cargo.toml"))
            .expect("read workspace Cargo.toml");
        assert!(manifest.contains("[workspace]"));
    }
}
