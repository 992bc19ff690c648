//! A scenario's temporary directory: removed on drop unless kept (`--keep`, or a failure).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// A new directory under `$TMPDIR` (or `/var/tmp`, since disk images can be large).
    pub fn new(name: &str, keep: bool) -> Result<WorkDir> {
        let base = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp"));
        let dir = tempfile::Builder::new()
            .prefix(&format!("vm-tests-{name}-"))
            .tempdir_in(&base)
            .with_context(|| format!("creating a temporary directory in {}", base.display()))?;
        let path = dir.path().to_path_buf();
        Ok(WorkDir {
            dir: Some(dir),
            path,
            keep,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// Keeps the directory after drop (on a failure); returns its path for the error.
    pub fn keep(&mut self) -> &Path {
        self.keep = true;
        &self.path
    }

    pub fn kept(&self) -> bool {
        self.keep
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            if self.keep {
                let _ = d.keep();
            }
        }
    }
}
