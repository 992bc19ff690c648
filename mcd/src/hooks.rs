//! Test hooks, read from the environment once: `MCD_FAIL_AT=<step>` makes that apply step fail
//! (the apply must roll back); `MCD_CRASH_AT=<n>` kills the process with SIGKILL at the n-th
//! crash point of an apply (1-based), as `kill -9` would. Both do nothing when unset.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Result};

static POINTS: AtomicU64 = AtomicU64::new(0);

fn crash_at() -> Option<u64> {
    static V: OnceLock<Option<u64>> = OnceLock::new();
    *V.get_or_init(|| {
        std::env::var("MCD_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

fn fail_at() -> Option<&'static str> {
    static V: OnceLock<Option<String>> = OnceLock::new();
    V.get_or_init(|| std::env::var("MCD_FAIL_AT").ok())
        .as_deref()
}

/// A point where a crash must leave a recoverable state.
pub fn point() {
    let n = POINTS.fetch_add(1, Ordering::SeqCst) + 1;
    if crash_at() == Some(n) {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// How many crash points this process passed (printed with `MCD_COUNT_POINTS=1`).
pub fn points() -> u64 {
    POINTS.load(Ordering::SeqCst)
}

/// Fails when `MCD_FAIL_AT` names `step`.
pub fn fail(step: &str) -> Result<()> {
    if fail_at() == Some(step) {
        bail!("injected failure at step {step} (MCD_FAIL_AT)");
    }
    Ok(())
}
