//! The directory source: the admin's YAML files, polled for changes, read
//! with the last good version of each file.
//!
//! Files are those `machine_config::load_dir` reads: `*.yaml` and `*.yml`,
//! not hidden, not in subdirectories, in name order.
//!
//! Changes are found by polling (see [`DirSource::changed`]): every poll lists
//! the directory and compares each file's size, modification time (ns) and
//! inode with the previous poll. Polling a small directory costs a few
//! syscalls, works the same on every filesystem (NFS, bind mounts, a git
//! checkout replaced by `git pull`, editors that save by rename) and has no
//! watch limits to run out of.
//!
//! A file that does not load cleanly (any of its documents refused) is
//! replaced by its last good text, if the server saw one: a typo in an edit
//! keeps the objects the file defined before the edit, as the Kubernetes API
//! server keeps an object when an update to it is refused. Without a last good
//! text (a new file, or one broken since the server started) its good
//! documents are taken and the others left out. Either way the errors are
//! reported, for the file as it is now.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use machine_config::{load_texts, InputError, Inputs};

/// What identifies a version of a file between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// A directory of YAML, with the last good text of each file.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    stamps: BTreeMap<PathBuf, Stamp>,
    /// False until the first poll (so the first poll reports a change).
    listed: bool,
    last_good: HashMap<PathBuf, String>,
}

/// The result of a load.
#[derive(Debug, Clone, Default)]
pub struct Load {
    pub inputs: Inputs,
    /// Errors of the files as they are now.
    pub errors: Vec<InputError>,
    /// Files replaced by their last good text.
    pub kept_last_good: Vec<PathBuf>,
}

impl DirSource {
    pub fn new(dir: &Path) -> Self {
        DirSource {
            dir: dir.to_path_buf(),
            stamps: BTreeMap::new(),
            listed: false,
            last_good: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether any file was added, removed or changed since the last call
    /// (the first call: true). A directory that cannot be read counts as empty.
    pub fn changed(&mut self) -> bool {
        let stamps = self.list();
        let changed = !self.listed || stamps != self.stamps;
        self.listed = true;
        self.stamps = stamps;
        changed
    }

    fn list(&self) -> BTreeMap<PathBuf, Stamp> {
        use std::os::unix::fs::MetadataExt;
        let mut out = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in entries.flatten() {
            let path = e.path();
            if !is_input_file(&path) {
                continue;
            }
            // Follows symlinks, as load_dir does.
            if let Ok(m) = std::fs::metadata(&path) {
                if m.is_file() {
                    let stamp = Stamp {
                        len: m.len(),
                        modified: m.modified().ok(),
                        inode: m.ino(),
                    };
                    out.insert(path, stamp);
                }
            }
        }
        out
    }

    /// Reads and loads every file (see the module docs).
    pub fn load(&mut self) -> Load {
        let mut errors = Vec::new();
        let mut texts: Vec<(PathBuf, String)> = Vec::new();
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_input_file(p) && p.is_file())
                .collect(),
            Err(e) => {
                errors.push(InputError {
                    file: self.dir.clone(),
                    document: 0,
                    message: format!("cannot read directory: {e}"),
                });
                Vec::new()
            }
        };
        paths.sort();
        let mut unreadable = HashSet::new();
        for p in paths {
            match std::fs::read_to_string(&p) {
                Ok(t) => texts.push((p, t)),
                Err(e) => {
                    errors.push(InputError {
                        file: p.clone(),
                        document: 0,
                        message: format!("cannot read file: {e}"),
                    });
                    unreadable.insert(p);
                }
            }
        }
        let first = load_texts(texts.clone());
        let bad: HashSet<&PathBuf> = first.errors.iter().map(|e| &e.file).collect();
        let present: HashSet<PathBuf> = texts.iter().map(|(p, _)| p.clone()).collect();

        // Substitute the last good text of bad (or unreadable) files.
        let mut kept = Vec::new();
        let mut substituted = Vec::new();
        for (p, t) in &texts {
            if bad.contains(p) {
                if let Some(good) = self.last_good.get(p) {
                    kept.push(p.clone());
                    substituted.push((p.clone(), good.clone()));
                    continue;
                }
            }
            substituted.push((p.clone(), t.clone()));
        }
        for p in &unreadable {
            if let Some(good) = self.last_good.get(p) {
                kept.push(p.clone());
                substituted.push((p.clone(), good.clone()));
            }
        }
        substituted.sort_by(|a, b| a.0.cmp(&b.0));
        let inputs = if kept.is_empty() {
            first.inputs.clone()
        } else {
            let second = load_texts(substituted);
            // A last good text that no longer fits (say, a duplicate of a
            // name now defined elsewhere) is reported too.
            for e in second.errors {
                if kept.contains(&e.file) && !first.errors.contains(&e) {
                    errors.push(InputError {
                        message: format!("{} (in its last good version)", e.message),
                        ..e
                    });
                }
            }
            second.inputs
        };

        // Remember the good files; forget deleted ones.
        for (p, t) in texts {
            if !bad.contains(&p) {
                self.last_good.insert(p, t);
            }
        }
        self.last_good
            .retain(|p, _| present.contains(p) || unreadable.contains(p));
        errors.extend(first.errors);
        Load {
            inputs,
            errors,
            kept_last_good: kept,
        }
    }
}

/// `*.yaml`/`*.yml`, not hidden.
fn is_input_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mc(name: &str, karg: &str) -> String {
        format!(
            "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\n\
             metadata:\n  name: {name}\n  labels:\n    machineconfiguration.openshift.io/role: worker\n\
             spec:\n  kernelArguments: [{karg}]\n"
        )
    }

    fn kargs(l: &Load) -> Vec<String> {
        let r = machine_config::render_pool(&l.inputs, "worker").unwrap();
        r.machine_config.spec.kernel_arguments
    }

    #[test]
    fn bad_edit_keeps_the_last_good_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.yaml");
        std::fs::write(&f, mc("50-a", "one")).unwrap();
        std::fs::write(d.path().join(".hidden.yaml"), "not: [valid").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        let mut s = DirSource::new(d.path());
        assert!(s.changed());
        assert!(!s.changed());
        let l = s.load();
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(kargs(&l), ["one"]);

        std::fs::write(&f, mc("50-a", "two") + "  bogusField: 1\n").unwrap();
        assert!(s.changed());
        let l = s.load();
        assert_eq!(l.errors.len(), 1, "{:?}", l.errors);
        assert_eq!(l.errors[0].file, f);
        assert_eq!(l.kept_last_good, std::slice::from_ref(&f));
        assert_eq!(kargs(&l), ["one"]);

        std::fs::write(&f, mc("50-a", "three")).unwrap();
        let l = s.load();
        assert!(l.errors.is_empty());
        assert_eq!(kargs(&l), ["three"]);

        // A new broken file has no last good version: its good documents count.
        let g = d.path().join("b.yml");
        std::fs::write(&g, format!("{}---\nkind: Nope\n", mc("50-b", "four"))).unwrap();
        let l = s.load();
        assert_eq!(l.errors.len(), 1);
        assert!(l.kept_last_good.is_empty());
        assert_eq!(kargs(&l), ["three", "four"]);

        // Deleting a file removes its objects.
        std::fs::remove_file(&f).unwrap();
        assert!(s.changed());
        let l = s.load();
        assert_eq!(kargs(&l), ["four"]);
    }
}
