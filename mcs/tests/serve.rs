//! `mcs serve` over real TLS on loopback, with the generated CA.

mod common;

use std::time::Duration;

use common::*;
use hyper::{Method, StatusCode};
use ignition::SpecVersion;

fn one_worker() -> Dirs {
    let d = Dirs::new();
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello"),
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_matrix() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    // (Accept, status, served version)
    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (None, 200, "2.2.0"),
        (Some("garbage".into()), 200, "2.2.0"),
        (Some("*/*".into()), 200, "2.2.0"),
        (Some("application/json".into()), 200, "2.2.0"),
        (Some(accept("3.0.0")), 200, "3.0.0"),
        (Some(accept("3.1.0")), 200, "3.1.0"),
        (Some(accept("3.2.0")), 200, "3.2.0"),
        (Some(accept("3.3.0")), 200, "3.3.0"),
        (Some(accept("3.4.0")), 200, "3.4.0"),
        (Some(accept("3.5.0")), 200, "3.5.0"),
        (Some(accept("3.6.0")), 200, "3.6.0"),
        (Some(accept("3.9.0")), 200, "3.6.0"),
        (Some(accept("2.2.0")), 200, "2.2.0"),
        (Some(accept("2.3.0")), 200, "2.2.0"),
        (Some(accept("2.1.0")), 400, ""),
        (Some(accept("1.0.0")), 400, ""),
        (Some(accept("4.0.0")), 400, ""),
        (
            Some(format!("{}, */*;q=0.1", accept("3.3.0"))),
            200,
            "3.3.0",
        ),
        (
            Some(format!("{};q=0.5, {}", accept("3.1.0"), accept("3.4.0"))),
            200,
            "3.4.0",
        ),
    ];
    for (a, status, version) in cases {
        let r = c.get("/config/worker", a.as_deref()).await;
        assert_eq!(r.status.as_u16(), status, "Accept {a:?}: {:?}", r.body);
        if status != 200 {
            assert!(
                r.json()["error"].as_str().unwrap().contains("unsupported"),
                "{a:?}"
            );
            continue;
        }
        assert_eq!(
            r.header("content-type"),
            format!("application/vnd.coreos.ignition+json;version={version}"),
            "Accept {a:?}"
        );
        assert_eq!(r.header("content-length"), r.body.len().to_string());
        let parsed = r.config();
        assert_eq!(parsed.source_version.to_string(), version, "Accept {a:?}");
        assert!(parsed
            .config
            .storage
            .files
            .iter()
            .any(|f| f.path == "/etc/motd"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_configs_validate_with_go_ignition() {
    let go = std::path::Path::new("/usr/bin/ignition-validate");
    if !go.exists() {
        println!("SKIP: /usr/bin/ignition-validate not installed (Debian package ignition); only our engine checked");
    }
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    for v in mcs::negotiate::SERVED {
        let r = c.get("/config/worker", Some(&accept(&v.to_string()))).await;
        assert_eq!(r.status, StatusCode::OK, "{v}");
        r.config();
        if go.exists() && v.major == 3 && v.minor <= 3 {
            let f = d.tmp.path().join(format!("served-{v}.ign"));
            std::fs::write(&f, &r.body).unwrap();
            let out = std::process::Command::new(go).arg(&f).output().unwrap();
            assert!(
                out.status.success() && out.stdout.is_empty(),
                "Go ignition-validate on spec {v}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_files() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let loaded = machine_config::load_dir(&d.input());
    let rendered = machine_config::render_pool(&loaded.inputs, "worker").unwrap();
    for v in ["2.2.0", "3.1.0", "3.6.0"] {
        let r = c.get("/config/worker", Some(&accept(v))).await;
        let cfg = r.config().config;
        let ann: serde_json::Value =
            serde_json::from_str(&file_text(&cfg, mcs::served::NODE_ANNOTATIONS_PATH)).unwrap();
        assert_eq!(
            ann["machineconfiguration.openshift.io/currentConfig"],
            rendered.name.as_str()
        );
        assert_eq!(
            ann["machineconfiguration.openshift.io/desiredConfig"],
            rendered.name.as_str()
        );
        assert_eq!(ann["machineconfiguration.openshift.io/state"], "Done");
        let mc: serde_json::Value =
            serde_json::from_str(&file_text(&cfg, mcs::served::ENCAPSULATED_PATH)).unwrap();
        assert_eq!(mc["metadata"]["name"], rendered.name.as_str());
        assert_eq!(mc["spec"]["kernelArguments"], serde_json::json!(["quiet"]));
        assert_eq!(
            mc["spec"]["config"],
            serde_json::json!({"ignition": {"version": v}})
        );
        for p in [
            mcs::served::NODE_ANNOTATIONS_PATH,
            mcs::served::ENCAPSULATED_PATH,
        ] {
            let f = cfg.storage.files.iter().find(|f| f.path == p).unwrap();
            assert_eq!(f.mode, Some(0o644), "{p}");
            assert_eq!(f.overwrite, Some(true), "{p}");
        }
        assert_eq!(
            cfg.storage.files.last().unwrap().path,
            mcs::served::ENCAPSULATED_PATH
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_head_and_healthz() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);

    let r = c.get("/config/nosuchpool", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.json()["error"].as_str().unwrap().contains("nosuchpool"));

    // No pools defined: OpenShift's master and worker exist; master selects nothing.
    let r = c.get("/config/master", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("no MachineConfig"));

    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = c.request(m.clone(), "/config/worker", None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
        assert_eq!(r.header("allow"), "GET, HEAD");
    }
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(
        c.request(Method::HEAD, "/healthz", None).await.status,
        StatusCode::OK
    );
    assert_eq!(c.get("/", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/config", None).await.status, StatusCode::NOT_FOUND);

    for v in ["2.2.0", "3.4.0"] {
        let get = c.get("/config/worker", Some(&accept(v))).await;
        let head = c
            .request(Method::HEAD, "/config/worker", Some(&accept(v)))
            .await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        assert_eq!(head.header("content-length"), get.body.len().to_string());
        assert_eq!(head.header("content-type"), get.header("content-type"));
    }

    // Plain HTTP only where asked.
    let addr = server.insecure_addr.unwrap();
    let r = plain_get(addr, "/config/worker").await;
    assert_eq!(r.status, StatusCode::OK);
    r.config();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_expressible_is_500_naming_the_field() {
    let d = Dirs::new();
    d.write(
        "luks.yaml",
        &mc(
            "50-luks",
            "worker",
            "config:\n  ignition: {version: 3.2.0}\n  storage:\n    luks:\n    - {name: data, device: /dev/vdb}",
        ),
    );
    let server = d.start().await;
    let c = Client::for_server(&server);
    let r = c.get("/config/worker", Some(&accept("3.1.0"))).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let e = r.json()["error"].as_str().unwrap().to_string();
    assert!(e.contains("$.storage.luks") && e.contains("3.1.0"), "{e}");
    assert_eq!(
        c.get("/config/worker", Some(&accept("3.2.0"))).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_serves_the_change() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let before = served_name(&c, "worker").await.unwrap();
    d.write(
        "60-issue.yaml",
        &worker_file("60-worker-issue", "issue", "welcome"),
    );
    // The poll interval is 200 ms; on a quiet machine the change is served in
    // about that. Timing is a benchmark's business, so this only bounds it
    // loosely (a loaded CI machine is slow) and prints the figure.
    let took = wait_for(Duration::from_secs(5), || async {
        served_name(&c, "worker").await.is_some_and(|n| n != before)
    })
    .await
    .expect("the new config is served");
    eprintln!("hot reload: the change was served after {took:?}");
    let cfg = c
        .get("/config/worker", Some(&accept("3.6.0")))
        .await
        .config()
        .config;
    assert_eq!(file_text(&cfg, "/etc/issue"), "welcome");
    // The state directory has both rendered configs and the status.
    let after = served_name(&c, "worker").await.unwrap();
    // status.json is written after the new render is served: wait for it.
    wait_for(Duration::from_secs(5), || async {
        mcs::status::read(&d.state()).is_ok_and(|s| {
            s.pools
                .iter()
                .any(|p| p.rendered_config.as_deref() == Some(after.as_str()))
        })
    })
    .await
    .expect("status.json shows the new config");
    for n in [&before, &after] {
        assert!(d.state().join(format!("rendered/{n}.json")).exists(), "{n}");
    }
    let status = mcs::status::read(&d.state()).unwrap();
    let w = status.pools.iter().find(|p| p.name == "worker").unwrap();
    assert_eq!(w.rendered_config.as_deref(), Some(after.as_str()));
    assert_eq!(w.sources, ["50-worker-motd", "60-worker-issue"]);
    println!("hot reload served after {took:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_yaml_keeps_the_last_good_config_and_shows_in_status() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let good = served_name(&c, "worker").await.unwrap();

    d.write("50-motd.yaml", "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata: {name: 50-worker-motd\n");
    let reported = wait_for(Duration::from_secs(5), || async {
        mcs::status::read(&d.state()).is_ok_and(|s| !s.input_errors.is_empty())
    })
    .await;
    assert!(reported.is_some(), "the error shows in status.json");
    let status = mcs::status::read(&d.state()).unwrap();
    assert!(
        status.input_errors[0].file.ends_with("50-motd.yaml"),
        "{status:?}"
    );
    assert!(
        status.input_errors[0].message.contains("YAML"),
        "{status:?}"
    );
    assert_eq!(
        served_name(&c, "worker").await.as_deref(),
        Some(good.as_str())
    );
    let w = status.pools.iter().find(|p| p.name == "worker").unwrap();
    assert_eq!(w.rendered_config.as_deref(), Some(good.as_str()));

    // An invalid edit (a typo in a field) is refused the same way.
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello").replace("kernelArguments", "kernelArgs"),
    );
    let reported = wait_for(Duration::from_secs(5), || async {
        mcs::status::read(&d.state()).is_ok_and(|s| {
            s.input_errors
                .first()
                .is_some_and(|e| e.message.contains("kernelArgs"))
        })
    })
    .await;
    assert!(reported.is_some(), "{:?}", mcs::status::read(&d.state()));
    assert_eq!(
        served_name(&c, "worker").await.as_deref(),
        Some(good.as_str())
    );

    // Fixed: served again, errors gone.
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "fixed"),
    );
    wait_for(Duration::from_secs(5), || async {
        served_name(&c, "worker").await.is_some_and(|n| n != good)
    })
    .await
    .expect("the fixed config is served");
    // status.json is written after the new render is served: wait for it too.
    wait_for(Duration::from_secs(5), || async {
        mcs::status::read(&d.state()).is_ok_and(|s| s.input_errors.is_empty())
    })
    .await
    .expect("the input errors are gone from status");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reuses_the_certificate_and_the_last_good_config() {
    let d = one_worker();
    let server = d.start().await;
    let ca = std::fs::read(d.state().join("ca.crt")).unwrap();
    let crt = std::fs::read(d.state().join("server.crt")).unwrap();
    let name = served_name(&Client::for_server(&server), "worker")
        .await
        .unwrap();
    server.stop().await;

    // Broken input at start-up: the pool keeps its last rendered config.
    d.write("50-motd.yaml", "{{{ not yaml");
    let server = d.start().await;
    assert_eq!(std::fs::read(d.state().join("ca.crt")).unwrap(), ca);
    assert_eq!(std::fs::read(d.state().join("server.crt")).unwrap(), crt);
    let c = Client::for_server(&server);
    assert_eq!(
        served_name(&c, "worker").await.as_deref(),
        Some(name.as_str())
    );
    let status = mcs::status::read(&d.state()).unwrap();
    assert_eq!(status.input_errors.len(), 1);
    let w = status.pools.iter().find(|p| p.name == "worker").unwrap();
    assert_eq!(w.rendered_config.as_deref(), Some(name.as_str()));
    assert!(w.error.is_some(), "worker selects nothing now: {w:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_certificate_is_served() {
    let d = one_worker();
    // A certificate made by a first server's CA, handed to a second as files.
    let first = d.start().await;
    first.stop().await;
    let mut opts = d.options();
    opts.tls_cert = Some((d.state().join("server.crt"), d.state().join("server.key")));
    opts.state_dir = d.tmp.path().join("other-state");
    let server = mcs::serve::start(opts).await.unwrap();
    assert!(server.ca_file.is_none());
    assert!(!d.tmp.path().join("other-state/ca.crt").exists());
    let c = Client::new(&d.state().join("ca.crt"), server.tls_addr);
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    server.stop().await;
}

#[test]
fn served_versions_cover_the_engine_targets() {
    assert_eq!(mcs::negotiate::SERVED.last(), Some(&SpecVersion::LATEST));
}
