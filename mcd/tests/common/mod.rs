//! Fixtures: temporary roots (removed on drop), configs, running the binary, tree snapshots.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_mcd");

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A temporary node root with passwd/group/shadow (core = 1000), a vendor unit, a fake
/// rpm-ostree that logs its arguments, and a place for config files. Removed on drop.
pub struct Node {
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::Builder::new()
            .prefix("mcd-test-")
            .tempdir()
            .unwrap();
        let n = Node { dir };
        let r = n.root();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::create_dir_all(r.join("usr/lib/systemd/system")).unwrap();
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\ncore:x:1000:1000:CoreOS Admin:/home/core:/bin/bash\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\ncore:x:1000:\n").unwrap();
        std::fs::write(
            r.join("etc/shadow"),
            "root:*:19000:0:99999:7:::\ncore:*:19000:0:99999:7:::\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/gshadow"), "root:*::\ncore:!::\n").unwrap();
        std::fs::write(r.join("etc/motd"), "original motd\n").unwrap();
        std::fs::write(
            r.join("usr/lib/systemd/system/vendor.service"),
            "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        let fake = n.dir.path().join("rpm-ostree");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\n",
                n.dir.path().join("rpm-ostree.log").display()
            ),
        )
        .unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&fake).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        n
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Writes a config file next to the root and returns its path.
    pub fn config(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    pub fn mcd(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .env("MCD_RPM_OSTREE", self.dir.path().join("rpm-ostree"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.mcd(args, &[]);
        assert!(
            o.status.success(),
            "mcd {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn rpm_ostree_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rpm-ostree.log")).unwrap_or_default()
    }

    pub fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.root().join(p.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    pub fn exists(&self, p: &str) -> bool {
        std::fs::symlink_metadata(self.root().join(p.trim_start_matches('/'))).is_ok()
    }

    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("/etc/machine-config-daemon/state.json")).unwrap()
    }

    pub fn tree(&self) -> Tree {
        tree(&self.root())
    }
}

/// Path → (kind, mode, uid, gid, contents or link target); the state file is left out.
pub type Tree = BTreeMap<String, (char, u32, u32, u32, Vec<u8>)>;

pub fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    fn walk(base: &Path, dir: &Path, out: &mut Tree) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = format!("/{}", p.strip_prefix(base).unwrap().display());
            if rel == "/etc/machine-config-daemon/state.json" {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let (kind, data) = if m.file_type().is_symlink() {
                (
                    'l',
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if m.is_dir() {
                ('d', vec![])
            } else {
                ('f', std::fs::read(&p).unwrap())
            };
            out.insert(rel, (kind, m.mode() & 0o7777, m.uid(), m.gid(), data));
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// The first difference between two trees, for assertion messages.
pub fn first_difference(a: &Tree, b: &Tree) -> String {
    for (k, v) in a {
        match b.get(k) {
            None => return format!("{k} only in the first"),
            Some(w) if w != v => {
                return format!(
                    "{k} differs: {:?} vs {:?}",
                    (v.0, v.1, v.2, v.3, String::from_utf8_lossy(&v.4)),
                    (w.0, w.1, w.2, w.3, String::from_utf8_lossy(&w.4))
                )
            }
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            return format!("{k} only in the second");
        }
    }
    "none".into()
}

/// A `data:` URL for `s`.
pub fn data(s: &str) -> String {
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

/// A rendered MachineConfig (JSON) from Ignition parts and spec fields.
pub fn mc(name: &str, ign: serde_json::Value, spec: serde_json::Value) -> String {
    let mut c = serde_json::json!({"ignition": {"version": "3.4.0"}});
    for (k, v) in ign.as_object().unwrap() {
        c[k] = v.clone();
    }
    let mut m = serde_json::json!({"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
        "metadata": {"name": name}, "spec": {"config": c}});
    for (k, v) in spec.as_object().unwrap() {
        m["spec"][k] = v.clone();
    }
    serde_json::to_string_pretty(&m).unwrap()
}

pub fn file(path: &str, contents: &str, mode: u32) -> serde_json::Value {
    serde_json::json!({"path": path, "mode": mode, "contents": {"source": data(contents)}})
}

/// Two configs with files (taken over, created, dropped), units, masks, SSH keys and kargs.
pub fn v1_v2() -> (String, String) {
    use serde_json::json;
    let unit = "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n";
    let mut f1 = vec![
        file("/etc/motd", "motd v1\n", 0o644),
        file("/etc/keep.conf", "keep\n", 0o600),
    ];
    let mut f2 = vec![
        file("/etc/keep.conf", "keep v2\n", 0o640),
        file("/etc/added/deep/new.conf", "new\n", 0o644),
    ];
    for i in 0..10 {
        f1.push(file(
            &format!("/etc/many/f{i}"),
            &format!("one {i}\n"),
            0o644,
        ));
        f2.push(file(
            &format!("/etc/many/f{i}"),
            &format!("two {i}\n"),
            0o644,
        ));
    }
    f2.push(json!({"path": "/etc/owned", "user": {"name": "core"}, "group": {"name": "core"}, "contents": {"source": data("c")}}));
    let v1 = mc(
        "rendered-worker-v1",
        json!({
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA one"]}]},
            "storage": {"files": f1},
            "systemd": {"units": [
                {"name": "a.service", "enabled": true, "contents": unit},
                {"name": "gone.service", "enabled": true, "contents": unit, "dropins": [{"name": "10-x.conf", "contents": "[Service]\n"}]},
                {"name": "m.service", "mask": true}
            ]}
        }),
        json!({"kernelArguments": ["nosmt"]}),
    );
    let v2 = mc(
        "rendered-worker-v2",
        json!({
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA one", "ssh-ed25519 BBBB two"], "passwordHash": "$6$salt$hash"}]},
            "storage": {"files": f2},
            "systemd": {"units": [
                {"name": "a.service", "enabled": false, "contents": unit},
                {"name": "vendor.service", "enabled": true},
                {"name": "b.service", "contents": unit, "dropins": [{"name": "20-y.conf", "contents": "[Unit]\n"}]}
            ]}
        }),
        json!({"kernelArguments": ["nosmt", "foo=\"a b\""]}),
    );
    (v1, v2)
}
