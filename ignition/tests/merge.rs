//! Config references through the public API: fetching (`data:` and a fake
//! fetcher), verification, decompression, replace and merge, depth limits.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use base64::Engine;
use ignition::fetch::{
    fetch_resource, resolve, FetchError, Fetcher, Fetchers, ResolveError, DEFAULT_MAX_DEPTH,
};
use ignition::model::{HttpHeader, Resource};
use ignition::{merge, Config};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64_url(data: &[u8]) -> String {
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

/// A percent-encoded (not base64) data URL.
fn pct_url(data: &[u8]) -> String {
    let mut s = String::from("data:,");
    for b in data {
        if b.is_ascii_alphanumeric() {
            s.push(*b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha512(data: &[u8]) -> String {
    format!("sha512-{}", hex(&Sha512::digest(data)))
}

fn sha256(data: &[u8]) -> String {
    format!("sha256-{}", hex(&Sha256::digest(data)))
}

fn resource(v: Value) -> Resource {
    serde_json::from_value(v).unwrap()
}

/// Parses a config given as JSON (any supported version).
fn parse(v: &Value) -> Config {
    ignition::parse(v.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.report()))
        .config
}

fn config_url(v: &Value) -> String {
    b64_url(v.to_string().as_bytes())
}

fn paths(c: &Config) -> Vec<&str> {
    c.storage.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn data_urls_with_and_without_base64() {
    let f = Fetchers::new();
    for url in [b64_url(b"hello\nworld"), pct_url(b"hello\nworld")] {
        let got = fetch_resource(&f, &resource(json!({ "source": url }))).unwrap();
        assert_eq!(got, b"hello\nworld", "{url}");
    }
    assert_eq!(
        fetch_resource(
            &f,
            &resource(json!({"source": "data:text/plain;charset=utf-8,a%20b"}))
        )
        .unwrap(),
        b"a b"
    );
}

#[test]
fn gzip_and_hashes_describe_the_decompressed_bytes() {
    let f = Fetchers::new();
    let plain = b"#!/bin/sh\necho hi\n".repeat(50);
    let url = b64_url(&gzip(&plain));
    for hash in [sha512(&plain), sha256(&plain)] {
        let r =
            resource(json!({"source": url, "compression": "gzip", "verification": {"hash": hash}}));
        assert_eq!(fetch_resource(&f, &r).unwrap(), plain);
    }
    // Without compression, the bytes come back as they are.
    let raw = fetch_resource(&f, &resource(json!({ "source": url }))).unwrap();
    assert_eq!(raw, gzip(&plain));
    // A hash of the compressed bytes does not match once decompressed.
    for hash in [sha512(&raw), sha256(&raw)] {
        let r =
            resource(json!({"source": url, "compression": "gzip", "verification": {"hash": hash}}));
        match fetch_resource(&f, &r) {
            Err(FetchError::HashMismatch {
                url: shown,
                calculated,
                expected,
                ..
            }) => {
                assert_eq!(shown, "data:;base64,…");
                assert_ne!(calculated, expected);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hash_mismatch_without_compression() {
    let f = Fetchers::new();
    let url = pct_url(b"abc");
    for (good, bad) in [
        (sha512(b"abc"), sha512(b"abd")),
        (sha256(b"abc"), sha256(b"abd")),
    ] {
        let ok = resource(json!({"source": url, "verification": {"hash": good}}));
        assert_eq!(fetch_resource(&f, &ok).unwrap(), b"abc");
        let r = resource(json!({"source": url, "verification": {"hash": bad}}));
        let err = fetch_resource(&f, &r).unwrap_err();
        assert!(
            err.to_string().contains("hash verification failed"),
            "{err}"
        );
    }
}

#[test]
fn unsupported_scheme_names_the_scheme_and_the_reference() {
    let top = parse(
        &json!({"ignition": {"version": "3.4.0", "config": {"merge": [
        {"source": "https://example.com/worker.ign"}]}}}),
    );
    let err = resolve(top, &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap_err();
    match &err {
        ResolveError::Fetch { at, url, error } => {
            let FetchError::UnsupportedScheme { scheme, .. } = &**error else {
                panic!("{error:?}")
            };
            assert_eq!(at.to_string(), "$.ignition.config.merge.0");
            assert_eq!(url, "https://example.com/worker.ign");
            assert_eq!(scheme, "https");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("$.ignition.config.merge.0"), "{msg}");
    assert!(msg.contains("unsupported URL scheme \"https\""), "{msg}");
    assert!(msg.contains("no fetcher is registered"), "{msg}");
}

#[test]
fn replace_uses_the_referenced_config_and_renders_it() {
    let extra = json!({"ignition": {"version": "3.0.0"},
        "storage": {"files": [{"path": "/etc/extra"}]}});
    let replacement = json!({"ignition": {"version": "3.3.0", "config": {"merge": [{"source": config_url(&extra)}]}},
        "storage": {"files": [{"path": "/etc/replacement"}]}});
    let text = replacement.to_string();
    let top = parse(
        &json!({"ignition": {"version": "3.6.0", "config": {"replace": {
            "source": b64_url(&gzip(text.as_bytes())),
            "compression": "gzip",
            "verification": {"hash": sha256(text.as_bytes())}}}},
        "storage": {"files": [{"path": "/etc/dropped"}]}}),
    );
    let got = resolve(top, &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap();
    assert_eq!(paths(&got), ["/etc/replacement", "/etc/extra"]);
    assert!(got.ignition.config.replace.source.is_none());
    assert_eq!(got.ignition.version, "3.6.0");
}

#[test]
fn multi_level_merge_in_order_child_wins() {
    let c = json!({"ignition": {"version": "3.1.0"},
        "storage": {"files": [{"path": "/c", "mode": 420}]}});
    let a = json!({"ignition": {"version": "3.2.0", "config": {"merge": [{"source": config_url(&c)}]}},
        "storage": {"files": [{"path": "/shared", "mode": 420}, {"path": "/a"}]},
        "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["key-a"]}]}});
    let b = json!({"ignition": {"version": "3.6.0"},
        "storage": {"files": [{"path": "/shared", "mode": 384}], "links": [{"path": "/top", "target": "/a"}]},
        "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["key-b"]}]}});
    let top = parse(
        &json!({"ignition": {"version": "3.6.0", "config": {"merge": [
            {"source": config_url(&a)},
            {"source": pct_url(b.to_string().as_bytes()),
             "verification": {"hash": sha512(b.to_string().as_bytes())}}]}},
        "storage": {"files": [{"path": "/top"}]}}),
    );
    let got = resolve(top.clone(), &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap();

    // B's link at /top removes the top config's file there; B's mode for
    // /shared wins over A's; C came in through A.
    assert_eq!(paths(&got), ["/shared", "/a", "/c"]);
    assert_eq!(got.storage.files[0].mode, Some(0o600));
    assert_eq!(got.storage.links[0].path, "/top");
    assert_eq!(got.passwd.users[0].ssh_authorized_keys, ["key-a", "key-b"]);
    // As in Go, the merge references stay in the rendered config: the top
    // config's own and those of the configs it merged.
    let sources: Vec<_> = got
        .ignition
        .config
        .merge
        .iter()
        .map(|r| r.source.clone().unwrap())
        .collect();
    assert_eq!(sources.len(), 3);
    assert_eq!(
        sources[..2],
        [config_url(&a), pct_url(b.to_string().as_bytes())]
    );

    // Rendering is merging the rendered references in order.
    let rendered_a = merge::merge(&parse(&a), &parse(&c));
    let expected = merge::merge(&merge::merge(&top, &rendered_a), &parse(&b));
    assert_eq!(got, expected);
}

/// A chain of `n` configs, each merging the next; the last adds /leaf.
fn chain(n: usize) -> Config {
    let mut cfg =
        json!({"ignition": {"version": "3.6.0"}, "storage": {"files": [{"path": "/leaf"}]}});
    for _ in 0..n {
        cfg = json!({"ignition": {"version": "3.6.0", "config": {"merge": [{"source": config_url(&cfg)}]}}});
    }
    parse(&cfg)
}

#[test]
fn depth_is_bounded() {
    let f = Fetchers::new();
    assert_eq!(paths(&resolve(chain(3), &f, 3).unwrap()), ["/leaf"]);
    assert_eq!(paths(&resolve(chain(0), &f, 0).unwrap()), ["/leaf"]);

    let err = resolve(chain(3), &f, 2).unwrap_err();
    assert!(
        matches!(err.innermost(), ResolveError::TooDeep { max_depth: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(msg.matches("$.ignition.config.merge.0").count(), 3, "{msg}");
    assert!(
        msg.ends_with("references nest deeper than 2 levels"),
        "{msg}"
    );

    assert!(matches!(
        resolve(chain(1), &f, 0),
        Err(ResolveError::TooDeep { max_depth: 0, .. })
    ));
}

/// A fake network: URL to bytes, remembering the headers it was sent.
#[derive(Default)]
struct FakeNet {
    objects: HashMap<String, Vec<u8>>,
    seen: Mutex<Vec<(String, Vec<HttpHeader>)>>,
}

impl Fetcher for FakeNet {
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        self.seen
            .lock()
            .unwrap()
            .push((url.to_string(), headers.to_vec()));
        self.objects
            .get(url)
            .cloned()
            .ok_or_else(|| FetchError::NotFound {
                url: url.to_string(),
            })
    }
}

impl Fetcher for &'static FakeNet {
    fn fetch(&self, url: &str, headers: &[HttpHeader]) -> Result<Vec<u8>, FetchError> {
        (**self).fetch(url, headers)
    }
}

#[test]
fn a_fake_fetcher_plugs_in_by_scheme() {
    let worker = json!({"ignition": {"version": "3.4.0"},
        "systemd": {"units": [{"name": "kubelet.service", "enabled": true}]}});
    let net: &'static FakeNet = Box::leak(Box::new(FakeNet {
        objects: HashMap::from([(
            "https://mcs:22623/config/worker".to_string(),
            gzip(worker.to_string().as_bytes()),
        )]),
        ..FakeNet::default()
    }));
    let fetchers = Fetchers::new().with("https", net);
    let pointer = parse(
        &json!({"ignition": {"version": "3.4.0", "config": {"merge": [{
        "source": "https://mcs:22623/config/worker",
        "compression": "gzip",
        "httpHeaders": [{"name": "Accept", "value": "application/vnd.coreos.ignition+json;version=3.4.0"}]}]}}}),
    );
    let got = resolve(pointer, &fetchers, DEFAULT_MAX_DEPTH).unwrap();
    assert_eq!(got.systemd.units[0].name, "kubelet.service");
    let seen = net.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1[0].name, "Accept");
    drop(seen);

    // A missing object is the fetcher's error, under the reference's path.
    let missing = parse(
        &json!({"ignition": {"version": "3.4.0", "config": {"replace": {
        "source": "https://mcs:22623/config/nope"}}}}),
    );
    let err = resolve(missing, &fetchers, DEFAULT_MAX_DEPTH).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config reference at $.ignition.config.replace (https://mcs:22623/config/nope): https://mcs:22623/config/nope: not found"
    );
}

#[test]
fn a_config_that_references_itself_stops_at_the_depth_limit() {
    let me = json!({"ignition": {"version": "3.6.0", "config": {"merge": [{"source": "https://h/loop.ign"}]}}});
    let net = FakeNet {
        objects: HashMap::from([(
            "https://h/loop.ign".to_string(),
            me.to_string().into_bytes(),
        )]),
        ..FakeNet::default()
    };
    let net: &'static FakeNet = Box::leak(Box::new(net));
    let fetchers = Fetchers::new().with("https", net);
    let err = resolve(parse(&me), &fetchers, 4).unwrap_err();
    assert!(matches!(err.innermost(), ResolveError::TooDeep { .. }));
    assert_eq!(net.seen.lock().unwrap().len(), 4);
}

#[test]
fn failures_name_the_reference_index() {
    let good = json!({"ignition": {"version": "3.6.0"}});
    let invalid =
        json!({"ignition": {"version": "3.6.0"}, "storage": {"files": [{"path": "relative"}]}});
    let top = parse(
        &json!({"ignition": {"version": "3.6.0", "config": {"merge": [
        {"source": config_url(&good)},
        {"source": config_url(&invalid)}]}}}),
    );
    let err = resolve(top, &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap_err();
    let ResolveError::Parse { at, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(at.to_string(), "$.ignition.config.merge.1");
    let finding = err.report().unwrap().errors().next().unwrap();
    assert_eq!(finding.path.to_string(), "$.storage.files.0.path");
    assert!(err.to_string().contains("path not absolute"), "{err}");

    let top = parse(
        &json!({"ignition": {"version": "3.6.0", "config": {"merge": [
        {"source": config_url(&good)},
        {"source": pct_url(good.to_string().as_bytes()), "verification": {"hash": sha512(b"something else")}}]}}}),
    );
    let err = resolve(top, &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(
        matches!(&err, ResolveError::Fetch { at, error, .. }
            if at.to_string() == "$.ignition.config.merge.1"
                && matches!(**error, FetchError::HashMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn a_merge_that_breaks_the_rules_is_reported() {
    let unit = json!({"ignition": {"version": "3.6.0"},
        "systemd": {"units": [{"name": "a.service", "contents": "[Unit]\nDescription=a"}]}});
    let top = parse(
        &json!({"ignition": {"version": "3.6.0", "config": {"merge": [{"source": config_url(&unit)}]}},
        "storage": {"files": [{"path": "/etc/systemd/system/a.service"}]}}),
    );
    let err = resolve(top, &Fetchers::new(), DEFAULT_MAX_DEPTH).unwrap_err();
    let ResolveError::Invalid(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        report.errors().next().unwrap().path.to_string(),
        "$.storage.files.0.path"
    );
}

#[test]
fn merge_and_validate_through_the_public_api() {
    let parent = parse(&json!({"ignition": {"version": "3.6.0"},
        "kernelArguments": {"shouldExist": ["quiet"]}}));
    let child = parse(&json!({"ignition": {"version": "3.6.0"},
        "kernelArguments": {"shouldNotExist": ["quiet"]}}));
    let merged = merge::merge_and_validate(&parent, &child).unwrap();
    assert!(merged.kernel_arguments.should_exist.is_empty());
    assert_eq!(merged.kernel_arguments.should_not_exist, ["quiet"]);
}
