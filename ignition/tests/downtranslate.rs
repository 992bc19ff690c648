//! Down-translation: the 3.6.0 model written as 3.0.0-3.6.0 and 2.2.0.
//! What a target can express round-trips to the same model; what it cannot
//! is an error naming the field; 3.0-3.3 output passes Go's ignition-validate.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use ignition::downtranslate::{self, DownError, TARGETS};
use ignition::model::Config;
use ignition::SpecVersion;
use serde_json::{json, Value};

const V22: SpecVersion = SpecVersion::new(2, 2);

fn v3(minor: u8) -> SpecVersion {
    SpecVersion::new(3, minor)
}

fn parse(v: &Value) -> Config {
    let text = v.to_string();
    match ignition::parse(text.as_bytes()) {
        Ok(p) => p.config,
        Err(e) => panic!("{e}: {:?}\n{text}", e.report()),
    }
}

/// A config that uses something of every 3.x version up to 3.`minor`,
/// written in 3.`minor`.0.
fn features(minor: u8) -> Value {
    let sha512 = format!("sha512-{}", "0".repeat(128));
    let mut c = json!({
        "ignition": {
            "version": format!("3.{minor}.0"),
            "timeouts": {"httpTotal": 30, "httpResponseHeaders": 10},
            "config": {"merge": [{"source": "https://example.com/a.ign",
                                  "verification": {"hash": sha512}}]},
            "security": {"tls": {"certificateAuthorities": [{"source": "data:,ca"}]}}
        },
        "passwd": {
            "users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA"],
                       "groups": ["wheel"], "uid": 1000, "shell": "/bin/bash"}],
            "groups": [{"name": "ops", "gid": 2000}]
        },
        "storage": {
            "files": [
                {"path": "/etc/a", "mode": 420, "overwrite": true, "user": {"name": "core"},
                 "contents": {"source": "data:,a", "compression": "gzip"},
                 "append": [{"source": "data:,b"}, {"source": "s3://bucket/key"}]},
                {"path": "/var/data/log", "append": [{"source": "tftp://h/f"}]},
                {"path": "/etc/empty"}
            ],
            "directories": [{"path": "/var/d", "mode": 493, "group": {"id": 10}}],
            "links": [{"path": "/etc/l", "target": "/etc/a"}],
            "disks": [{"device": "/dev/vdb", "wipeTable": true, "partitions": [
                {"number": 1, "label": "data", "startMiB": 1, "sizeMiB": 100,
                 "typeGuid": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
                {"number": 2, "startMiB": 0, "sizeMiB": 0, "wipePartitionEntry": true}]}],
            "raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/vdc", "/dev/vdd"]}],
            "filesystems": [
                {"device": "/dev/disk/by-partlabel/data", "format": "xfs", "label": "data",
                 "path": "/var/data", "wipeFilesystem": true, "options": ["-m", "0"]},
                {"device": "/dev/vdb2", "format": "swap"}
            ]
        },
        "systemd": {"units": [
            {"name": "a.service", "enabled": true,
             "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
             "dropins": [{"name": "x.conf", "contents": "[Service]\nNice=1\n"}]},
            {"name": "b.service", "mask": true},
            {"name": "c.service", "enabled": false}
        ]}
    });
    let sha256 = format!("sha256-{}", "0".repeat(64));
    if minor >= 1 {
        c["ignition"]["proxy"] =
            json!({"httpsProxy": "https://proxy:3128", "noProxy": ["localhost"]});
        c["ignition"]["config"]["replace"] = json!({"source": "https://example.com/r.ign",
            "compression": "gzip", "httpHeaders": [{"name": "X-A", "value": "b"}]});
        c["storage"]["filesystems"][0]["mountOptions"] = json!(["noatime"]);
        c["storage"]["files"][0]["contents"]["verification"] = json!({"hash": sha256});
    }
    if minor >= 2 {
        c["passwd"]["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "gone", "shouldExist": false}));
        c["storage"]["disks"][0]["partitions"][0]["resize"] = json!(true);
        c["storage"]["luks"] = json!([{"name": "secret", "device": "/dev/vde", "wipeVolume": true,
            "keyFile": {"source": "gs://bucket/key"},
            "clevis": {"tang": [{"url": "https://tang", "thumbprint": "x"}], "threshold": 1}}]);
    }
    if minor >= 3 {
        c["kernelArguments"] = json!({"shouldExist": ["quiet"], "shouldNotExist": ["debug"]});
        c["storage"]["filesystems"]
            .as_array_mut()
            .unwrap()
            .push(json!({"device": "/dev/vdf", "format": "none"}));
    }
    if minor >= 4 {
        c["storage"]["luks"][0]["discard"] = json!(true);
        c["storage"]["luks"][0]["openOptions"] = json!(["--perf-no_read_workqueue"]);
        c["storage"]["luks"][0]["clevis"]["tang"][0]["advertisement"] = json!("{}");
        c["storage"]["files"][1]["append"][0]["source"] = json!("arn:aws:s3:::bucket/key");
    }
    if minor >= 5 {
        c["storage"]["luks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "cex", "device": "/dev/vdg", "cex": {"enabled": true}}));
    }
    if minor >= 6 {
        c["storage"]["files"][0]["mode"] = json!(0o4755);
        c["storage"]["directories"][0]["mode"] = json!(0o1777);
        c["storage"]["luks"][0]["clevis"] =
            json!({"custom": {"pin": "fido2", "config": "{}", "needsNetwork": false}});
    }
    c
}

fn down(cfg: &Config, target: SpecVersion) -> Result<Value, DownError> {
    downtranslate::to_spec(cfg, target)
}

#[test]
fn every_3x_target_round_trips_what_it_can_express() {
    for minor in 0..=6 {
        let cfg = parse(&features(minor));
        for target in (minor..=6).map(v3) {
            let out = down(&cfg, target).unwrap_or_else(|e| panic!("3.{minor} → {target}: {e}"));
            assert_eq!(out["ignition"]["version"], target.to_string());
            let text = serde_json::to_string(&out).unwrap();
            let back = ignition::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("{target}: {e} {:?}\n{text}", e.report()));
            assert_eq!(back.source_version, target);
            assert!(
                back.report.findings.is_empty(),
                "{target}: {}\n{text}",
                back.report
            );
            assert_eq!(back.config, cfg, "3.{minor} features → {target}");
        }
        for target in (0..minor).map(v3) {
            let err = down(&cfg, target).expect_err(&format!("3.{minor} → {target}"));
            assert!(!err.problems().is_empty());
            assert!(err.problems().iter().all(|p| p.target == target));
        }
    }
}

/// (config fragment at 3.6.0, path named in the error, first 3.x minor that
/// expresses it, whether 2.2.0 can).
fn inexpressible() -> Vec<(Value, &'static str, u8, bool)> {
    let sha256 = format!("sha256-{}", "0".repeat(64));
    let luks = |extra: Value| {
        let mut l = json!({"name": "l", "device": "/dev/vdb"});
        l.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"storage": {"luks": [l]}})
    };
    let part = |extra: Value| json!({"storage": {"disks": [{"device": "/dev/vdb", "partitions": [extra]}]}});
    vec![
        (
            json!({"ignition": {"proxy": {"httpProxy": "http://p:3128"}}}),
            "$.ignition.proxy",
            1,
            false,
        ),
        (
            json!({"ignition": {"config": {"merge": [{"source": "https://a/b",
                "httpHeaders": [{"name": "A", "value": "b"}]}]}}}),
            "$.ignition.config.merge.0.httpHeaders",
            1,
            false,
        ),
        (
            json!({"ignition": {"config": {"replace": {"source": "https://a/b", "compression": "gzip"}}}}),
            "$.ignition.config.replace.compression",
            1,
            false,
        ),
        (
            json!({"ignition": {"security": {"tls": {"certificateAuthorities": [
                {"source": "https://a/ca", "compression": "gzip"}]}}}}),
            "$.ignition.security.tls.certificateAuthorities.0.compression",
            1,
            false,
        ),
        (
            json!({"storage": {"files": [{"path": "/a", "contents": {"source": "https://a/b",
                "verification": {"hash": sha256}}}]}}),
            "$.storage.files.0.contents.verification.hash",
            1,
            false,
        ),
        (
            json!({"storage": {"files": [{"path": "/a", "append": [{"source": "https://a/b",
                "httpHeaders": [{"name": "A", "value": "b"}]}]}]}}),
            "$.storage.files.0.append.0.httpHeaders",
            1,
            false,
        ),
        (
            json!({"storage": {"filesystems": [{"device": "/dev/vdb", "format": "ext4",
                "path": "/srv", "mountOptions": ["noatime"]}]}}),
            "$.storage.filesystems.0.mountOptions",
            1,
            false,
        ),
        (
            json!({"passwd": {"users": [{"name": "a", "shouldExist": false}]}}),
            "$.passwd.users.0.shouldExist",
            2,
            false,
        ),
        (
            json!({"passwd": {"groups": [{"name": "a", "shouldExist": false}]}}),
            "$.passwd.groups.0.shouldExist",
            2,
            false,
        ),
        (
            part(json!({"number": 1, "resize": true})),
            "$.storage.disks.0.partitions.0.resize",
            2,
            false,
        ),
        (luks(json!({})), "$.storage.luks", 2, false),
        (
            json!({"storage": {"files": [{"path": "/a", "contents": {"source": "gs://b/o"}}]}}),
            "$.storage.files.0.contents.source",
            2,
            false,
        ),
        (
            json!({"kernelArguments": {"shouldExist": ["quiet"]}}),
            "$.kernelArguments",
            3,
            false,
        ),
        (
            json!({"storage": {"filesystems": [{"device": "/dev/vdb", "format": "none"}]}}),
            "$.storage.filesystems.0.format",
            3,
            false,
        ),
        (
            luks(json!({"discard": true})),
            "$.storage.luks.0.discard",
            4,
            false,
        ),
        (
            luks(json!({"openOptions": ["--allow-discards"]})),
            "$.storage.luks.0.openOptions",
            4,
            false,
        ),
        (
            luks(
                json!({"clevis": {"tang": [{"url": "http://t", "thumbprint": "x",
                "advertisement": "{}"}]}}),
            ),
            "$.storage.luks.0.clevis.tang.0.advertisement",
            4,
            false,
        ),
        (
            json!({"storage": {"files": [{"path": "/a",
                "append": [{"source": "arn:aws:s3:::bucket/key"}]}]}}),
            "$.storage.files.0.append.0.source",
            4,
            false,
        ),
        (
            part(json!({"number": 1, "shouldExist": false})).pipe(|mut v| {
                v["storage"]["disks"][0]["partitions"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"label": "x"}));
                v
            }),
            "$.storage.disks.0.partitions",
            4,
            false,
        ),
        (
            luks(json!({"cex": {"enabled": true}})),
            "$.storage.luks.0.cex",
            5,
            false,
        ),
        (
            json!({"storage": {"files": [{"path": "/a", "mode": 0o4755}]}}),
            "$.storage.files.0.mode",
            6,
            false,
        ),
        (
            json!({"storage": {"directories": [{"path": "/t", "mode": 0o1777}]}}),
            "$.storage.directories.0.mode",
            6,
            false,
        ),
        (
            luks(json!({"clevis": {"custom": {"pin": "fido2", "config": "{}"}}})),
            "$.storage.luks.0.clevis.custom.pin",
            6,
            false,
        ),
        (
            part(json!({"number": 1, "wipePartitionEntry": true})),
            "$.storage.disks.0.partitions.0.wipePartitionEntry",
            0,
            false,
        ),
        (
            part(json!({"number": 1, "shouldExist": false})),
            "$.storage.disks.0.partitions.0.shouldExist",
            0,
            false,
        ),
    ]
}

trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}
impl Pipe for Value {}

fn at_36(mut fragment: Value) -> Config {
    let ign = fragment
        .as_object_mut()
        .unwrap()
        .entry("ignition")
        .or_insert(json!({}));
    ign["version"] = json!("3.6.0");
    parse(&fragment)
}

#[test]
fn every_inexpressible_field_is_named() {
    for (fragment, path, minor, in_22) in inexpressible() {
        let cfg = at_36(fragment);
        for target in TARGETS {
            let expressible = match target.major {
                2 => in_22,
                _ => target.since(minor),
            };
            let result = down(&cfg, target);
            if expressible {
                let out = result.unwrap_or_else(|e| panic!("{path} in {target}: {e}"));
                if target.major == 3 {
                    assert_eq!(parse(&out), cfg, "{path} in {target}");
                }
                continue;
            }
            let err = result.expect_err(&format!("{path} in {target}"));
            // Below 3.2 a LUKS field is reported as LUKS itself.
            let luks_inner = path.starts_with("$.storage.luks.");
            let expected = match luks_inner && !target.since(2) {
                true => "$.storage.luks",
                false => path,
            };
            let first = &err.problems()[0];
            assert_eq!(first.path.to_string(), expected, "{target}: {err}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("{expected}: not expressible in spec {target} (")),
                "{msg}"
            );
        }
    }
}

#[test]
fn messages_say_what_is_needed() {
    let cfg = at_36(
        json!({"storage": {"luks": [{"name": "a", "device": "/dev/vdb"}]},
        "kernelArguments": {"shouldExist": ["quiet"]}}),
    );
    let err = down(&cfg, v3(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$.kernelArguments: not expressible in spec 3.1.0 (kernelArguments needs 3.3.0); \
         $.storage.luks: not expressible in spec 3.1.0 (luks needs 3.2.0)"
    );
    let err = down(&cfg, V22).unwrap_err();
    assert_eq!(err.problems().len(), 2);
    assert!(err
        .to_string()
        .contains("$.storage.luks: not expressible in spec 2.2.0 (luks needs 3.2.0)"));
    assert_eq!(
        down(&cfg, SpecVersion::new(2, 3)).unwrap_err(),
        DownError::UnsupportedTarget(SpecVersion::new(2, 3))
    );
}

#[test]
fn no_op_settings_of_missing_fields_are_left_out() {
    let cfg = at_36(json!({
        "passwd": {"users": [{"name": "a", "shouldExist": true}],
                   "groups": [{"name": "g", "shouldExist": true}]},
        "ignition": {"config": {"merge": [{"source": "https://a/b", "compression": ""}]}},
        "storage": {
            "disks": [{"device": "/dev/vdb", "partitions": [{"number": 1, "resize": false}]}],
            "luks": [{"name": "l", "device": "/dev/vdc", "discard": false, "cex": {"enabled": false},
                      "clevis": {"tang": [{"url": "http://t", "thumbprint": "x", "advertisement": ""}]}}]
        }
    }));
    let out = down(&cfg, v3(2)).unwrap();
    let text = out.to_string();
    for gone in ["discard", "cex", "advertisement"] {
        assert!(!text.contains(gone), "{gone}: {text}");
    }
    let out = down(&cfg.clone().pipe_luks_free(), v3(0)).unwrap();
    let text = out.to_string();
    for gone in ["shouldExist", "resize", "compression"] {
        assert!(!text.contains(gone), "{gone}: {text}");
    }
    parse(&out);
}

trait LuksFree {
    fn pipe_luks_free(self) -> Self;
}
impl LuksFree for Config {
    fn pipe_luks_free(mut self) -> Self {
        self.storage.luks.clear();
        self
    }
}

/// A config 2.2.0 can express, without values that 2.x writes as defaults.
fn representative() -> Value {
    let mut c = features(0);
    c["ignition"]["version"] = json!("3.6.0");
    // 2.2 partitions have neither wipePartitionEntry nor shouldExist.
    c["storage"]["disks"][0]["partitions"][1]
        .as_object_mut()
        .unwrap()
        .remove("wipePartitionEntry");
    // 2.x writes an unset file overwrite as false, and no contents as "".
    c["storage"]["files"][1]["overwrite"] = json!(false);
    c["storage"]["files"][2]["overwrite"] = json!(false);
    c["storage"]["files"][2]["contents"] = json!({"source": ""});
    c["storage"]["files"].as_array_mut().unwrap().push(
        json!({"path": "/var/data/sub/only-appends", "overwrite": false,
                     "append": [{"source": "data:,1"}, {"source": "data:,2"}]}),
    );
    c
}

fn up_from_22(out: &Value, mount_paths: &HashMap<String, String>) -> Config {
    let text = serde_json::to_string(out).unwrap();
    let root = ignition::json::parse(&text).unwrap();
    let (cfg, report) = ignition::v2::translate_with_paths(&root, V22, mount_paths)
        .unwrap_or_else(|r| panic!("{r}\n{text}"));
    assert!(report.findings.is_empty(), "{report}\n{text}");
    let findings = ignition::validate::validate(&cfg, v3(0));
    assert!(!findings.has_errors(), "{findings}\n{text}");
    cfg
}

#[test]
fn v22_output_translates_back_to_the_same_model() {
    let cfg = parse(&representative());
    let out = down(&cfg, V22).unwrap();
    assert_eq!(out["ignition"]["version"], "2.2.0");
    let files = out["storage"]["files"].as_array().unwrap();
    // /etc/a: contents, then one append entry per resource.
    let appends: Vec<&Value> = files.iter().filter(|f| f["path"] == "/etc/a").collect();
    assert_eq!(appends.len(), 3);
    assert_eq!(appends[0]["overwrite"], true);
    assert_eq!(appends[0].get("append"), None);
    assert_eq!(appends[1]["append"], true);
    assert_eq!(appends[1]["overwrite"], false);
    assert!(files.iter().all(|f| f.get("overwrite").is_some()));
    // Nodes on /var/data are on the filesystem named by that path.
    let log = files.iter().find(|f| f["path"] == "/log").unwrap();
    assert_eq!(log["filesystem"], "/var/data");
    assert_eq!(out["storage"]["filesystems"][0]["name"], "/var/data");
    assert_eq!(out["storage"]["filesystems"][1]["name"], "1");
    assert_eq!(out["storage"]["links"][0]["filesystem"], "root");
    assert_eq!(out["storage"]["disks"][0]["partitions"][0]["start"], 2048);
    assert_eq!(out["storage"]["disks"][0]["partitions"][0]["size"], 204800);

    let paths = HashMap::from([("/var/data".to_string(), "/var/data".to_string())]);
    let mut back = up_from_22(&out, &paths);
    back.ignition.version = cfg.ignition.version.clone();
    assert_eq!(back, cfg);

    // Chosen names; the caller maps them back to mount paths.
    let names = HashMap::from([("/var/data".to_string(), "data".to_string())]);
    let out = downtranslate::to_spec_2_2_with_fs_names(&cfg, &names).unwrap();
    assert_eq!(out["storage"]["filesystems"][0]["name"], "data");
    let paths = HashMap::from([("data".to_string(), "/var/data".to_string())]);
    let mut back = up_from_22(&out, &paths);
    back.ignition.version = cfg.ignition.version.clone();
    assert_eq!(back, cfg);

    let bad = HashMap::from([("/var/data".to_string(), "root".to_string())]);
    let err = downtranslate::to_spec_2_2_with_fs_names(&cfg, &bad).unwrap_err();
    assert_eq!(
        err.problems()[0].path.to_string(),
        "$.storage.filesystems.0.path"
    );
}

#[test]
fn v22_without_named_filesystems_parses_back_directly() {
    let mut c = representative();
    c["storage"]["filesystems"] = json!([{"device": "/dev/vdb2", "format": "swap"}]);
    for f in c["storage"]["files"].as_array_mut().unwrap() {
        let p = f["path"]
            .as_str()
            .unwrap()
            .replace("/var/data", "/var/other");
        f["path"] = json!(p);
    }
    let cfg = parse(&c);
    let out = down(&cfg, V22).unwrap();
    let text = serde_json::to_string(&out).unwrap();
    let back = ignition::parse(text.as_bytes()).unwrap();
    assert_eq!(back.source_version, V22);
    assert_eq!(back.config, cfg);
}

#[test]
fn go_ignition_validate_accepts_3_0_to_3_3_output() {
    let go = Path::new("/usr/bin/ignition-validate");
    if !go.exists() {
        println!("skipping: /usr/bin/ignition-validate (Go Ignition 2.14) is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mooring-downtranslate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut configs: Vec<Config> = (0..=3).map(|m| parse(&features(m))).collect();
    configs.push(parse(&representative()));
    // 2.2.0 is not checked: Go Ignition 2.14 reads only 3.x.
    for (i, cfg) in configs.iter().enumerate() {
        for target in (0..=3).map(v3) {
            let Ok(out) = down(cfg, target) else { continue };
            let file = dir.join(format!("c{i}-{target}.ign"));
            std::fs::write(&file, serde_json::to_vec(&out).unwrap()).unwrap();
            let run = Command::new(go).arg(&file).output().unwrap();
            assert!(
                run.status.success(),
                "config {i} as {target}: {}{}\n{out}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
