//! Table-driven tests of the 2.x translation, and round trips through the
//! public parser.

use std::collections::HashMap;

use super::translate_with_paths;
use crate::model::Config;
use crate::version::SpecVersion;

/// A 2.x config of `version` with the given top-level members after `ignition`.
fn v2(version: &str, rest: &str) -> String {
    let sep = if rest.is_empty() { "" } else { "," };
    format!(r#"{{"ignition":{{"version":"{version}"}}{sep}{rest}}}"#)
}

/// The expected 3.0.0 translation, from 3.x JSON.
fn v3(rest: &str) -> Config {
    let text = if rest.starts_with(r#""ignition""#) {
        format!("{{{rest}}}")
    } else {
        let sep = if rest.is_empty() { "" } else { "," };
        format!(r#"{{"ignition":{{"version":"3.0.0"}}{sep}{rest}}}"#)
    };
    serde_json::from_str(&text).expect("expected config is valid JSON")
}

/// Translates `text`; the config (if there were no errors) and every finding
/// as `severity at path: message`.
fn run(text: &str, paths: &[(&str, &str)]) -> (Option<Config>, Vec<String>) {
    let root = crate::json::parse(text).expect("test input is JSON");
    let version = crate::version::detect(&root).expect("test input has a version");
    let paths: HashMap<String, String> = paths
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let show = |r: &crate::Report| {
        r.findings
            .iter()
            .map(|f| format!("{} at {}: {}", f.severity, f.path, f.message))
            .collect()
    };
    match translate_with_paths(&root, version, &paths) {
        Ok((config, report)) => (Some(config), show(&report)),
        Err(report) => (None, show(&report)),
    }
}

struct Case {
    name: &'static str,
    version: &'static str,
    input: &'static str,
    paths: &'static [(&'static str, &'static str)],
    expected: &'static str,
    warnings: &'static [&'static str],
}

const fn case(name: &'static str, input: &'static str, expected: &'static str) -> Case {
    Case {
        name,
        version: "2.3.0",
        input,
        paths: &[],
        expected,
        warnings: &[],
    }
}

const TRANSLATIONS: &[Case] = &[
    case("empty", "", ""),
    case(
        "ignition section",
        r#""ignition":{"version":"2.3.0","config":{"append":[{"source":"https://a/x.ign","verification":{"hash":"sha512-00"}}],"replace":{"source":"https://a/r.ign"}},"timeouts":{"httpResponseHeaders":5,"httpTotal":60},"security":{"tls":{"certificateAuthorities":[{"source":"https://a/ca.pem"}]}}}"#,
        r#""ignition":{"version":"3.0.0","config":{"merge":[{"source":"https://a/x.ign","verification":{"hash":"sha512-00"}}],"replace":{"source":"https://a/r.ign"}},"timeouts":{"httpResponseHeaders":5,"httpTotal":60},"security":{"tls":{"certificateAuthorities":[{"source":"https://a/ca.pem"}]}}}"#,
    ),
    case(
        "root file: path, mode, contents, owners, overwrite defaults to true",
        r#""storage":{"files":[{"filesystem":"root","path":"/etc/motd","mode":420,"user":{"id":0},"group":{"name":"wheel"},"contents":{"source":"data:,hi","compression":"gzip","verification":{"hash":"sha512-ab"}}}]}"#,
        r#""storage":{"files":[{"path":"/etc/motd","mode":420,"overwrite":true,"user":{"id":0},"group":{"name":"wheel"},"contents":{"source":"data:,hi","compression":"gzip","verification":{"hash":"sha512-ab"}}}]}"#,
    ),
    case(
        "file without contents is an empty file; explicit overwrite kept",
        r#""storage":{"files":[{"filesystem":"root","path":"/a"},{"filesystem":"root","path":"/b","overwrite":false}]}"#,
        r#""storage":{"files":[{"path":"/a","overwrite":true,"contents":{"source":""}},{"path":"/b","overwrite":false,"contents":{"source":""}}]}"#,
    ),
    case(
        "append becomes an append resource and no overwrite",
        r#""storage":{"files":[{"filesystem":"root","path":"/etc/hosts","append":true,"contents":{"source":"data:,x"}}]}"#,
        r#""storage":{"files":[{"path":"/etc/hosts","overwrite":false,"append":[{"source":"data:,x"}]}]}"#,
    ),
    case(
        "a later append to the same file joins its append list",
        r#""storage":{"files":[{"filesystem":"root","path":"/f","mode":384,"contents":{"source":"data:,a"}},{"filesystem":"root","path":"/f","append":true,"contents":{"source":"data:,b"}},{"filesystem":"root","path":"/f","append":true,"mode":384,"contents":{"source":"data:,b"}}]}"#,
        r#""storage":{"files":[{"path":"/f","mode":384,"overwrite":true,"contents":{"source":"data:,a"},"append":[{"source":"data:,b"},{"source":"data:,b"}]}]}"#,
    ),
    case(
        "paths are cleaned",
        r#""storage":{"directories":[{"filesystem":"root","path":"/var//lib/./x/../y/"}]}"#,
        r#""storage":{"directories":[{"path":"/var/lib/y"}]}"#,
    ),
    case(
        "directories and links keep overwrite unset by default",
        r#""storage":{"directories":[{"filesystem":"root","path":"/d","mode":493,"overwrite":true,"user":{"name":"core"}}],"links":[{"filesystem":"root","path":"/l","target":"/d","hard":true},{"filesystem":"root","path":"/s","target":"d"}]}"#,
        r#""storage":{"directories":[{"path":"/d","mode":493,"overwrite":true,"user":{"name":"core"}}],"links":[{"path":"/l","target":"/d","hard":true},{"path":"/s","target":"d"}]}"#,
    ),
    Case {
        name: "named filesystem with a known mount path",
        version: "2.3.0",
        input: r#""storage":{"filesystems":[{"name":"data","mount":{"device":"/dev/vdb","format":"xfs","wipeFilesystem":true,"label":"DATA","uuid":"u","options":["-m","0"]}}],"files":[{"filesystem":"data","path":"/x","contents":{"source":"data:,"}}],"links":[{"filesystem":"data","path":"/l","target":"x"}]}"#,
        paths: &[("data", "/var/data")],
        expected: r#""storage":{"filesystems":[{"device":"/dev/vdb","format":"xfs","wipeFilesystem":true,"label":"DATA","uuid":"u","options":["-m","0"],"path":"/var/data"}],"files":[{"path":"/var/data/x","overwrite":true,"contents":{"source":"data:,"}}],"links":[{"path":"/var/data/l","target":"x"}]}"#,
        warnings: &[],
    },
    case(
        "filesystem nobody writes to needs no mount path; root gets none",
        r#""storage":{"filesystems":[{"name":"scratch","mount":{"device":"/dev/vdc","format":"ext4"}},{"name":"root","mount":{"device":"/dev/disk/by-label/root","format":"xfs","wipeFilesystem":true,"label":"root"}}]}"#,
        r#""storage":{"filesystems":[{"device":"/dev/vdc","format":"ext4"},{"device":"/dev/disk/by-label/root","format":"xfs","wipeFilesystem":true,"label":"root"}]}"#,
    ),
    case(
        "units: enable, enabled, mask, dropins",
        r#""systemd":{"units":[{"name":"a.service","enable":true,"contents":"[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target"},{"name":"b.service","enabled":false},{"name":"c.service","mask":true},{"name":"d.service","dropins":[{"name":"x.conf","contents":"[Service]\nNice=1"}]},{"name":"e.service","enabled":true,"enable":false}]}"#,
        r#""systemd":{"units":[{"name":"a.service","enabled":true,"contents":"[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target"},{"name":"b.service","enabled":false},{"name":"c.service","mask":true},{"name":"d.service","dropins":[{"name":"x.conf","contents":"[Service]\nNice=1"}]},{"name":"e.service","enabled":true}]}"#,
    ),
    Case {
        name: "enabled: false wins over enable",
        version: "2.2.0",
        input: r#""systemd":{"units":[{"name":"a.service","enable":true,"enabled":false}]}"#,
        paths: &[],
        expected: r#""systemd":{"units":[{"name":"a.service","enabled":false}]}"#,
        warnings: &["warning at $.systemd.units.0.enable: enable is deprecated and enabled is false; the unit is not enabled"],
    },
    case(
        "entries for one unit add up",
        r#""systemd":{"units":[{"name":"a.service","dropins":[{"name":"1.conf","contents":"[Unit]"}]},{"name":"a.service","enabled":true,"dropins":[{"name":"1.conf","contents":"[Unit]"},{"name":"2.conf"}]}]}"#,
        r#""systemd":{"units":[{"name":"a.service","enabled":true,"dropins":[{"name":"1.conf","contents":"[Unit]"},{"name":"2.conf"}]}]}"#,
    ),
    case(
        "passwd",
        r#""passwd":{"users":[{"name":"core","passwordHash":"$6$x","sshAuthorizedKeys":["ssh-ed25519 AAAA"],"uid":1000,"gecos":"Core","homeDir":"/home/core","noCreateHome":true,"primaryGroup":"core","groups":["wheel"],"noUserGroup":true,"noLogInit":true,"shell":"/bin/bash","system":true}],"groups":[{"name":"ops","gid":2000,"passwordHash":"*","system":true},{"name":"dev"}]}"#,
        r#""passwd":{"users":[{"name":"core","passwordHash":"$6$x","sshAuthorizedKeys":["ssh-ed25519 AAAA"],"uid":1000,"gecos":"Core","homeDir":"/home/core","noCreateHome":true,"primaryGroup":"core","groups":["wheel"],"noUserGroup":true,"noLogInit":true,"shell":"/bin/bash","system":true}],"groups":[{"name":"ops","gid":2000,"passwordHash":"*","system":true},{"name":"dev"}]}"#,
    ),
    Case {
        name: "identical duplicates are dropped with a warning",
        version: "2.3.0",
        input: r#""passwd":{"users":[{"name":"core"},{"name":"core"}]}"#,
        paths: &[],
        expected: r#""passwd":{"users":[{"name":"core"}]}"#,
        warnings: &["warning at $.passwd.users.1: duplicate of the user at $.passwd.users.0; dropped"],
    },
    Case {
        name: "2.2 partitions in sectors",
        version: "2.2.0",
        input: r#""storage":{"disks":[{"device":"/dev/vda","wipeTable":true,"partitions":[{"number":1,"label":"boot","start":2048,"size":1048576,"typeGuid":"C12A7328-F81F-11D2-BA4B-00A0C93EC93B","guid":"11111111-2222-3333-4444-555555555555"},{"number":2,"label":"","size":0}]}]}"#,
        paths: &[],
        expected: r#""storage":{"disks":[{"device":"/dev/vda","wipeTable":true,"partitions":[{"number":1,"label":"boot","startMiB":1,"sizeMiB":512,"typeGuid":"C12A7328-F81F-11D2-BA4B-00A0C93EC93B","guid":"11111111-2222-3333-4444-555555555555"},{"number":2,"sizeMiB":0}]}]}"#,
        warnings: &[],
    },
    case(
        "2.3 partitions in MiB, and the 2.3 partition fields",
        r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1,"startMiB":1,"sizeMiB":100,"label":""},{"number":2,"shouldExist":false,"wipePartitionEntry":true},{"number":3,"start":4096}]}]}"#,
        r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1,"startMiB":1,"sizeMiB":100,"label":""},{"number":2,"shouldExist":false,"wipePartitionEntry":true},{"number":3,"startMiB":2}]}]}"#,
    ),
    Case {
        name: "2.3 partition fields are unknown in 2.2",
        version: "2.2.0",
        input: r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1,"sizeMiB":10,"startMiB":1,"shouldExist":true,"wipePartitionEntry":true}]}]}"#,
        paths: &[],
        expected: r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1}]}]}"#,
        warnings: &[
            "warning at $.storage.disks.0.partitions.0.sizeMiB: Unused key sizeMiB",
            "warning at $.storage.disks.0.partitions.0.startMiB: Unused key startMiB",
            "warning at $.storage.disks.0.partitions.0.shouldExist: Unused key shouldExist",
            "warning at $.storage.disks.0.partitions.0.wipePartitionEntry: Unused key wipePartitionEntry",
        ],
    },
    case(
        "raid",
        r#""storage":{"raid":[{"name":"md0","level":"raid1","devices":["/dev/vda1","/dev/vdb1"],"spares":1,"options":["--bitmap=none"]},{"name":"md1","level":"raid0","devices":["/dev/vdc"]}]}"#,
        r#""storage":{"raid":[{"name":"md0","level":"raid1","devices":["/dev/vda1","/dev/vdb1"],"spares":1,"options":["--bitmap=none"]},{"name":"md1","level":"raid0","devices":["/dev/vdc"]}]}"#,
    ),
    Case {
        name: "unknown keys are warnings at their 2.x path",
        version: "2.3.0",
        input: r#""storage":{"files":[{"filesystem":"root","path":"/a","bogus":1}]},"kernelArguments":{}"#,
        paths: &[],
        expected: r#""storage":{"files":[{"path":"/a","overwrite":true,"contents":{"source":""}}]}"#,
        warnings: &[
            "warning at $.kernelArguments: Unused key kernelArguments",
            "warning at $.storage.files.0.bogus: Unused key bogus",
        ],
    },
];

#[test]
fn translations() {
    for c in TRANSLATIONS {
        let text = if c.input.starts_with(r#""ignition""#) {
            format!("{{{}}}", c.input)
        } else {
            v2(c.version, c.input)
        };
        let (config, findings) = run(&text, c.paths);
        assert_eq!(findings, c.warnings, "{}", c.name);
        let config = config.unwrap_or_else(|| panic!("{}: refused", c.name));
        assert_eq!(config, v3(c.expected), "{}", c.name);
    }
}

/// (name, version, input, mount paths, expected errors)
type ErrorCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const ERRORS: &[ErrorCase] = &[
    (
        "file on a filesystem without a mount path",
        "2.3.0",
        r#""storage":{"filesystems":[{"name":"data","mount":{"device":"/dev/vdb","format":"xfs"}}],"files":[{"filesystem":"root","path":"/a"},{"filesystem":"root","path":"/b"},{"filesystem":"root","path":"/c"},{"filesystem":"data","path":"/x"}]}"#,
        &[],
        &[r#"error at $.storage.files.3.filesystem: filesystem "data" has no known mount path; cannot translate to spec 3"#],
    ),
    (
        "filesystem with path instead of mount",
        "2.2.0",
        r#""storage":{"filesystems":[{"name":"old","path":"/sysroot/var"}],"directories":[{"filesystem":"old","path":"/d"}]}"#,
        &[],
        &[
            r#"error at $.storage.filesystems.0.path: filesystem "old" uses path instead of mount; a filesystem mounted outside Ignition cannot be translated to spec 3"#,
            r#"error at $.storage.directories.0.filesystem: filesystem "old" has no known mount path; cannot translate to spec 3"#,
        ],
    ),
    (
        "filesystem with both or neither",
        "2.3.0",
        r#""storage":{"filesystems":[{"name":"a","path":"/x","mount":{"device":"/dev/vdb","format":"xfs"}},{"name":"b"}]}"#,
        &[],
        &[
            r#"error at $.storage.filesystems.0: filesystem "a" has both mount and path"#,
            r#"error at $.storage.filesystems.1: filesystem "b" has neither mount nor path"#,
        ],
    ),
    (
        "mount.create",
        "2.3.0",
        r#""storage":{"filesystems":[{"name":"data","mount":{"device":"/dev/vdb","format":"xfs","create":{"force":true,"options":["-f"]}}}]}"#,
        &[("data", "/var")],
        &["error at $.storage.filesystems.0.mount.create: create is deprecated and cannot be translated to spec 3; use wipeFilesystem and options instead"],
    ),
    (
        "networkd units",
        "2.3.0",
        r#""networkd":{"units":[{"name":"10-eth0.network","contents":"[Match]\nName=eth0"}]}"#,
        &[],
        &["error at $.networkd.units.0: networkd units cannot be translated to spec 3; write them as storage.files under /etc/systemd/network/"],
    ),
    (
        "append with overwrite",
        "2.3.0",
        r#""storage":{"files":[{"filesystem":"root","path":"/a","append":true,"overwrite":true}]}"#,
        &[],
        &["error at $.storage.files.0.overwrite: cannot use append with overwrite"],
    ),
    (
        "user create",
        "2.2.0",
        r#""passwd":{"users":[{"name":"core","create":{"uid":1000}}]}"#,
        &[],
        &["error at $.passwd.users.0.create: create is deprecated and cannot be translated to spec 3; set the user's own fields instead"],
    ),
    (
        "conflicting duplicates",
        "2.3.0",
        r#""storage":{"files":[{"filesystem":"root","path":"/a","contents":{"source":"data:,1"}},{"filesystem":"root","path":"/a","contents":{"source":"data:,2"}}],"raid":[{"name":"md0","level":"raid1","devices":["/dev/a"]},{"name":"md0","level":"raid0","devices":["/dev/a"]}]},"passwd":{"users":[{"name":"core","uid":1},{"name":"core","uid":2}]},"systemd":{"units":[{"name":"a.service","contents":"[Unit]"},{"name":"a.service","contents":"[Service]"},{"name":"b.service","dropins":[{"name":"x.conf","contents":"[Unit]"},{"name":"x.conf"}]}]}"#,
        &[],
        &[
            r#"error at $.passwd.users.1: user "core" conflicts with the one at $.passwd.users.0; cannot translate to spec 3"#,
            r#"error at $.storage.files.1: file "/a" conflicts with the one at $.storage.files.0; cannot translate to spec 3"#,
            r#"error at $.storage.raid.1: raid "md0" conflicts with the one at $.storage.raid.0; cannot translate to spec 3"#,
            r#"error at $.systemd.units.2.dropins.1: dropin "x.conf" conflicts with the one at $.systemd.units.2.dropins.0; cannot translate to spec 3"#,
            r#"error at $.systemd.units.1: unit "a.service" conflicts with the one at $.systemd.units.0; cannot translate to spec 3"#,
        ],
    ),
    (
        "append with a different mode conflicts",
        "2.3.0",
        r#""storage":{"files":[{"filesystem":"root","path":"/a","mode":420},{"filesystem":"root","path":"/a","append":true,"mode":384}]}"#,
        &[],
        &[r#"error at $.storage.files.1: file "/a" conflicts with the one at $.storage.files.0; cannot translate to spec 3"#],
    ),
    (
        "one path, two kinds",
        "2.3.0",
        r#""storage":{"filesystems":[{"name":"var","mount":{"device":"/dev/vdb","format":"xfs"}}],"files":[{"filesystem":"var","path":"/x"}],"directories":[{"filesystem":"root","path":"/var/x"}]}"#,
        &[("var", "/var")],
        &[r#"error at $.storage.directories.0: path "/var/x" is also used by the entry at $.storage.files.0; cannot translate to spec 3"#],
    ),
    (
        "partitions not in whole MiB, or in both units",
        "2.3.0",
        r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1,"start":34,"size":4096},{"number":2,"size":2048,"sizeMiB":1}]}]}"#,
        &[],
        &[
            "error at $.storage.disks.0.partitions.0.start: start 34 is not a multiple of 2048 sectors (1 MiB); cannot translate to spec 3",
            "error at $.storage.disks.0.partitions.1: cannot use both sectors (start, size) and MiB (startMiB, sizeMiB)",
        ],
    ),
    (
        "2.2 partition size not in whole MiB",
        "2.2.0",
        r#""storage":{"disks":[{"device":"/dev/vda","partitions":[{"number":1,"size":1000}]}]}"#,
        &[],
        &["error at $.storage.disks.0.partitions.0.size: size 1000 is not a multiple of 2048 sectors (1 MiB); cannot translate to spec 3"],
    ),
    (
        "nodes need a filesystem and an absolute path",
        "2.3.0",
        r#""storage":{"files":[{"path":"/a"}],"links":[{"filesystem":"root","path":"l","target":"/a"}]}"#,
        &[],
        &[
            "error at $.storage.files.0.filesystem: no filesystem specified",
            "error at $.storage.links.0.path: path not absolute",
        ],
    ),
    (
        "type errors are decoding errors at their path",
        "2.3.0",
        r#""storage":{"files":[{"filesystem":"root","path":"/a","mode":"0644","append":"yes"}]}"#,
        &[],
        &[
            "error at $.storage.files.0.mode: cannot use string as an integer",
            "error at $.storage.files.0.append: cannot use string as a boolean",
        ],
    ),
];

#[test]
fn refusals() {
    for (name, version, input, paths, expected) in ERRORS {
        let (config, findings) = run(&v2(version, input), paths);
        assert!(config.is_none(), "{name}: translated");
        let errors: Vec<&String> = findings.iter().filter(|f| f.starts_with("error")).collect();
        assert_eq!(errors, *expected, "{name}");
    }
}

const FULL_22: &str = r#"{
  "ignition": {"version": "2.2.0",
    "config": {"append": [{"source": "https://example.com/extra.ign"}]},
    "timeouts": {"httpTotal": 30}},
  "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA core"], "groups": ["wheel"]}]},
  "storage": {
    "disks": [{"device": "/dev/vdb", "wipeTable": true,
      "partitions": [{"number": 1, "label": "data", "start": 2048, "size": 0}]}],
    "filesystems": [{"name": "data", "mount": {"device": "/dev/disk/by-partlabel/data", "format": "xfs", "wipeFilesystem": true}}],
    "files": [
      {"filesystem": "root", "path": "/etc/hostname", "mode": 420, "contents": {"source": "data:,node1"}},
      {"filesystem": "root", "path": "/etc/profile.d/x.sh", "append": true, "contents": {"source": "data:,export%20A=1"}}],
    "directories": [{"filesystem": "root", "path": "/var/lib/app", "mode": 493}],
    "links": [{"filesystem": "root", "path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC"}]},
  "systemd": {"units": [
    {"name": "app.service", "enable": true, "contents": "[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n"},
    {"name": "docker.service", "mask": true}]}
}"#;

const FULL_23: &str = r#"{
  "ignition": {"version": "2.3.0",
    "config": {"replace": {"source": "https://example.com/other.ign", "verification": {"hash": "sha512-cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"}}},
    "security": {"tls": {"certificateAuthorities": [{"source": "data:,ca"}]}}},
  "passwd": {"groups": [{"name": "ops", "gid": 4000}]},
  "storage": {
    "disks": [{"device": "/dev/vda", "partitions": [{"number": 4, "sizeMiB": 8192, "label": "root"}, {"number": 5, "label": "var", "startMiB": 0, "sizeMiB": 0}]}],
    "raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/vdc", "/dev/vdd"]}],
    "files": [{"filesystem": "root", "path": "/etc/issue", "overwrite": false, "user": {"name": "core"}, "group": {"id": 0}, "contents": {"source": "data:,hello", "compression": ""}}]},
  "systemd": {"units": [{"name": "app.service", "enabled": false, "dropins": [{"name": "10-x.conf", "contents": "[Service]\nNice=5\n"}]}]}
}"#;

#[test]
fn round_trips_through_the_3x_parser() {
    for (name, text) in [("2.2", FULL_22), ("2.3", FULL_23)] {
        let parsed = crate::parse(text.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "{name}: {e}\n{}",
                e.report().map(|r| r.to_string()).unwrap_or_default()
            )
        });
        let json = crate::config::to_json(&parsed.config);
        let again = crate::parse(json.as_bytes()).expect("translated config parses");
        assert_eq!(again.config, parsed.config, "{name}");
        assert_eq!(again.source_version, SpecVersion::LATEST, "{name}");
    }
}

#[test]
fn full_22_translation() {
    let (config, findings) = run(FULL_22, &[("data", "/var/data")]);
    assert_eq!(findings, Vec::<String>::new());
    let c = config.expect("translates");
    assert_eq!(c.ignition.version, "3.0.0");
    assert_eq!(c.storage.filesystems[0].path.as_deref(), Some("/var/data"));
    assert_eq!(c.storage.disks[0].partitions[0].start_mib, Some(1));
    assert_eq!(c.storage.files[1].append.len(), 1);
    assert_eq!(c.systemd.units[0].enabled, Some(true));
}

#[test]
fn public_parse_of_a_22_config() {
    let text = br#"{"ignition":{"version":"2.2.0"},"storage":{"files":[{"filesystem":"root","path":"/etc/motd","mode":420,"contents":{"source":"data:,hi"}}]}}"#;
    let parsed = crate::parse(text).expect("2.2 config parses");
    assert_eq!(parsed.source_version, SpecVersion::new(2, 2));
    assert_eq!(parsed.config.ignition.version, "3.6.0");
    assert_eq!(parsed.config.storage.files[0].path, "/etc/motd");
    assert_eq!(parsed.config.storage.files[0].overwrite, Some(true));
}

#[test]
fn public_parse_locates_translation_errors() {
    let text = br#"{"ignition":{"version":"2.3.0"},"networkd":{"units":[{"name":"a.network"}]}}"#;
    let err = crate::parse(text).expect_err("networkd is refused");
    let report = err.report().expect("has a report");
    assert_eq!(
        report.to_string(),
        "error at $.networkd.units.0, line 1 col 55: networkd units cannot be translated to spec 3; write them as storage.files under /etc/systemd/network/\n"
    );
}
