//! OS image and kernel-argument changes against a real ostree sysroot, through our `rpm-ostree`.
//!
//! How the test finds our `rpm-ostree`: Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of
//! the package under test, and a dev-dependency builds the library of `rpmostree-shim`, not its
//! binary (artifact dependencies are unstable), while `target/debug/rpm-ostree` may be missing
//! or stale. So this test has its own `main` (`harness = false`) and *is* the shim as well: run
//! under the name `rpm-ostree` (a symlink to this executable in the temporary directory, given
//! to `mcd` as `$MCD_RPM_OSTREE`), it calls `rpmostree_shim::run`, the code of the real binary,
//! built from the same sources as everything else in this run.
//!
//! Each test builds a sysroot with the `ostree` CLI (`init-fs`, `os-init`, `commit`, `admin
//! deploy`) and uses the deployment as `mcd --root` (the sysroot is derived from it). Root is
//! required (deployments carry the immutable flag); without it, or without the `ostree` CLI, the
//! tests are skipped with a printed reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MCD: &str = env!("CARGO_BIN_EXE_mcd");
const OS: &str = "debian";

fn main() {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if Path::new(&argv0).file_name() == Some("rpm-ostree".as_ref()) {
        let code = match rpmostree_shim::run(std::env::args_os().skip(1)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                rpmostree_shim::exit_code(&e)
            }
        };
        std::process::exit(code);
    }
    // libtest's options that take a value; their values are not filters.
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--skip",
        "--color",
        "--format",
        "-Z",
        "--logfile",
    ];
    let mut filter: Vec<String> = Vec::new();
    let mut skip: Vec<String> = Vec::new();
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--list" {
            list = true;
        } else if a == "--skip" {
            skip.extend(args.next());
        } else if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filter.push(a);
        }
    }
    let tests: &[(&str, fn())] = &[
        ("kargs_change_writes_the_boot_entry", kargs_change),
        ("os_image_change_rebases", os_image_change),
        ("failing_os_step_rolls_back", failing_os_step),
    ];
    let selected: Vec<_> = tests
        .iter()
        .filter(|(n, _)| filter.is_empty() || filter.iter().any(|f| n.contains(f.as_str())))
        .filter(|(n, _)| !skip.iter().any(|f| n.contains(f.as_str())))
        .collect();
    if list {
        for (n, _) in &selected {
            println!("{n}: test");
        }
        return;
    }
    println!("\nrunning {} tests", selected.len());
    if let Some(reason) = skip_reason() {
        for (n, _) in &selected {
            println!("test {n} ... SKIP: {reason}");
        }
        return;
    }
    for (n, f) in &selected {
        println!("test {n} ...");
        f();
        println!("test {n} ... ok");
    }
    println!("\ntest result: ok. {} passed", selected.len());
}

fn skip_reason() -> Option<String> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (ostree deployments carry the immutable flag)".into());
    }
    if Command::new("ostree").arg("--version").output().is_err() {
        return Some("the `ostree` CLI is missing (scripts/install-deps installs it)".into());
    }
    None
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ostree(args: &[&str]) -> String {
    sh(Command::new("ostree").args(args))
}

/// Commits a small bootable tree to `branch` of `repo`; returns the checksum.
fn commit(repo: &Path, branch: &str, version: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    for (p, c) in [
        ("usr/lib/modules/6.1.0/vmlinuz", "kernel"),
        ("usr/lib/modules/6.1.0/initramfs.img", "initramfs"),
        ("usr/lib/os-release", "ID=debian\n"),
        ("usr/etc/os-release", "ID=debian\n"),
        (
            "usr/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\ncore:x:1000:1000::/home/core:/bin/sh\n",
        ),
        ("usr/etc/group", "root:x:0:\ncore:x:1000:\n"),
        ("usr/share/mooring/version", version),
    ] {
        let f = t.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    ostree(&[
        "commit",
        &format!("--repo={}", repo.display()),
        &format!("--branch={branch}"),
        &format!("--add-metadata-string=version={version}"),
        &format!("--tree=dir={}", t.path().display()),
    ])
    .trim()
    .to_string()
}

/// A sysroot with one deployment of `os/a` (kernel argument `console=ttyS0`), a second commit in
/// a `file://` remote `testos` (`testos:os/b`), and the `rpm-ostree` link. Removed on drop.
struct Sysroot {
    dir: tempfile::TempDir,
    a: String,
    b: String,
}

impl Sysroot {
    fn new() -> Sysroot {
        let dir = tempfile::Builder::new()
            .prefix("mcd-ostree-")
            .tempdir()
            .unwrap();
        let s = dir.path().join("sysroot");
        std::fs::create_dir(&s).unwrap();
        let sp = s.display().to_string();
        ostree(&["admin", "init-fs", "--modern", &sp]);
        ostree(&["admin", "os-init", &format!("--sysroot={sp}"), OS]);
        let repo = s.join("ostree/repo");
        let a = commit(&repo, "os/a", "1");
        ostree(&[
            "admin",
            "deploy",
            &format!("--sysroot={sp}"),
            &format!("--os={OS}"),
            "--karg-append=console=ttyS0",
            "os/a",
        ]);
        let remote = dir.path().join("remote");
        std::fs::create_dir(&remote).unwrap();
        ostree(&[
            "init",
            "--mode=archive",
            &format!("--repo={}", remote.display()),
        ]);
        let b = commit(&remote, "os/b", "2");
        ostree(&[
            "remote",
            "add",
            &format!("--repo={}", repo.display()),
            "--no-gpg-verify",
            "testos",
            &format!("file://{}", remote.display()),
        ]);
        std::os::unix::fs::symlink(
            std::env::current_exe().unwrap(),
            dir.path().join("rpm-ostree"),
        )
        .unwrap();
        Sysroot { dir, a, b }
    }

    fn sysroot(&self) -> PathBuf {
        self.dir.path().join("sysroot")
    }

    /// The deployment `CHECKSUM.SERIAL`'s root.
    fn deployment(&self, id: &str) -> PathBuf {
        self.sysroot()
            .join(format!("ostree/deploy/{OS}/deploy/{id}"))
    }

    /// The first deployment's root: where `mcd` runs.
    fn root(&self) -> PathBuf {
        self.deployment(&format!("{}.0", self.a))
    }

    fn config(&self, name: &str, mc: &serde_json::Value) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, mc.to_string()).unwrap();
        p.display().to_string()
    }

    fn mcd(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.mcd_in(&self.root(), args, env)
    }

    /// `mcd --root DEPLOYMENT ...`
    fn mcd_in(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(MCD);
        c.arg("--root")
            .arg(root)
            .args(args)
            .env("MCD_RPM_OSTREE", self.dir.path().join("rpm-ostree"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn mcd_ok(&self, args: &[&str]) -> String {
        let o = self.mcd(args, &[]);
        assert!(
            o.status.success(),
            "mcd {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `(checksum.serial, origin)` of every deployment, in boot order, from our `status --json`.
    fn status(&self) -> Vec<(String, String)> {
        let out = sh(Command::new(self.dir.path().join("rpm-ostree"))
            .arg(format!("--sysroot={}", self.sysroot().display()))
            .args(["status", "--json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    format!("{}.{}", d["checksum"].as_str().unwrap(), d["serial"]),
                    d["origin"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The same from `ostree admin status` (the oracle).
    fn ostree_status(&self) -> Vec<(String, String)> {
        let text = ostree(&[
            "admin",
            "status",
            &format!("--sysroot={}", self.sysroot().display()),
        ]);
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            let t = line.trim_start();
            if !line.starts_with("    ") && !t.is_empty() {
                let id = t
                    .trim_start_matches("* ")
                    .split_whitespace()
                    .nth(1)
                    .unwrap();
                out.push((id.to_string(), String::new()));
            } else if let Some(r) = t.strip_prefix("origin refspec: ") {
                out.last_mut().unwrap().1 = r.to_string();
            }
        }
        out
    }

    /// The `options` line of the default boot entry (the highest `version`), without `ostree=`
    /// (its boot version flips with every write).
    fn default_options(&self) -> String {
        let dir = self.sysroot().join("boot/loader/entries");
        let mut entries: Vec<(u32, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .map(|t| {
                let f = |k: &str| {
                    t.lines()
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                        .unwrap_or_default()
                };
                (f("version ").parse().unwrap_or(0), f("options "))
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let o = entries.remove(0).1;
        assert!(o.contains(" ostree=/ostree/boot."), "{o}");
        o.split(" ostree=").next().unwrap().to_string()
    }

    fn state(&self) -> serde_json::Value {
        self.state_in(&self.root())
    }

    fn state_in(&self, root: &Path) -> serde_json::Value {
        let p = root.join("etc/machine-config-daemon/state.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }
}

impl Drop for Sysroot {
    fn drop(&mut self) {
        // Deployment roots carry the immutable flag; clear it so the directory can go.
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(self.sysroot().join("ostree/deploy"))
            .output();
    }
}

/// Path → contents (or link target) of everything under `dir`, the state file left out.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if rel.ends_with("machine-config-daemon/state.json") {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(base, &p, out);
            } else if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn data(s: &str) -> String {
    let enc: String = s
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("data:,{enc}")
}

fn mc(name: &str, file: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut m = serde_json::json!({
        "apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
        "metadata": {"name": name},
        "spec": {"config": {"ignition": {"version": "3.4.0"}, "storage": {"files": [
            {"path": "/etc/mooring-test.conf", "mode": 420, "contents": {"source": data(file)}}
        ]}}}
    });
    for (k, v) in spec.as_object().unwrap() {
        m["spec"][k] = v.clone();
    }
    m
}

/// Kernel arguments: `rpm-ostree kargs` deploys the same tree with the new arguments; the new
/// default boot entry carries them (the old ones kept, quoting as the kernel reads it), the files
/// written before reach the new deployment's /etc, and no journal goes with them.
fn kargs_change() {
    let s = Sysroot::new();
    let v1 = s.config(
        "v1.json",
        &mc(
            "rendered-worker-1",
            "one\n",
            serde_json::json!({"kernelArguments": ["nosmt", "foo=\"a b\""]}),
        ),
    );
    let out = s.mcd_ok(&["once-from", &v1]);
    assert!(out.contains("applied rendered-worker-1"), "{out}");
    assert_eq!(s.state()["state"], "Rebooting");
    assert_eq!(s.default_options(), "console=ttyS0 nosmt foo=\"a b\"");
    let status = s.status();
    assert_eq!(
        status.iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
        [format!("{}.1", s.a), format!("{}.0", s.a)]
    );
    assert_eq!(status, s.ostree_status());
    let new_etc = s.deployment(&format!("{}.1", s.a)).join("etc");
    assert_eq!(
        std::fs::read_to_string(new_etc.join("mooring-test.conf")).unwrap(),
        "one\n"
    );
    assert!(!new_etc.join("machine-config-daemon/journal.json").exists());
    assert!(!new_etc.join("machine-config-daemon/txn").exists());
    s.mcd_ok(&["validate"]);
    // "After the reboot": the new deployment verifies itself and records the config.
    let new_root = s.deployment(&format!("{}.1", s.a));
    assert_eq!(s.state_in(&new_root)["state"], "Rebooting");
    let o = s.mcd_in(&new_root, &["verify-boot"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.state_in(&new_root)["state"], "Done");
    assert!(!new_etc.join("machine-config-daemon/pending.json").exists());
    // Order and removal: every old argument out, the new list in its order.
    let v2 = s.config(
        "v2.json",
        &mc(
            "rendered-worker-2",
            "one\n",
            serde_json::json!({"kernelArguments": ["foo=\"a b\"", "quiet"]}),
        ),
    );
    // The old deployment is no longer the default: the OS step would remove it.
    let o = s.mcd(&["once-from", &v2], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the default deployment"));
    let o = s.mcd_in(&new_root, &["once-from", &v2], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.default_options(), "console=ttyS0 foo=\"a b\" quiet");
}

/// osImageURL: `rpm-ostree rebase testos:os/b` pulls from the remote and deploys it first.
fn os_image_change() {
    let s = Sysroot::new();
    let v1 = s.config(
        "v1.json",
        &mc(
            "rendered-worker-1",
            "one\n",
            serde_json::json!({"osImageURL": "testos:os/b"}),
        ),
    );
    s.mcd_ok(&["once-from", &v1]);
    let status = s.status();
    assert_eq!(
        status,
        [
            (format!("{}.0", s.b), "testos:os/b".to_string()),
            (format!("{}.0", s.a), "os/a".to_string())
        ]
    );
    assert_eq!(status, s.ostree_status());
    assert_eq!(
        std::fs::read_to_string(
            s.deployment(&format!("{}.0", s.b))
                .join("etc/mooring-test.conf")
        )
        .unwrap(),
        "one\n"
    );
    s.mcd_ok(&["validate"]);
    let new_root = s.deployment(&format!("{}.0", s.b));
    let o = s.mcd_in(&new_root, &["verify-boot"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.state_in(&new_root)["state"], "Done");
}

/// A failing OS step: a ref the remote does not have (the shim fails, nothing deployed), and a
/// failure after the rebase succeeded (the deployment it made is removed again). Both times the
/// files come back, the deployments are as before, and the node is Degraded with the reason.
fn failing_os_step() {
    let s = Sysroot::new();
    let v1 = s.config(
        "v1.json",
        &mc("rendered-worker-1", "one\n", serde_json::json!({})),
    );
    s.mcd_ok(&["once-from", &v1]);
    let etc_before = snapshot(&s.root().join("etc"));
    let status_before = s.status();
    let options_before = s.default_options();

    let bad = s.config(
        "bad.json",
        &mc(
            "rendered-worker-bad",
            "two\n",
            serde_json::json!({"osImageURL": "testos:no/such"}),
        ),
    );
    let o = s.mcd(&["once-from", &bad], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("step os"), "{err}");
    assert_eq!(s.state()["state"], "Degraded");
    assert!(s.state()["reason"].as_str().unwrap().contains("no/such"));
    assert_eq!(snapshot(&s.root().join("etc")), etc_before);
    assert_eq!(s.status(), status_before);

    // The rebase succeeds, a later step fails: the deployment it wrote goes again.
    let v2 = s.config(
        "v2.json",
        &mc(
            "rendered-worker-2",
            "two\n",
            serde_json::json!({"osImageURL": "testos:os/b"}),
        ),
    );
    let o = s.mcd(&["once-from", &v2], &[("MCD_FAIL_AT", "currentconfig")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(s.state()["state"], "Degraded");
    assert_eq!(snapshot(&s.root().join("etc")), etc_before);
    assert_eq!(s.status(), status_before, "the rebased deployment is gone");
    assert_eq!(s.status(), s.ostree_status());
    assert_eq!(s.default_options(), options_before);
    s.mcd_ok(&["validate"]);

    // OS image and kernel arguments at once: two deployments written directly, the second
    // would remove the one the node is at. Refused before anything changes.
    let v3 = s.config(
        "v3.json",
        &mc(
            "rendered-worker-3",
            "three\n",
            serde_json::json!({"osImageURL": "testos:os/b", "kernelArguments": ["nosmt"]}),
        ),
    );
    let o = s.mcd(&["once-from", &v3], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("apply them as two updates"), "{err}");
    assert_eq!(snapshot(&s.root().join("etc")), etc_before);
    assert_eq!(s.status(), status_before);
}
