//! Round trips of translation: a config of each 3.x version becomes the
//! latest spec, and that latest-spec JSON parses back to the same model.

use ignition::SpecVersion;

/// A config that uses fields of every 3.x version up to `minor`.
fn config_for(minor: u8) -> String {
    let mut storage = vec![
        r#""files":[{"path":"/etc/a","mode":420,"overwrite":true,"user":{"name":"core"},
            "contents":{"source":"data:,a","compression":"",
              "verification":{"hash":"sha512-HASH"}},
            "append":[{"source":"data:,b"}]}]"#
            .replace("HASH", &"0".repeat(128)),
        r#""directories":[{"path":"/var/d","mode":493,"group":{"id":10}}]"#.to_string(),
        r#""links":[{"path":"/etc/l","target":"/etc/a","hard":false}]"#.to_string(),
        r#""disks":[{"device":"/dev/vdb","wipeTable":true,"partitions":[{"number":1,"label":"p","startMiB":1,"sizeMiB":100,"typeGuid":"0FC63DAF-8483-4772-8E79-3D69D8477DE4"}]}]"#.to_string(),
        r#""raid":[{"name":"md0","level":"raid1","devices":["/dev/vdc","/dev/vdd"],"spares":0}]"#.to_string(),
    ];
    let mut fs = r#"{"device":"/dev/vdb1","format":"xfs","label":"data","path":"/var/data","wipeFilesystem":true,"options":["-m","0"]"#.to_string();
    let mut ignition = format!(r#""version":"3.{minor}.0","timeouts":{{"httpTotal":30}}"#);
    let mut user =
        r#"{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA"],"groups":["wheel"]"#.to_string();
    let mut extra = String::new();
    if minor >= 1 {
        fs.push_str(r#","mountOptions":["noatime"]"#);
        ignition
            .push_str(r#","proxy":{"httpsProxy":"https://proxy:3128","noProxy":["localhost"]}"#);
        ignition.push_str(
            r#","config":{"merge":[{"source":"data:,%7B%7D","compression":"","httpHeaders":[]}]}"#,
        );
    }
    if minor >= 2 {
        user.push_str(r#","shouldExist":true"#);
        let mut luks =
            r#"{"name":"secret","device":"/dev/vde","wipeVolume":true,"clevis":{"tpm2":true}"#
                .to_string();
        if minor >= 4 {
            luks.push_str(r#","discard":true,"openOptions":["--perf-no_read_workqueue"]"#);
        }
        if minor >= 5 {
            luks = r#"{"name":"secret","device":"/dev/vde","cex":{"enabled":false}"#.to_string();
        }
        luks.push('}');
        storage.push(format!(r#""luks":[{luks}]"#));
    }
    if minor >= 3 {
        extra
            .push_str(r#","kernelArguments":{"shouldExist":["quiet"],"shouldNotExist":["debug"]}"#);
    }
    fs.push('}');
    user.push('}');
    storage.push(format!(r#""filesystems":[{fs}]"#));
    format!(
        r#"{{"ignition":{{{ignition}}},"storage":{{{}}},"passwd":{{"users":[{user}]}},
        "systemd":{{"units":[{{"name":"a.service","enabled":true,"contents":"[Install]\nWantedBy=multi-user.target\n",
        "dropins":[{{"name":"x.conf","contents":"[Service]\nNice=1\n"}}]}}]}}{extra}}}"#,
        storage.join(",")
    )
}

#[test]
fn every_3x_version_translates_to_the_latest_and_round_trips() {
    for minor in 0..=6u8 {
        let text = config_for(minor);
        let parsed = ignition::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("3.{minor}.0 config refused: {e}: {:?}", e.report()));
        assert_eq!(parsed.source_version, SpecVersion::new(3, minor));
        assert!(
            parsed.report.findings.is_empty(),
            "3.{minor}.0 findings: {}",
            parsed.report
        );
        assert_eq!(parsed.config.ignition.version, "3.6.0");
        let latest = ignition::to_json(&parsed.config);
        assert!(latest.contains(r#""version":"3.6.0""#));
        let again = ignition::parse(latest.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "latest JSON of 3.{minor}.0 refused: {e}: {:?}\n{latest}",
                e.report()
            )
        });
        assert_eq!(again.source_version, SpecVersion::LATEST);
        assert_eq!(
            again.config, parsed.config,
            "round trip of 3.{minor}.0 changed the model"
        );
        assert!(again.report.findings.is_empty(), "{}", again.report);
    }
}

#[test]
fn fields_are_kept_through_translation() {
    let parsed = ignition::parse(config_for(4).as_bytes()).unwrap();
    let c = &parsed.config;
    assert_eq!(
        c.storage.files[0].append[0].source.as_deref(),
        Some("data:,b")
    );
    assert_eq!(c.storage.filesystems[0].mount_options, vec!["noatime"]);
    assert_eq!(
        c.storage.luks[0].open_options,
        vec!["--perf-no_read_workqueue"]
    );
    assert_eq!(c.kernel_arguments.should_not_exist, vec!["debug"]);
    assert_eq!(c.passwd.users[0].should_exist, Some(true));
    assert_eq!(
        c.ignition.proxy.https_proxy.as_deref(),
        Some("https://proxy:3128")
    );
}

#[test]
fn later_fields_in_earlier_versions_are_dropped_with_a_warning() {
    // A 3.4 config's fields, labelled 3.0: the extras are unknown keys and not kept.
    let text = config_for(4).replace(r#""version":"3.4.0""#, r#""version":"3.0.0""#);
    let parsed = ignition::parse(text.as_bytes()).unwrap();
    let unknown: Vec<String> = parsed
        .report
        .findings
        .iter()
        .filter(|f| f.message.starts_with("Unused key"))
        .map(|f| f.path.to_string())
        .collect();
    for path in [
        "$.ignition.proxy",
        "$.ignition.config.merge.0.compression",
        "$.ignition.config.merge.0.httpHeaders",
        "$.storage.filesystems.0.mountOptions",
        "$.storage.luks",
        "$.passwd.users.0.shouldExist",
        "$.kernelArguments",
    ] {
        assert!(
            unknown.iter().any(|p| p == path),
            "no unknown-key warning at {path}: {unknown:?}"
        );
    }
    let c = &parsed.config;
    assert!(c.storage.luks.is_empty());
    assert!(c.storage.filesystems[0].mount_options.is_empty());
    assert!(c.kernel_arguments.should_exist.is_empty());
    assert_eq!(c.ignition.proxy, Default::default());
}
