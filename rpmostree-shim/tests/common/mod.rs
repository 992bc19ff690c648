//! Test fixtures: temporary sysroots and repos built with the `ostree` CLI (also the oracle),
//! a tiny static HTTP server, and helpers to run our binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_rpm-ostree");
pub const OS: &str = "debian";

/// Returns a reason to skip when the environment cannot run sysroot tests.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "needs root (deployments set the immutable flag and own files as root)".into(),
        );
    }
    if Command::new("ostree").arg("--version").output().is_err() {
        return Some("the `ostree` CLI is missing (scripts/install-deps installs it)".into());
    }
    None
}

/// Skips the calling test with a printed reason when it cannot run here.
#[macro_export]
macro_rules! require_env {
    () => {
        if let Some(reason) = common::skip_reason() {
            eprintln!("SKIP {}: {}", module_path!(), reason);
            return;
        }
    };
}

/// Runs a command, panics with its stderr on failure, returns stdout.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ostree(args: &[&str]) -> String {
    sh(Command::new("ostree").args(args))
}

/// A temporary sysroot with one stateroot; removed (immutable flags cleared first) on drop.
pub struct TempSysroot {
    dir: tempfile::TempDir,
    /// `/run` of the booted system ([`TempSysroot::shim_booted`]); kept between commands, as a
    /// staged deployment lives there until the next boot.
    run: tempfile::TempDir,
}

impl TempSysroot {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rpmostree-shim-")
            .tempdir()
            .expect("tempdir");
        let run = tempfile::Builder::new()
            .prefix("rpmostree-shim-run-")
            .tempdir()
            .expect("tempdir");
        let me = TempSysroot { dir, run };
        let p = me.path_str();
        ostree(&["admin", "init-fs", "--modern", &p]);
        ostree(&["admin", "os-init", &format!("--sysroot={p}"), OS]);
        me
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn repo(&self) -> String {
        format!("{}/ostree/repo", self.path_str())
    }

    /// Commits a bootable tree to `branch` of the sysroot repo.
    pub fn commit(&self, branch: &str, version: &str, extra: &[(&str, &str)]) -> String {
        commit_tree(&self.repo(), branch, version, extra)
    }

    /// Commits a tree that can also be entered as a booted root ([`TempSysroot::shim_booted`]).
    pub fn commit_os(&self, branch: &str, version: &str, extra: &[(&str, &str)]) -> String {
        commit_tree_with(&self.repo(), branch, version, extra, true)
    }

    /// Creates the first deployment with `ostree admin deploy` (the fixture builder).
    pub fn admin_deploy(&self, refspec: &str, kargs: &[&str]) {
        let mut args = vec![
            "admin".to_string(),
            "deploy".into(),
            format!("--sysroot={}", self.path_str()),
            format!("--os={OS}"),
        ];
        args.extend(kargs.iter().map(|k| format!("--karg-append={k}")));
        args.push(refspec.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ostree(&args);
    }

    /// Runs our binary against this sysroot.
    pub fn shim(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg(format!("--sysroot={}", self.path_str()))
            .args(args)
            .output()
            .expect("run rpm-ostree")
    }

    /// Runs our binary as on a node booted into deployment `index` of this sysroot (boot order
    /// of the written deployments; a staged one, which lives in `/run`, is not counted): in new
    /// mount and PID namespaces, chrooted into that deployment (committed with
    /// [`TempSysroot::commit_os`]) with the sysroot on `/sysroot`, its `boot` on `/boot`,
    /// `/run/ostree-booted` present (`/run` kept for the life of this value) and the host's
    /// `/usr` over the deployment's (the binary's libraries). libostree then recognises the
    /// booted deployment as on a real node: the root's device and inode are the deployment
    /// directory's.
    pub fn shim_booted(&self, index: usize, args: &[&str]) -> Output {
        let st = self.status_json();
        let d = &st["deployments"][index];
        let dir = self.path().join(format!(
            "ostree/deploy/{}/deploy/{}.{}",
            d["osname"].as_str().unwrap(),
            d["checksum"].as_str().unwrap(),
            d["serial"]
        ));
        const BOOT: &str = r#"set -e
D=$1; S=$2; RUN=$3; BIN=$4; shift 4
mount --make-rprivate /
mount --bind "$D" "$D"
mount --bind "$S" "$D/sysroot"
mount --bind "$S/boot" "$D/boot"
mount --rbind /usr "$D/usr"
mount --rbind /dev "$D/dev"
mount -t proc proc "$D/proc"
mount --bind "$RUN" "$D/run"
touch "$D/run/ostree-booted" "$D/run/rpm-ostree"
mount --bind "$BIN" "$D/run/rpm-ostree"
exec chroot "$D" /run/rpm-ostree "$@""#;
        Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "sh", "-c", BOOT, "sh"])
            .arg(&dir)
            .arg(self.path())
            .arg(self.run.path())
            .arg(BIN)
            .args(args)
            .output()
            .expect("run rpm-ostree in a booted deployment")
    }

    /// Runs our binary and requires success; returns stdout.
    pub fn shim_ok(&self, args: &[&str]) -> String {
        let out = self.shim(args);
        assert!(
            out.status.success(),
            "rpm-ostree {args:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.shim_ok(&["status", "--json"])).expect("status JSON")
    }

    /// The `options` lines of the BLS entries, in boot order (entry with the highest version first).
    pub fn bls_options(&self) -> Vec<String> {
        let dir = self.path().join("boot/loader/entries");
        let mut entries: Vec<(u32, String)> = std::fs::read_dir(&dir)
            .expect("entries dir")
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .map(|text| {
                let field = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                        .unwrap_or_default()
                };
                (field("version ").parse().unwrap_or(0), field("options "))
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        entries.into_iter().map(|(_, o)| o).collect()
    }

    /// `ostree admin status` must list the same deployments, in the same order, with the same
    /// checksum, serial, pinned/staged flags and origin refspec as our JSON.
    pub fn assert_agrees_with_ostree(&self) {
        let ours: Vec<(String, String, i64, bool, String)> = self.status_json()["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["osname"].as_str().unwrap().to_string(),
                    d["checksum"].as_str().unwrap().to_string(),
                    d["serial"].as_i64().unwrap(),
                    d["pinned"].as_bool().unwrap(),
                    d["origin"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let text = ostree(&["admin", "status", &format!("--sysroot={}", self.path_str())]);
        let mut theirs: Vec<(String, String, i64, bool, String)> = Vec::new();
        for line in text.lines() {
            let t = line.trim_start();
            if !line.starts_with("    ") && !t.is_empty() && t != "No deployments." {
                let t = t.trim_start_matches("* ");
                let mut it = t.split_whitespace();
                let os = it.next().unwrap().to_string();
                let (csum, serial) = it.next().unwrap().split_once('.').unwrap();
                theirs.push((
                    os,
                    csum.into(),
                    serial.parse().unwrap(),
                    false,
                    String::new(),
                ));
            } else if t == "Pinned: yes" {
                theirs.last_mut().unwrap().3 = true;
            } else if let Some(r) = t.strip_prefix("origin refspec: ") {
                theirs.last_mut().unwrap().4 = r.to_string();
            }
        }
        assert_eq!(ours, theirs, "ours vs ostree admin status:\n{text}");
    }
}

impl Drop for TempSysroot {
    fn drop(&mut self) {
        // Deployment roots carry the immutable flag; clear it so the directory can be removed.
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(self.path().join("ostree/deploy"))
            .output();
    }
}

/// Commits a small bootable tree (kernel and initramfs under /usr/lib/modules/6.1.0) to `repo`.
/// `extra` adds files (path relative to the root, content), e.g. to make commits differ.
pub fn commit_tree(repo: &str, branch: &str, version: &str, extra: &[(&str, &str)]) -> String {
    commit_tree_with(repo, branch, version, extra, false)
}

/// [`commit_tree`]; with `os_layout`, also the mount points and links of a booted root
/// (`sysroot`, `boot`, `dev`, `proc`, `run`, `var`, `ostree -> sysroot/ostree`, the merged-/usr
/// links).
pub fn commit_tree_with(
    repo: &str,
    branch: &str,
    version: &str,
    extra: &[(&str, &str)],
    os_layout: bool,
) -> String {
    let tree = tempfile::tempdir().expect("tree dir");
    let t = tree.path();
    if os_layout {
        for d in ["sysroot", "boot", "dev", "proc", "run", "var", "tmp"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        for (link, target) in [
            ("ostree", "sysroot/ostree"),
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
        ] {
            std::os::unix::fs::symlink(target, t.join(link)).unwrap();
        }
    }
    let files: Vec<(String, String)> = [
        ("usr/lib/modules/6.1.0/vmlinuz", "kernel 6.1.0"),
        ("usr/lib/modules/6.1.0/initramfs.img", "initramfs 6.1.0"),
        (
            "usr/lib/os-release",
            "ID=debian\nNAME=\"Debian\"\nVERSION_ID=12\n",
        ),
        (
            "usr/etc/os-release",
            "ID=debian\nNAME=\"Debian\"\nVERSION_ID=12\n",
        ),
        ("usr/etc/motd", "welcome\n"),
        ("usr/share/mooring/version", version),
    ]
    .iter()
    .chain(extra.iter())
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for (path, content) in files {
        let p = t.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    ostree(&[
        "commit",
        &format!("--repo={repo}"),
        &format!("--branch={branch}"),
        &format!("--add-metadata-string=version={version}"),
        &format!("--subject={version}"),
        &format!("--tree=dir={}", t.display()),
    ])
    .trim()
    .to_string()
}

/// A std-only static file server for an archive repo, bound to 127.0.0.1:0; the thread lives
/// as long as the test process.
pub struct StaticServer {
    pub url: String,
}

impl StaticServer {
    pub fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &root);
                });
            }
        });
        StaticServer { url }
    }
}

fn serve(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        // Skip headers.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("/").split('?').next().unwrap_or("/");
        let file = (!path.contains(".."))
            .then(|| root.join(path.trim_start_matches('/')))
            .filter(|p| p.is_file());
        match file {
            Some(p) => {
                let body = std::fs::read(p)?;
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    body.len()
                )?;
                if method != "HEAD" {
                    stream.write_all(&body)?;
                }
            }
            None => {
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            }
        }
        stream.flush()?;
    }
}

/// An archive repo in a temp dir, served over HTTP.
pub struct ServedRepo {
    pub dir: tempfile::TempDir,
    pub server: StaticServer,
}

impl ServedRepo {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rpmostree-shim-srv-")
            .tempdir()
            .unwrap();
        ostree(&[
            "init",
            "--mode=archive",
            &format!("--repo={}", dir.path().display()),
        ]);
        let server = StaticServer::start(dir.path().to_path_buf());
        ServedRepo { dir, server }
    }

    pub fn repo(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn commit(&self, branch: &str, version: &str, extra: &[(&str, &str)]) -> String {
        let c = commit_tree(&self.repo(), branch, version, extra);
        ostree(&["summary", "-u", &format!("--repo={}", self.repo())]);
        c
    }

    /// Adds this server as remote `name` of the sysroot's repo (no GPG: test content).
    pub fn add_remote_to(&self, sys: &TempSysroot, name: &str) {
        ostree(&[
            "remote",
            "add",
            &format!("--repo={}", sys.repo()),
            "--no-gpg-verify",
            name,
            &self.server.url,
        ]);
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
