//! Steps cached by the hash of their inputs.
//!
//! A step's inputs go into a [`Key`] (labelled parts, so that reordering or moving bytes from one
//! part to the next changes the hash). Its result is a small JSON value kept in
//! `CACHE/<step>/<key>.json`; its bulky outputs live in `CACHE/<step>/<key>/`. A result file is
//! written last, atomically: a step that failed half-way is done again from scratch.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

/// Bump when a step's code changes what it produces for the same inputs.
pub const FORMAT: &str = "mooring-images-1";

#[derive(Debug, Clone)]
pub struct Key {
    hasher: Sha256,
}

impl Default for Key {
    fn default() -> Self {
        Key::new()
    }
}

impl Key {
    pub fn new() -> Key {
        let mut k = Key {
            hasher: Sha256::new(),
        };
        k.add("format", FORMAT.as_bytes());
        k
    }

    /// Adds one labelled input.
    pub fn add(&mut self, label: &str, bytes: &[u8]) -> &mut Key {
        self.hasher.update((label.len() as u64).to_le_bytes());
        self.hasher.update(label.as_bytes());
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    pub fn add_str(&mut self, label: &str, s: &str) -> &mut Key {
        self.add(label, s.as_bytes())
    }

    /// Adds a file's contents (by path label and contents).
    pub fn add_file(&mut self, label: &str, path: &Path) -> Result<&mut Key> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(self.add(label, &bytes))
    }

    /// Adds a directory tree: every entry's relative path, type, mode and contents (or link
    /// target), in sorted order.
    pub fn add_tree(&mut self, label: &str, dir: &Path) -> Result<&mut Key> {
        use std::os::unix::fs::PermissionsExt;
        let mut entries = Vec::new();
        walk(dir, dir, &mut entries)?;
        entries.sort();
        for rel in entries {
            let path = dir.join(&rel);
            let meta = fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mode = meta.permissions().mode();
            self.add(&format!("{label}:path"), rel.as_bytes());
            self.add(&format!("{label}:mode"), &mode.to_le_bytes());
            if meta.file_type().is_symlink() {
                let t =
                    fs::read_link(&path).with_context(|| format!("reading {}", path.display()))?;
                self.add(&format!("{label}:link"), t.to_string_lossy().as_bytes());
            } else if meta.is_file() {
                self.add_file(&format!("{label}:data"), &path)?;
            }
        }
        Ok(self)
    }

    pub fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let path = e.path();
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        out.push(rel);
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &path, out)?;
        }
    }
    Ok(())
}

/// The cache directory and the progress printer.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Cached,
    Built,
}

impl Cache {
    pub fn new(root: PathBuf) -> Cache {
        Cache { root }
    }

    pub fn result_path(&self, step: &str, key: &str) -> PathBuf {
        self.root.join(step).join(format!("{key}.json"))
    }

    pub fn work_dir(&self, step: &str, key: &str) -> PathBuf {
        self.root.join(step).join(key)
    }

    /// The cached result of `step` for `key`, if any.
    pub fn lookup<T: DeserializeOwned>(&self, step: &str, key: &str) -> Option<T> {
        let text = fs::read(self.result_path(step, key)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Runs `build` (given a fresh work directory) unless the result for `key` is cached;
    /// prints `[images] STEP: cached` or `[images] STEP: 3.2s`. Older entries of the step are
    /// removed after a build (one image's worth of cache per step).
    pub fn step<T, F>(&self, step: &str, key: &str, build: F) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path) -> Result<T>,
    {
        if let Some(v) = self.lookup(step, key) {
            eprintln!("[images] {step}: cached ({})", &key[..12.min(key.len())]);
            return Ok((v, Outcome::Cached));
        }
        eprintln!("[images] {step}: building ({})", &key[..12.min(key.len())]);
        let started = Instant::now();
        let work = self.work_dir(step, key);
        if work.exists() {
            remove_tree(&work)?;
        }
        fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let value = build(&work).with_context(|| format!("step {step}"))?;
        let path = self.result_path(step, key);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&value)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))?;
        eprintln!("[images] {step}: {:.1}s", started.elapsed().as_secs_f64());
        self.prune(step, key);
        Ok((value, Outcome::Built))
    }

    /// Removes every entry of `step` but `keep`.
    fn prune(&self, step: &str, keep: &str) {
        let Ok(rd) = fs::read_dir(self.root.join(step)) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json").unwrap_or(&name);
            if stem != keep && !name.ends_with(".tmp") {
                let p = e.path();
                let r = if p.is_dir() {
                    remove_tree(&p)
                } else {
                    fs::remove_file(&p).map_err(Into::into)
                };
                if let Err(err) = r {
                    eprintln!("[images] warning: cannot prune {}: {err:#}", p.display());
                }
            }
        }
    }
}

/// Removes a tree that may hold ostree deployments (ostree makes them immutable).
pub fn remove_tree(path: &Path) -> Result<()> {
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    // chattr -i on every directory that has the flag (deployment roots), then again.
    let out = std::process::Command::new("find")
        .arg(path)
        .args(["-xdev", "-type", "d", "-exec", "chattr", "-i", "{}", "+"])
        .output();
    if let Err(e) = out {
        eprintln!("[images] warning: find/chattr: {e}");
    }
    fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_labels_and_boundaries() {
        let k = |parts: &[(&str, &str)]| {
            let mut k = Key::new();
            for (l, v) in parts {
                k.add_str(l, v);
            }
            k.hex()
        };
        assert_eq!(k(&[("a", "1")]), k(&[("a", "1")]));
        assert_ne!(k(&[("a", "1")]), k(&[("b", "1")]));
        assert_ne!(k(&[("a", "12"), ("b", "")]), k(&[("a", "1"), ("b", "2")]));
        assert_eq!(k(&[]).len(), 64);
    }

    #[test]
    fn tree_keys_see_contents_modes_and_names() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc/x")).unwrap();
        fs::write(d.path().join("etc/x/a"), "1").unwrap();
        let key = || Key::new().add_tree("t", d.path()).unwrap().hex();
        let k1 = key();
        assert_eq!(k1, key());
        fs::write(d.path().join("etc/x/a"), "2").unwrap();
        let k2 = key();
        assert_ne!(k1, k2);
        fs::set_permissions(d.path().join("etc/x/a"), fs::Permissions::from_mode(0o600)).unwrap();
        let k3 = key();
        assert_ne!(k2, k3);
        fs::write(d.path().join("etc/b"), "").unwrap();
        assert_ne!(k3, key());
    }

    #[test]
    fn step_runs_once_then_is_cached() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path().to_path_buf());
        let mut runs = 0;
        let (v, o) = c
            .step("s", "k1", |w| {
                runs += 1;
                fs::write(w.join("f"), "x")?;
                Ok(7u32)
            })
            .unwrap();
        assert_eq!((v, o), (7, Outcome::Built));
        let (v, o) = c
            .step("s", "k1", |_| -> Result<u32> { panic!("must not run") })
            .unwrap();
        assert_eq!((v, o), (7, Outcome::Cached));
        assert_eq!(runs, 1);
        // A failed step leaves no result; a new key prunes the old one.
        assert!(c
            .step("s", "k2", |_| -> Result<u32> { anyhow::bail!("boom") })
            .is_err());
        assert!(c.lookup::<u32>("s", "k2").is_none());
        c.step("s", "k3", |_| Ok(1u32)).unwrap();
        assert!(c.lookup::<u32>("s", "k1").is_none());
        assert!(!d.path().join("s/k1").exists());
        assert_eq!(c.lookup::<u32>("s", "k3"), Some(1));
    }
}
