//! Differential test: our files stage against Go Ignition 2.14's.
//!
//! For every config in `tests/corpus/files/*.ign`, each executor runs
//! `fetch` (platform `file`, which renders `merge` references) and then
//! `files` on a fresh copy of the same skeleton root; both must succeed or
//! both fail, and on success leave the same tree: paths, types, modes,
//! owners, contents and link targets. Compared with care:
//!   * `/etc/.ignition-result.json`: its date differs by nature; type, mode and owner are compared;
//!   * `/etc/systemd/system-preset/20-ignition.preset`: Go writes its lines in random
//!     (map) order, so the lines are compared sorted.
//!
//! Go needs `etc/selinux/config` in the root and a `setfiles` (a stub here).
//! Without Go (`/usr/lib/dracut/modules.d/30ignition/ignition`, or
//! `$GO_IGNITION`) the test prints why and passes; CI installs it.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const GO_DEFAULT: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

fn skeleton(root: &Path) {
    let w = |p: &str, s: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    w(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    );
    w("etc/group", "root:x:0:\ndaemon:x:1:\nbin:x:2:\n");
    w(
        "etc/shadow",
        "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    );
    w("etc/gshadow", "root:*::\ndaemon:*::\nbin:*::\n");
    std::fs::set_permissions(
        root.join("etc/shadow"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    w(
        "etc/selinux/config",
        "SELINUX=permissive\nSELINUXTYPE=targeted\n",
    );
    w("etc/hostname", "old\n");
    w("etc/existing.conf", "first line\n");
    w("etc/was-file", "replaced by a link\n");
    w("var/replace-me/old-content", "x");
    w(
        "etc/systemd/system/existing.service",
        "[Service]\nExecStart=/bin/true\n",
    );
    std::fs::create_dir_all(root.join("var/home")).unwrap();
    std::fs::create_dir_all(root.join("opt")).unwrap();
    std::fs::create_dir_all(root.join("usr/local")).unwrap();
    symlink("var/home", root.join("home")).unwrap();
    symlink("/opt", root.join("optlink")).unwrap();
    symlink("../../etc", root.join("usr/local/etc")).unwrap();
}

struct Run {
    ok: bool,
    log: String,
}

fn run_executor(bin: &Path, work: &Path, config: &Path, stub_path: &str) -> Run {
    let root = work.join("root");
    std::fs::create_dir_all(&root).unwrap();
    skeleton(&root);
    let mut log = String::new();
    for stage in ["fetch", "files"] {
        let out = Command::new(bin)
            .args(["-platform", "file", "-stage", stage, "-log-to-stdout"])
            .arg("-root")
            .arg(&root)
            .arg("-config-cache")
            .arg(work.join("cache.json"))
            .arg("-state-file")
            .arg(work.join("state"))
            .arg("-neednet")
            .arg(work.join("neednet"))
            .env("IGNITION_CONFIG_FILE", config)
            .env("IGNITION_SYSTEM_CONFIG_DIR", work.join("nosys"))
            .env("IGNITION_KERNEL_CMDLINE_PATH", work.join("cmdline"))
            .env("PATH", stub_path)
            .output()
            .unwrap();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Run { ok: false, log };
        }
    }
    Run { ok: true, log }
}

fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let m = std::fs::symlink_metadata(p).unwrap();
        let rel = format!("/{}", p.strip_prefix(base).unwrap().display());
        let what = if m.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(p).unwrap().display())
        } else if m.is_dir() {
            "dir".into()
        } else if rel == "/etc/.ignition-result.json" {
            "file (result, contents not compared)".into()
        } else if rel.ends_with("/20-ignition.preset") {
            let text = std::fs::read_to_string(p).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort();
            format!("file sorted lines {lines:?}")
        } else {
            format!(
                "file {:?}",
                String::from_utf8_lossy(&std::fs::read(p).unwrap())
            )
        };
        out.insert(
            rel,
            format!(
                "{what} mode {:o} owner {}:{}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ),
        );
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(base, &e.unwrap().path(), out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

#[test]
fn files_stage_matches_go_ignition() {
    let go = PathBuf::from(std::env::var("GO_IGNITION").unwrap_or_else(|_| GO_DEFAULT.to_string()));
    if !go.exists() {
        eprintln!("skipping the files-stage differential test: Go Ignition not found at {} (Debian package `ignition`)", go.display());
        return;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { getuid() } != 0 {
        eprintln!("skipping the files-stage differential test: needs root (useradd --root, chown)");
        return;
    }
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_ignition"));
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("setfiles"), "#!/bin/sh\ncat >/dev/null\nexit 0\n").unwrap();
    std::fs::set_permissions(bin.join("setfiles"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let stub_path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    std::fs::write(tmp.path().join("cmdline"), "").unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/files");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ign"))
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let (mut same_ok, mut same_fail) = (0, 0);
    for config in &names {
        let name = config.file_stem().unwrap().to_string_lossy().into_owned();
        let wgo = tmp.path().join(format!("go-{name}"));
        let wours = tmp.path().join(format!("ours-{name}"));
        for w in [&wgo, &wours] {
            std::fs::create_dir_all(w).unwrap();
            std::fs::write(w.join("cmdline"), "").unwrap();
        }
        let g = run_executor(&go, &wgo, config, &stub_path);
        let o = run_executor(&ours, &wours, config, &stub_path);
        if g.ok != o.ok {
            failures.push(format!(
                "{name}: Go {} but ours {}\n--- Go:\n{}\n--- ours:\n{}",
                verdict(g.ok),
                verdict(o.ok),
                g.log,
                o.log
            ));
            continue;
        }
        if name.starts_with("fail-") && g.ok {
            failures.push(format!("{name}: expected both to fail, both succeeded"));
            continue;
        }
        if !g.ok {
            same_fail += 1;
            continue;
        }
        let (tg, to) = (tree(&wgo.join("root")), tree(&wours.join("root")));
        if tg != to {
            let mut diff = String::new();
            for k in tg
                .keys()
                .chain(to.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                if tg.get(k) != to.get(k) {
                    diff.push_str(&format!(
                        "  {k}\n    Go:   {:?}\n    ours: {:?}\n",
                        tg.get(k),
                        to.get(k)
                    ));
                }
            }
            failures.push(format!("{name}: trees differ\n{diff}"));
        } else {
            same_ok += 1;
        }
    }
    eprintln!("files differential: {} configs, {same_ok} same trees, {same_fail} failed in both, {} disagreements", names.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "succeeded"
    } else {
        "failed"
    }
}

extern "C" {
    fn getuid() -> u32;
}
