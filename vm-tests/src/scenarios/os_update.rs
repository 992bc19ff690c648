//! Scenario 4, OS update: after joining, a new ostree commit (the image's commit plus one
//! file, committed on the host into a copy of the image's archive repo and served over HTTP at
//! the image's remote, `http://10.0.2.2:8080/repo`) becomes the pool's `osImageURL`; the node
//! takes a slot, stages it, reboots once, runs the new commit and is Done with its slot
//! released. Then a kernel argument, applied as a second update (mcd refuses a move that
//! changes both at once, see docs/mcd.md), lands on the command line after one more reboot.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::fleet::{daemon_log, join_fleet, mc, wait_rerender, POOL};
use crate::cmd;
use crate::ctx::Ctx;
use crate::machine::Machine;
use crate::mcs_host::McsHost;

const NEXT_REF: &str = "mooring/x86_64/next";
const MARKER: &str = "/usr/share/mooring-vm-tests/next";
const KARG: &str = "mooring.vmtest=1";
/// Slot, stage, reboot (shutdown included), verify.
const UPDATE: Duration = Duration::from_secs(900);

pub(super) struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A copy of the image's repo (hard links: ostree never rewrites an object) in `www/repo`,
/// to be served at the image's remote; returns its path.
pub(super) fn copy_repo(ctx: &Ctx, www: &Path) -> Result<PathBuf> {
    let image = ctx.image()?;
    let src = image.repo();
    ensure!(
        src.join("config").is_file(),
        "{}: no ostree repo in the image directory",
        src.display()
    );
    std::fs::create_dir_all(www)?;
    let repo = www.join("repo");
    cmd::run(Command::new("cp").arg("-al").arg(&src).arg(&repo))?;
    Ok(repo)
}

/// Commits the image's commit plus the tree `extra` to `branch` of `repo` with `version`,
/// updates the summary; returns the commit.
pub(super) fn commit_on_image(
    ctx: &Ctx,
    repo: &Path,
    branch: &str,
    extra: &Path,
    version: &str,
) -> Result<String> {
    let image = ctx.image()?;
    let out = cmd::stdout(
        Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(["commit", "--branch", branch, "--subject", "vm-tests"])
            .arg(format!("--tree=ref={}", image.info.ostree_ref))
            .arg(format!("--tree=dir={}", extra.display()))
            .arg(format!("--add-metadata-string=version={version}"))
            .args(["--owner-uid=0", "--owner-gid=0"]),
    )?;
    cmd::run(
        Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(["summary", "-u"]),
    )?;
    Ok(out.trim().to_string())
}

/// The image's commit plus [`MARKER`] on [`NEXT_REF`]; returns the commit.
fn make_next_commit(ctx: &Ctx, www: &Path) -> Result<String> {
    let repo = copy_repo(ctx, www)?;
    let extra = ctx.work.join("next-tree");
    let file = extra.join(MARKER.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().context("marker path")?)?;
    std::fs::write(&file, "next\n")?;
    commit_on_image(ctx, &repo, NEXT_REF, &extra, "vm-tests-next")
}

/// `python3 -m http.server` on port 8080 (the image's remote is `http://10.0.2.2:8080/repo`).
pub(super) fn serve(www: &Path) -> Result<Served> {
    let mut c = Command::new("python3");
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = c
        .args([
            "-m",
            "http.server",
            "8080",
            "--bind",
            "0.0.0.0",
            "--directory",
        ])
        .arg(www)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting python3 -m http.server 8080")?;
    let s = Served(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", 8080)).is_err() {
        if start.elapsed() > Duration::from_secs(20) {
            bail!("the HTTP server for the repo did not listen on 8080 (port in use?)");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(s)
}

/// Waits until the pool's node is Done at `config` with its slot released; the daemon's log in
/// the error otherwise.
fn done_and_released(mcs: &McsHost, m: &mut Machine, config: &str) -> Result<()> {
    let node = match mcs.wait_node_done(POOL, Some(config), UPDATE) {
        Ok(n) => n,
        Err(e) => bail!("{e:#}\nin the guest:\n{}", daemon_log(m)),
    };
    ensure!(
        node["holdsSlot"] == false,
        "the slot was not released: {node}"
    );
    Ok(())
}

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let www = ctx.work.join("www");
    let next = make_next_commit(ctx, &www)?;
    let _http = serve(&www)?;
    let (mcs, mut m, node) = join_fleet(ctx)?;
    let first = node["currentConfig"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let boot0 = m.boot_id()?;

    mcs.write_input(
        "70-worker-os.yaml",
        &format!(
            "{}  osImageURL: \"mooring:{NEXT_REF}\"\n",
            mc("70-worker-os", "")
        ),
    )?;
    let second = wait_rerender(&mcs, &first)?;
    done_and_released(&mcs, &mut m, &second)?;
    m.wait_agent(Duration::from_secs(300))?;
    let boot1 = m.boot_id()?;
    ensure!(boot1 != boot0, "the node did not reboot for the OS update");
    let status = m.run("rpm-ostree status --json")?;
    ensure!(
        status.contains(&next),
        "the new commit {next} is not deployed: {status}"
    );
    let marker = m.run(&format!("cat {MARKER}"))?;
    ensure!(
        marker == "next\n",
        "{MARKER} holds {marker:?}: not running the new commit"
    );

    mcs.write_input(
        "71-worker-karg.yaml",
        &mc("71-worker-karg", "").replacen(
            "spec:\n",
            &format!("spec:\n  kernelArguments: [\"{KARG}\"]\n"),
            1,
        ),
    )?;
    let third = wait_rerender(&mcs, &second)?;
    done_and_released(&mcs, &mut m, &third)?;
    m.wait_agent(Duration::from_secs(300))?;
    let cmdline = m.run("cat /proc/cmdline")?;
    ensure!(
        cmdline.split_whitespace().any(|a| a == KARG),
        "{KARG} is not on the command line: {cmdline}"
    );
    let marker = m.run(&format!("cat {MARKER}"))?;
    ensure!(
        marker == "next\n",
        "the new commit went away with the kernel argument change"
    );
    Ok(())
}
