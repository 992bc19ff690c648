//! Tokens: random secrets, their hashes, and the pools' bootstrap tokens.
//!
//! A token is 32 random bytes from the kernel (`getrandom` through ring),
//! written as 64 lowercase hex digits. Node tokens are stored only as their
//! SHA-256 ([`hash`]); bootstrap tokens must be served in the pool's config,
//! so the state directory keeps them as they are, in
//! `bootstrap-tokens.json` (mode 0600): `{"version":1,"pools":{"worker":"<token>"}}`.
//! One token per pool, created when the pool is first rendered;
//! `mcs token rotate` replaces it. A running server notices the change by
//! the file's size, modification time and inode ([`BootstrapTokens::refresh`]).
//!
//! Both writers (`mcs serve` creating the token of a new pool, `mcs token
//! rotate`) change the file under an exclusive `flock` of
//! `bootstrap-tokens.lock` in the state directory, re-reading it under the lock
//! first: neither loses the other's change.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::state::atomic_write;

pub const BOOTSTRAP_TOKENS_FILE: &str = "bootstrap-tokens.json";
/// Locked (`flock`, exclusive) while the tokens file is read, changed and written.
pub const BOOTSTRAP_TOKENS_LOCK: &str = "bootstrap-tokens.lock";

/// An exclusive `flock` on a lock file, released when dropped (the descriptor closes).
struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> anyhow::Result<FileLock> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        loop {
            // SAFETY: a valid open descriptor.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
}

/// A new random token (64 hex digits).
pub fn generate() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the kernel's random number generator works");
    hex(&bytes)
}

/// The SHA-256 of a token, as hex: what the state directory keeps of node tokens.
pub fn hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Compares two hashes without an early exit.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TokensFile {
    version: u32,
    pools: BTreeMap<String, String>,
}

/// The bootstrap tokens of a state directory, as last read.
#[derive(Debug)]
pub struct BootstrapTokens {
    path: PathBuf,
    lock_path: PathBuf,
    pools: BTreeMap<String, String>,
    /// (size, mtime ns, inode) when last read.
    stamp: Option<(u64, i128, u64)>,
}

impl BootstrapTokens {
    /// Reads the file of `state_dir` (none yet: no tokens).
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        let mut t = BootstrapTokens {
            path: state_dir.join(BOOTSTRAP_TOKENS_FILE),
            lock_path: state_dir.join(BOOTSTRAP_TOKENS_LOCK),
            pools: BTreeMap::new(),
            stamp: None,
        };
        t.reload()?;
        Ok(t)
    }

    fn file_stamp(&self) -> Option<(u64, i128, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        let ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
        Some((m.size(), ns, m.ino()))
    }

    fn reload(&mut self) -> anyhow::Result<()> {
        self.stamp = self.file_stamp();
        self.pools = match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let f: TokensFile = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a tokens file", self.path.display()))?;
                f.pools
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        Ok(())
    }

    /// Re-reads the file when it changed on disk (another process rotated a
    /// token). Returns whether the tokens changed.
    pub fn refresh(&mut self) -> bool {
        if self.file_stamp() == self.stamp {
            return false;
        }
        let before = self.pools.clone();
        if let Err(e) = self.reload() {
            tracing::error!("keeping the previous bootstrap tokens: {e:#}");
            return false;
        }
        before != self.pools
    }

    pub fn get(&self, pool: &str) -> Option<&str> {
        self.pools.get(pool).map(String::as_str)
    }

    /// The pool whose bootstrap token is `token`, if `token` is `pool`'s.
    pub fn check(&self, pool: &str, token: &str) -> bool {
        self.get(pool)
            .is_some_and(|t| same_hash(&hash(t), &hash(token)))
    }

    /// Runs `change` on the tokens as they are on disk, under the lock.
    fn locked<R>(
        &mut self,
        change: impl FnOnce(&mut Self) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let _lock = FileLock::acquire(&self.lock_path)?;
        self.reload()?;
        change(self)
    }

    /// Creates a token for each pool that has none. Returns whether it wrote.
    pub fn ensure(&mut self, pools: &[&str]) -> anyhow::Result<bool> {
        self.refresh();
        if pools.iter().all(|p| self.pools.contains_key(*p)) {
            return Ok(false);
        }
        self.locked(|t| t.ensure_locked(pools))
    }

    fn ensure_locked(&mut self, pools: &[&str]) -> anyhow::Result<bool> {
        let missing: Vec<&str> = pools
            .iter()
            .copied()
            .filter(|p| !self.pools.contains_key(*p))
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        for p in &missing {
            self.pools.insert(p.to_string(), generate());
            tracing::info!(pool = %p, "created the pool's bootstrap token");
        }
        self.write()?;
        Ok(true)
    }

    /// Replaces `pool`'s token with a new one; returns it.
    pub fn rotate(&mut self, pool: &str) -> anyhow::Result<String> {
        self.locked(|tokens| {
            let t = generate();
            tokens.pools.insert(pool.to_string(), t.clone());
            tokens.write()?;
            Ok(t)
        })
    }

    fn write(&mut self) -> anyhow::Result<()> {
        let f = TokensFile {
            version: 1,
            pools: self.pools.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&f)?;
        json.push(b'\n');
        atomic_write(&self.path, &json, 0o600)?;
        self.stamp = self.file_stamp();
        Ok(())
    }
}

/// `mcs token rotate --state-dir S --pool P`.
pub fn rotate_cmd(state_dir: &Path, pool: &str) -> anyhow::Result<()> {
    if !machine_config::node_api::valid_name(pool) {
        anyhow::bail!("invalid pool name {pool:?}");
    }
    if !state_dir.is_dir() {
        anyhow::bail!(
            "{} is not a state directory (has `mcs serve` run?)",
            state_dir.display()
        );
    }
    let mut t = BootstrapTokens::open(state_dir)?;
    let had = t.get(pool).is_some();
    t.rotate(pool)?;
    eprintln!(
        "{} the bootstrap token of pool {pool:?}; new machines get it with the pool's config, \
         registered nodes keep their node tokens",
        if had { "rotated" } else { "created" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(same_hash(&hash(&a), &hash(&a)));
        assert!(!same_hash(&hash(&a), &hash(&b)));
    }

    #[test]
    fn ensure_rotate_refresh() {
        let d = tempfile::tempdir().unwrap();
        let mut t = BootstrapTokens::open(d.path()).unwrap();
        assert!(t.ensure(&["worker", "master"]).unwrap());
        assert!(!t.ensure(&["worker"]).unwrap());
        let mode = std::fs::metadata(d.path().join(BOOTSTRAP_TOKENS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let w = t.get("worker").unwrap().to_string();
        assert!(t.check("worker", &w));
        assert!(!t.check("master", &w));

        // Another process rotates: this one notices.
        let mut other = BootstrapTokens::open(d.path()).unwrap();
        let new = other.rotate("worker").unwrap();
        assert!(t.refresh());
        assert!(t.check("worker", &new));
        assert!(!t.check("worker", &w));
        assert!(!t.refresh());
    }

    /// Servers creating tokens for new pools and `token rotate`s at the same time, each with
    /// its own view of the file (as separate processes have): no change is lost.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        BootstrapTokens::open(&dir)
            .unwrap()
            .ensure(&["worker"])
            .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut t = BootstrapTokens::open(&dir).unwrap();
                    let mut rotated = Vec::new();
                    for j in 0..10 {
                        let pool = format!("pool-{i}-{j}");
                        assert!(t.ensure(&[pool.as_str()]).unwrap());
                        rotated.push((pool.clone(), t.rotate(&pool).unwrap()));
                    }
                    rotated
                })
            })
            .collect();
        let mut want = Vec::new();
        for th in threads {
            want.extend(th.join().unwrap());
        }
        let t = BootstrapTokens::open(&dir).unwrap();
        assert!(t.get("worker").is_some());
        for (pool, token) in want {
            assert_eq!(t.get(&pool), Some(token.as_str()), "{pool} lost");
        }
        assert!(dir.join(BOOTSTRAP_TOKENS_LOCK).exists());
    }
}
