//! A scenario's temporary directory: removed on drop unless kept (`--keep`, or a failure), and
//! on an interrupt (SIGINT, SIGTERM) once [`remove_on_interrupt`] is installed, unless kept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// The directories an interrupt removes: every live one not kept.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The write end of the pipe the signal handler reports on (-1: not installed).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

fn forget(path: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| p != path);
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the buffer is one byte on this stack frame.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// On SIGINT or SIGTERM: removes the scenario directories that are not kept, says so on
/// stderr, and exits with 128 + the signal. QEMU and mcs die with vm-tests (their parent-death
/// signal), and the terminal's Ctrl-C reaches them too. The handler only writes the signal to
/// a pipe; a thread does the rest.
pub fn remove_on_interrupt() -> Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating the signal pipe");
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    let reader = fds[0];
    std::thread::spawn(move || {
        let mut byte = 0u8;
        // SAFETY: reads one byte into a local.
        let n = unsafe { libc::read(reader, (&mut byte as *mut u8).cast(), 1) };
        let sig = if n == 1 {
            i32::from(byte)
        } else {
            libc::SIGTERM
        };
        let dirs = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
        for d in dirs {
            eprintln!("vm-tests: interrupted; removing {}", d.display());
            if let Err(e) = std::fs::remove_dir_all(&d) {
                eprintln!("vm-tests: removing {}: {e}", d.display());
            }
        }
        std::process::exit(128 + sig);
    });
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a plain handler; on_signal is async-signal-safe.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    Ok(())
}

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
        if !keep {
            if let Ok(mut live) = LIVE.lock() {
                live.push(path.clone());
            }
        }
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
        forget(&self.path);
        &self.path
    }

    pub fn kept(&self) -> bool {
        self.keep
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        forget(&self.path);
        if let Some(d) = self.dir.take() {
            if self.keep {
                let _ = d.keep();
            }
        }
    }
}
