//! The `files` stage of our `ignition` binary on temporary roots: entries,
//! owners, units, users, escapes, fetch-before-cut and the dry run.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha512};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::create_dir(dir.path().join("sys")).unwrap();
        std::fs::write(
            dir.path().join("boot_id"),
            "00000000-1111-2222-3333-444444444444\n",
        )
        .unwrap();
        Env { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn at(&self, p: &str) -> PathBuf {
        self.root().join(p.trim_start_matches('/'))
    }
    fn files(&self, config: &str, extra: &[&str]) -> Output {
        let cache = self.dir.path().join("cache.json");
        std::fs::write(&cache, config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_ignition"))
            .args(["-platform", "file", "-stage", "files", "-log-to-stdout"])
            .arg(format!("-root={}", self.root().display()))
            .arg("--config-cache")
            .arg(&cache)
            .arg("-state-file")
            .arg(self.dir.path().join("state"))
            .args(extra)
            .env("IGNITION_SYSTEM_CONFIG_DIR", self.dir.path().join("sys"))
            .env("IGNITION_BOOT_ID_PATH", self.dir.path().join("boot_id"))
            .output()
            .unwrap()
    }
    fn ok(&self, config: &str) -> Output {
        let out = self.files(config, &[]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn cfg(body: &str) -> String {
    format!(r#"{{"ignition":{{"version":"3.4.0"}},{body}}}"#)
}

fn data(s: &str) -> String {
    use base64::Engine;
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

fn sha512(b: &[u8]) -> String {
    Sha512::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir` with its type, mode, owner, contents or target.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let m = std::fs::symlink_metadata(p).unwrap();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let what = if m.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(p).unwrap().display())
        } else if m.is_dir() {
            "dir".into()
        } else {
            format!("file {:?}", std::fs::read(p).unwrap())
        };
        out.insert(
            rel,
            format!("{what} {:o} {}:{}", m.mode(), m.uid(), m.gid()),
        );
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(base, &e.unwrap().path(), out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc_getuid() == 0 }
}
extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[test]
fn writes_files_directories_and_links_with_go_rules() {
    let e = Env::new();
    std::fs::create_dir_all(e.at("/etc")).unwrap();
    std::fs::write(e.at("/etc/existing"), "old\n").unwrap();
    std::fs::write(e.at("/etc/keep"), "keep\n").unwrap();
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, b"unzipped\n").unwrap();
        enc.finish().unwrap()
    };
    use base64::Engine;
    let gz_url = format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&gz)
    );
    let config = cfg(&format!(
        r#""storage":{{
        "directories":[{{"path":"/var/lib/app","mode":448}},{{"path":"/opt/sticky","mode":1023}}],
        "files":[
          {{"path":"/etc/hello","contents":{{"source":"{hello}","verification":{{"hash":"sha512-{hash}"}}}},"mode":384}},
          {{"path":"/etc/existing","overwrite":true,"contents":{{"source":"{new}"}}}},
          {{"path":"/etc/keep","append":[{{"source":"{more}"}}]}},
          {{"path":"/etc/empty"}},
          {{"path":"/deep/a/b/c/file","contents":{{"source":"{gz}","compression":"gzip","verification":{{"hash":"sha512-{gzhash}"}}}}}},
          {{"path":"/etc/appended","contents":{{"source":"{one}"}},"append":[{{"source":"{two}"}},{{"source":"{three}"}}]}}
        ],
        "links":[{{"path":"/etc/link","target":"/etc/hello"}},{{"path":"/etc/rel","target":"../hello"}},
                 {{"path":"/etc/hard","target":"/deep/a/b/c/file","hard":true}}]}}"#,
        hello = data("hello\n"),
        hash = sha512(b"hello\n"),
        new = data("new\n"),
        more = data("more\n"),
        gz = gz_url,
        gzhash = sha512(b"unzipped\n"),
        one = data("1"),
        two = data("2"),
        three = data("3"),
    ));
    e.ok(&config);
    assert_eq!(
        std::fs::read_to_string(e.at("/etc/hello")).unwrap(),
        "hello\n"
    );
    assert_eq!(mode(&e.at("/etc/hello")), 0o600);
    assert_eq!(
        std::fs::read_to_string(e.at("/etc/existing")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_to_string(e.at("/etc/keep")).unwrap(),
        "keep\nmore\n"
    );
    assert_eq!(std::fs::read(e.at("/etc/empty")).unwrap(), b"");
    assert_eq!(mode(&e.at("/etc/empty")), 0o644);
    assert_eq!(
        std::fs::read_to_string(e.at("/deep/a/b/c/file")).unwrap(),
        "unzipped\n"
    );
    assert_eq!(mode(&e.at("/deep/a/b")), 0o755);
    assert_eq!(
        std::fs::read_to_string(e.at("/etc/appended")).unwrap(),
        "123"
    );
    assert_eq!(mode(&e.at("/var/lib/app")), 0o700);
    assert_eq!(mode(&e.at("/opt/sticky")), 0o1777);
    assert_eq!(
        std::fs::read_link(e.at("/etc/link")).unwrap(),
        Path::new("/etc/hello")
    );
    assert_eq!(
        std::fs::read_link(e.at("/etc/rel")).unwrap(),
        Path::new("../hello")
    );
    let (a, b) = (
        std::fs::metadata(e.at("/etc/hard")).unwrap(),
        std::fs::metadata(e.at("/deep/a/b/c/file")).unwrap(),
    );
    assert_eq!((a.ino(), a.dev()), (b.ino(), b.dev()));
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.at("/etc/.ignition-result.json")).unwrap())
            .unwrap();
    assert_eq!(
        result["provisioningBootID"],
        "00000000-1111-2222-3333-444444444444"
    );
    assert_eq!(mode(&e.at("/etc/.ignition-result.json")), 0o600);

    // A second run: existing file with contents and no overwrite fails like Go.
    let out = e.files(
        &cfg(&format!(
            r#""storage":{{"files":[{{"path":"/etc/hello","contents":{{"source":"{}"}}}}]}}"#,
            data("x")
        )),
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("$.storage.files.0 (/etc/hello)") && err.contains("overwrite is false"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn special_bits_survive_the_chown() {
    let e = Env::new();
    let config = cfg(
        r#""storage":{"files":[{"path":"/usr/bin/tool","mode":3565,"user":{"id":0},"group":{"id":0}}]}"#,
    );
    e.ok(&config.replace("3.4.0", "3.6.0"));
    assert_eq!(mode(&e.at("/usr/bin/tool")), 0o6755);
}

#[test]
fn owners_by_name_come_from_the_roots_passwd() {
    let e = Env::new();
    std::fs::create_dir_all(e.at("/etc")).unwrap();
    std::fs::write(
        e.at("/etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nalice:x:4321:4322::/home/alice:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(e.at("/etc/group"), "root:x:0:\nstaff:x:4500:\n").unwrap();
    e.ok(&cfg(
        r#""storage":{"files":[{"path":"/srv/a","user":{"name":"alice"},"group":{"name":"staff"}}],
        "directories":[{"path":"/srv/d","user":{"id":77},"group":{"id":78}}],
        "links":[{"path":"/srv/l","target":"a","user":{"name":"alice"}}]}"#,
    ));
    let m = std::fs::metadata(e.at("/srv/a")).unwrap();
    assert_eq!((m.uid(), m.gid()), (4321, 4500));
    let m = std::fs::metadata(e.at("/srv/d")).unwrap();
    assert_eq!((m.uid(), m.gid()), (77, 78));
    assert_eq!(
        std::fs::symlink_metadata(e.at("/srv/l")).unwrap().uid(),
        4321
    );

    // An unknown name fails before anything is written.
    let before = snapshot(&e.root());
    let out = e.files(
        &cfg(
            r#""storage":{"files":[{"path":"/srv/new"},{"path":"/srv/b","user":{"name":"bob"}}]}"#,
        ),
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("$.storage.files.1.user.name (/srv/b): no such user \"bob\""));
    assert_eq!(snapshot(&e.root()), before);
}

#[test]
fn units_dropins_masks_and_presets() {
    let e = Env::new();
    std::fs::create_dir_all(e.at("/etc/systemd/system")).unwrap();
    symlink("/dev/null", e.at("/etc/systemd/system/unmask-me.service")).unwrap();
    e.ok(&cfg(r#""systemd":{"units":[
        {"name":"a.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
         "dropins":[{"name":"10-x.conf","contents":"[Service]\nNice=5\n"},{"name":"20-none.conf"}]},
        {"name":"echo@.service","contents":"[Service]\nExecStart=/bin/echo %i\n"},
        {"name":"echo@one.service","enabled":true},{"name":"echo@two.service","enabled":true},
        {"name":"masked.service","mask":true},
        {"name":"unmask-me.service","mask":false},
        {"name":"empty.service","contents":""}]}"#));
    let sd = "/etc/systemd/system";
    assert!(std::fs::read_to_string(e.at(&format!("{sd}/a.service")))
        .unwrap()
        .contains("ExecStart=/bin/true"));
    assert_eq!(
        std::fs::read_to_string(e.at(&format!("{sd}/a.service.d/10-x.conf"))).unwrap(),
        "[Service]\nNice=5\n"
    );
    assert!(!e.at(&format!("{sd}/a.service.d/20-none.conf")).exists());
    assert!(!e.at(&format!("{sd}/empty.service")).exists());
    assert_eq!(
        std::fs::read_link(e.at(&format!("{sd}/masked.service"))).unwrap(),
        Path::new("/dev/null")
    );
    assert!(std::fs::symlink_metadata(e.at(&format!("{sd}/unmask-me.service"))).is_err());
    assert_eq!(
        std::fs::read_to_string(e.at("/etc/systemd/system-preset/20-ignition.preset")).unwrap(),
        "enable a.service\nenable echo@.service one two\n"
    );
}

#[test]
fn users_and_groups_through_useradd_with_root() {
    if !is_root() {
        eprintln!(
            "skipping users_and_groups_through_useradd_with_root: needs root for useradd --root"
        );
        return;
    }
    if Command::new("useradd").arg("--help").output().is_err() {
        eprintln!("skipping users_and_groups_through_useradd_with_root: useradd is not installed");
        return;
    }
    let e = Env::new();
    std::fs::create_dir_all(e.at("/etc")).unwrap();
    std::fs::write(e.at("/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(e.at("/etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(e.at("/etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::write(e.at("/etc/gshadow"), "root:*::\n").unwrap();
    e.ok(&cfg(r#""passwd":{"groups":[{"name":"devs","gid":4000}],
        "users":[{"name":"core","uid":1500,"groups":["devs"],"sshAuthorizedKeys":["ssh-ed25519 AAAA one","ssh-rsa BBBB two"]}]},
        "storage":{"files":[{"path":"/home/core/owned","user":{"name":"core"},"group":{"name":"devs"}}]}"#));
    let passwd = std::fs::read_to_string(e.at("/etc/passwd")).unwrap();
    assert!(passwd.contains("core:x:1500:"), "{passwd}");
    assert!(std::fs::read_to_string(e.at("/etc/group"))
        .unwrap()
        .contains("devs:x:4000:core"));
    let keys = e.at("/home/core/.ssh/authorized_keys.d/ignition");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "ssh-ed25519 AAAA one\nssh-rsa BBBB two\n"
    );
    assert_eq!(mode(&keys), 0o600);
    assert_eq!(mode(&e.at("/home/core/.ssh")), 0o700);
    assert_eq!(std::fs::metadata(&keys).unwrap().uid(), 1500);
    let m = std::fs::metadata(e.at("/home/core/owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1500, 4000));
}

#[test]
fn links_and_paths_never_lead_out_of_the_root() {
    let e = Env::new();
    let outside = e.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(e.at("/real")).unwrap();
    // Pre-existing links pointing out of the root in every way.
    symlink(&outside, e.at("/abs")).unwrap(); // the host path of a directory outside
    symlink("../../../../../../..", e.at("/up")).unwrap();
    symlink("/chain2", e.at("/chain1")).unwrap();
    symlink(&outside, e.at("/chain2")).unwrap();
    symlink(&outside, e.at("/real/last")).unwrap();
    e.ok(&cfg(r#""storage":{"files":[
        {"path":"/abs/f1","contents":{"source":"data:,1"}},
        {"path":"/up/tmp/f2","contents":{"source":"data:,2"}},
        {"path":"/chain1/f3","contents":{"source":"data:,3"}},
        {"path":"/real/last","overwrite":true,"contents":{"source":"data:,5"}}],
        "directories":[{"path":"/up/d"}],
        "links":[{"path":"/abs/l","target":"/etc/shadow"}]}"#));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing may be written outside the root"
    );
    let inside = format!("{}", outside.display());
    assert_eq!(
        std::fs::read_to_string(e.at(&format!("{inside}/f1"))).unwrap(),
        "1"
    );
    assert_eq!(std::fs::read_to_string(e.at("/tmp/f2")).unwrap(), "2");
    assert_eq!(
        std::fs::read_to_string(e.at(&format!("{inside}/f3"))).unwrap(),
        "3"
    );
    // The last component is replaced, not followed.
    assert_eq!(std::fs::read_to_string(e.at("/real/last")).unwrap(), "5");
    assert!(e.at("/d").is_dir());
    assert_eq!(
        std::fs::read_link(e.at(&format!("{inside}/l"))).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // `..` in a config path is refused by validation, before anything runs.
    let out = e.files(
        &cfg(r#""storage":{"files":[{"path":"/../../f4","contents":{"source":"data:,4"}}]}"#),
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("$.storage.files.0.path"));
}

/// The files stage remembers directories it has resolved; one the stage
/// itself replaces by a link (overwrite) must not be trusted afterwards.
/// Validation refuses config paths below config links, so the paths here
/// reach the replaced directory through links on the disk: `/e -> /a/d`,
/// and `/a/d/up -> /`, so that `/e/up/y` (written first, at depth 1)
/// makes the stage resolve and remember `/e` = `/a/d` before the link
/// `/a/d` (depth 2) replaces that directory; `/e/z` and `/e/f0..69` (depth
/// 3, serial and parallel paths) must then follow the new link inside the
/// root. (Planning remembers `/a/d` as a directory; the stage forgets what
/// it remembered after users and groups, and on every removal. Without
/// both, the 71 files land outside the root.)
#[test]
fn a_directory_replaced_by_a_link_during_the_stage_is_not_trusted() {
    let e = Env::new();
    let outside = e.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(e.at("/a/d")).unwrap();
    symlink("/", e.at("/a/d/up")).unwrap();
    symlink("/a/d", e.at("/e")).unwrap();
    let mut files = vec![
        r#"{"path":"/e/up/y","contents":{"source":"data:,y"}}"#.to_string(),
        r#"{"path":"/e/z","contents":{"source":"data:,z"}}"#.to_string(),
    ];
    for i in 0..70 {
        files.push(format!(
            r#"{{"path":"/e/f{i}","contents":{{"source":"data:,{i}"}}}}"#
        ));
    }
    e.ok(&cfg(&format!(
        r#""storage":{{"files":[{}],"links":[{{"path":"/a/d","target":"{}","overwrite":true}}]}}"#,
        files.join(","),
        outside.display()
    )));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing may be written outside the root"
    );
    assert_eq!(std::fs::read_to_string(e.at("/y")).unwrap(), "y");
    let inside = format!("{}", outside.display());
    assert_eq!(
        std::fs::read_to_string(e.at(&format!("{inside}/z"))).unwrap(),
        "z"
    );
    for i in 0..70 {
        assert_eq!(
            std::fs::read_to_string(e.at(&format!("{inside}/f{i}"))).unwrap(),
            i.to_string()
        );
    }
    assert_eq!(std::fs::read_link(e.at("/a/d")).unwrap(), outside);
}

#[test]
fn a_bad_hash_fails_before_anything_is_written() {
    let e = Env::new();
    std::fs::create_dir_all(e.at("/etc")).unwrap();
    std::fs::write(e.at("/etc/existing"), "old").unwrap();
    let before = snapshot(&e.root());
    let out = e.files(&cfg(&format!(
        r#""storage":{{"directories":[{{"path":"/d"}}],"files":[{{"path":"/a","contents":{{"source":"data:,fine"}}}},
        {{"path":"/etc/existing","overwrite":true,"contents":{{"source":"data:,new"}}}},
        {{"path":"/z","contents":{{"source":"data:,bad","verification":{{"hash":"sha512-{}"}}}}}}]}},
        "systemd":{{"units":[{{"name":"u.service","contents":"[Unit]\n","enabled":true}}]}}"#,
        sha512(b"other")
    )), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("$.storage.files.2.contents (/z)") && err.contains("hash verification failed"),
        "{err}"
    );
    assert_eq!(snapshot(&e.root()), before, "the root must be untouched");
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let e = Env::new();
    let before = snapshot(&e.root());
    let out = e.files(&cfg(r#""storage":{"files":[{"path":"/etc/x","contents":{"source":"data:,x"}}],"links":[{"path":"/l","target":"/etc/x"}]},
        "systemd":{"units":[{"name":"a.service","contents":"[Unit]\n","enabled":true}]}"#), &["-dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "[dry-run] files: write file /etc/x (1 bytes",
        "[dry-run] files: symlink /l -> /etc/x",
        "preset: enable a.service",
    ] {
        assert!(stdout.contains(want), "{want} in {stdout}");
    }
    assert_eq!(snapshot(&e.root()), before);
    assert!(!e.dir.path().join("state").exists());
}

#[test]
fn later_stages_without_a_config_cache_refuse_and_touch_nothing() {
    let e = Env::new();
    for stage in ["disks", "mount", "umount", "kargs"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ignition"))
            .args(["-platform", "file", "-stage", stage, "-state-file"])
            .arg(e.dir.path().join("state"))
            .arg("-config-cache")
            .arg(e.dir.path().join("missing.json"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{stage} failed: reading the config cache")),
            "{stderr}"
        );
    }
    assert!(!e.dir.path().join("state").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_ignition"))
        .args(["-stage", "files"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn many_files_at_one_depth_are_written_in_parallel_like_serially() {
    let e = Env::new();
    let files: Vec<String> = (0..150)
        .map(|i| {
            format!(
                r#"{{"path":"/many/d{}/f{i}","mode":{},"contents":{{"source":"data:,n{i}"}}}}"#,
                i % 7,
                0o600 + (i % 2) * 0o40
            )
        })
        .collect();
    e.ok(&cfg(&format!(
        r#""storage":{{"files":[{}]}}"#,
        files.join(",")
    )));
    for i in 0..150 {
        let p = e.at(&format!("/many/d{}/f{i}", i % 7));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("n{i}"));
        assert_eq!(mode(&p), 0o600 + (i % 2) * 0o40);
    }
    assert_eq!(mode(&e.at("/many/d3")), 0o755);
}
