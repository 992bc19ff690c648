//! The node API and FleetLock endpoints over real TLS on loopback.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hyper::StatusCode;
use machine_config::node_api::{self, McsJson};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mcs");
/// Generous bound for anything that waits on a reload (polled every 200 ms).
const LIMIT: Duration = Duration::from_secs(10);

fn one_worker() -> Dirs {
    let d = Dirs::new();
    d.write(
        "50-motd.yaml",
        &worker_file("50-worker-motd", "motd", "hello"),
    );
    d
}

/// The worker pool, paused or not, with maxUnavailable.
fn worker_pool(paused: bool, max_unavailable: &str) -> String {
    format!(
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\n\
         metadata:\n  name: worker\nspec:\n  machineConfigSelector:\n    matchLabels:\n      \
         machineconfiguration.openshift.io/role: worker\n  paused: {paused}\n  maxUnavailable: {max_unavailable}\n"
    )
}

/// mcs.json, the bootstrap token and its mode, from the served config.
async fn node_files(c: &Client) -> (McsJson, String, Option<i64>) {
    let cfg = c
        .get("/config/worker", Some(&accept("3.6.0")))
        .await
        .config()
        .config;
    let mcs: McsJson = serde_json::from_str(&file_text(&cfg, node_api::MCS_JSON_PATH)).unwrap();
    let token = file_text(&cfg, node_api::BOOTSTRAP_TOKEN_PATH)
        .trim()
        .to_string();
    let mode = cfg
        .storage
        .files
        .iter()
        .find(|f| f.path == node_api::BOOTSTRAP_TOKEN_PATH)
        .and_then(|f| f.mode);
    (mcs, token, mode)
}

async fn register(c: &Client, name: &str, token: &str) -> Resp {
    register_in(c, "worker", name, Some(token)).await
}

/// Registers `name` in `pool`, with `token` as the bearer (or none).
async fn register_in(c: &Client, pool: &str, name: &str, token: Option<&str>) -> Resp {
    c.post_json(
        node_api::REGISTER_PATH,
        token,
        &[],
        &json!({"name": name, "pool": pool}),
    )
    .await
}

/// Registers and returns the node token.
async fn node(c: &Client, name: &str, bootstrap: &str) -> String {
    let r = register(c, name, bootstrap).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()["nodeToken"].as_str().unwrap().to_string()
}

async fn report(c: &Client, name: &str, token: &str, state: &str, cur: &str, des: &str) -> Resp {
    c.post_json(
        &node_api::status_path(name),
        Some(token),
        &[],
        &json!({"state": state, "currentConfig": cur, "desiredConfig": des, "reason": ""}),
    )
    .await
}

async fn fleet_lock(c: &Client, path: &str, token: &str, id: &str, header: bool) -> Resp {
    let h: &[(&str, &str)] = if header {
        &[(node_api::FLEET_LOCK_HEADER, "true")]
    } else {
        &[]
    };
    c.post_json(
        path,
        Some(token),
        h,
        &json!({"client_params": {"id": id, "group": "worker"}}),
    )
    .await
}

fn kind(r: &Resp) -> String {
    r.json()["kind"].as_str().unwrap_or("").to_string()
}

fn nodes_json(d: &Dirs) -> String {
    std::fs::read_to_string(d.state().join("nodes.json")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_files_register_and_rotation() {
    let d = one_worker();
    let mut opts = d.options();
    opts.advertise_urls = vec![
        "https://mcs.example.com:22623/".into(),
        "https://10.0.0.2:22623".into(),
    ];
    let server = mcs::serve::start(opts).await.unwrap();
    let c = Client::for_server(&server);

    let (mcs_json, bootstrap, mode) = node_files(&c).await;
    assert_eq!(mcs_json.pool, "worker");
    assert_eq!(
        mcs_json.servers,
        ["https://mcs.example.com:22623", "https://10.0.0.2:22623"]
    );
    let ca = std::fs::read_to_string(d.state().join("ca.crt")).unwrap();
    assert_eq!(mcs_json.ca_bundle.as_deref(), Some(ca.as_str()));
    assert_eq!(mode, Some(0o600));
    assert_eq!(bootstrap.len(), 64);

    // Good token: a node token. Bad or no token: 401, nothing recorded.
    let t1 = node(&c, "n1", &bootstrap).await;
    assert_ne!(t1, bootstrap);
    for token in ["wrong", ""] {
        let r = register(&c, "intruder", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(kind(&r), "unauthorized");
    }
    let r = register_in(&c, "worker", "intruder", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let stored = nodes_json(&d);
    assert!(
        stored.contains("\"n1\"") && !stored.contains("intruder"),
        "{stored}"
    );
    assert!(
        !stored.contains(&t1),
        "only the hash of a node token is kept"
    );
    let r = register(&c, "a/b", &bootstrap).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Rotation: the old bootstrap token no longer registers, node tokens still work,
    // and the config serves the new token.
    mcs::tokens::rotate_cmd(&d.state(), "worker").unwrap();
    let new = wait_for(LIMIT, || async { node_files(&c).await.1 != bootstrap })
        .await
        .map(|_| ());
    assert!(new.is_some(), "the new token is served");
    let (_, rotated, _) = node_files(&c).await;
    let r = register(&c, "n2", &bootstrap).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    node(&c, "n2", &rotated).await;
    let r = c
        .get_auth(&node_api::desired_path("n1", None, 0), &t1)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_answers_on_change_and_after_wait() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    let t1 = node(&c, "n1", &bootstrap).await;
    let r1 = served_name(&c, "worker").await.unwrap();

    // Without `current`: the desired config at once.
    let r = c
        .get_auth(&node_api::desired_path("n1", None, 30), &t1)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["desiredConfig"], r1.as_str());
    assert_eq!(r.json()["machineConfigPath"], format!("/v1/rendered/{r1}"));
    // Up to date, wait 0 and 1: 304, the second after about a second.
    let r = c
        .get_auth(&node_api::desired_path("n1", Some(&r1), 0), &t1)
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let started = Instant::now();
    let r = c
        .get_auth(&node_api::desired_path("n1", Some(&r1), 1), &t1)
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // Another node's token, or none: 401.
    let t2 = node(&c, "n2", &bootstrap).await;
    let r = c
        .get_auth(&node_api::desired_path("n1", None, 0), &t2)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A waiting poll answers as soon as the new config is rendered.
    let poll = {
        let c = Client::for_server(&server);
        let (t1, r1) = (t1.clone(), r1.clone());
        tokio::spawn(async move {
            let r = c
                .get_auth(&node_api::desired_path("n1", Some(&r1), 60), &t1)
                .await;
            (r, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await; // let it start waiting (not a timing assertion)
    d.write(
        "60-issue.yaml",
        &worker_file("60-worker-issue", "issue", "welcome"),
    );
    let written = Instant::now();
    let (r, answered) = tokio::time::timeout(LIMIT, poll)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let r2 = r.json()["desiredConfig"].as_str().unwrap().to_string();
    assert_ne!(r2, r1);
    assert_eq!(
        served_name(&c, "worker").await.as_deref(),
        Some(r2.as_str())
    );
    eprintln!(
        "long-poll answered {:?} after the write",
        answered - written
    );

    // The MachineConfig behind it, with the node token; not with a bad one.
    let mc = c.get_auth(&node_api::rendered_path(&r2), &t1).await;
    assert_eq!(mc.status, StatusCode::OK);
    assert_eq!(mc.json()["metadata"]["name"], r2.as_str());
    let old = c.get_auth(&node_api::rendered_path(&r1), &t1).await;
    assert_eq!(
        old.status,
        StatusCode::OK,
        "kept ones are served from the state dir"
    );
    assert_eq!(
        c.get_auth(&node_api::rendered_path(&r2), "bad")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get_auth(&node_api::rendered_path("rendered-master-0"), &t1)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Paused: a node keeps the config it reported.
    assert_eq!(
        report(&c, "n1", &t1, "Done", &r1, &r1).await.status,
        StatusCode::OK
    );
    d.write("pool.yaml", &worker_pool(true, "1"));
    wait_for(LIMIT, || async {
        mcs::status::read(&d.state()).is_ok_and(|s| s.pools.iter().any(|p| p.paused))
    })
    .await
    .expect("paused");
    let r = c
        .get_auth(&node_api::desired_path("n1", Some(&r1), 0), &t1)
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{:?}", r.body);
    let r = c
        .get_auth(&node_api::desired_path("n1", None, 0), &t1)
        .await;
    assert_eq!(r.json()["desiredConfig"], r1.as_str());
    assert_eq!(r.json()["poolConfig"], r2.as_str());
    assert_eq!(r.json()["paused"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_show_in_mcs_status() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    let r1 = served_name(&c, "worker").await.unwrap();
    let t1 = node(&c, "n1", &bootstrap).await;
    let t2 = node(&c, "n2", &bootstrap).await;
    let r = report(&c, "n1", &t1, "Done", &r1, &r1).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["state"], "Done");
    let r = c
        .post_json(
            &node_api::status_path("n2"),
            Some(&t2),
            &[],
            &json!({"state": "Degraded", "currentConfig": r1, "desiredConfig": r1, "reason": "/etc/motd differs"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Bad: another node's token, an unknown state.
    assert_eq!(
        report(&c, "n2", &t1, "Done", &r1, &r1).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        report(&c, "n1", &t1, "Fine", &r1, &r1).await.status,
        StatusCode::BAD_REQUEST
    );

    let out = std::process::Command::new(BIN)
        .args([
            "status",
            "--json",
            "--state-dir",
            d.state().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{v}");
    assert_eq!(nodes[0]["name"], "n1");
    assert_eq!(nodes[0]["pool"], "worker");
    assert_eq!(nodes[0]["state"], "Done");
    assert_eq!(nodes[0]["currentConfig"], r1.as_str());
    assert_eq!(nodes[0]["desiredConfig"], r1.as_str());
    assert_eq!(nodes[1]["state"], "Degraded");
    assert_eq!(nodes[1]["reason"], "/etc/motd differs");
    let w = v["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "worker")
        .unwrap();
    assert_eq!(w["machineCount"], 2);
    assert_eq!(w["updatedMachineCount"], 1);
    assert_eq!(w["readyMachineCount"], 1);
    assert_eq!(w["degradedMachineCount"], 1);
    let human = std::process::Command::new(BIN)
        .args(["status", "--state-dir", d.state().to_str().unwrap()])
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&human.stdout);
    assert!(
        h.contains("MACHINECOUNT") && h.contains("n2") && h.contains("Degraded"),
        "{h}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleetlock_slots() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    let r1 = served_name(&c, "worker").await.unwrap();
    let t1 = node(&c, "n1", &bootstrap).await;
    let t2 = node(&c, "n2", &bootstrap).await;
    let (pre, steady) = (node_api::PRE_REBOOT_PATH, node_api::STEADY_STATE_PATH);

    // maxUnavailable defaults to 1: n1 takes it, again (recursive); n2 is refused.
    assert_eq!(
        fleet_lock(&c, pre, &t1, "n1", true).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, pre, &t1, "n1", true).await.status,
        StatusCode::OK
    );
    let r = fleet_lock(&c, pre, &t2, "n2", true).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(kind(&r), "failed_lock");
    assert!(r.json()["value"].as_str().unwrap().contains("n1"));
    // Unlock if held: n2 holds nothing (success), n1 keeps its slot.
    assert_eq!(
        fleet_lock(&c, steady, &t2, "n2", true).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, pre, &t2, "n2", true).await.status,
        StatusCode::CONFLICT
    );
    // Missing header; bad token; a node acting for another.
    for path in [pre, steady] {
        let r = fleet_lock(&c, path, &t1, "n1", false).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(kind(&r), "invalid_client_identity");
        let r = fleet_lock(&c, path, "nope", "n1", true).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(kind(&r), "unauthorized");
        let r = fleet_lock(&c, path, &t2, "n1", true).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = c
        .post_json(
            pre,
            Some(&t1),
            &[(node_api::FLEET_LOCK_HEADER, "true")],
            &json!({"client_params": {"id": "n1"}}),
        )
        .await;
    assert_eq!(kind(&r), "invalid_client_identity");
    assert!(nodes_json(&d).contains("\"n1\""));

    // Done on the desired config releases n1's slot; n2 gets it.
    assert_eq!(
        report(&c, "n1", &t1, "Working", &r1, "rendered-worker-next")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, pre, &t2, "n2", true).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        report(&c, "n1", &t1, "Done", &r1, &r1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, pre, &t2, "n2", true).await.status,
        StatusCode::OK
    );
    // steady-state releases; the bootstrap token may act for any id of its pool.
    assert_eq!(
        fleet_lock(&c, steady, &t2, "n2", true).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, pre, &bootstrap, "zincati-1", true)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, steady, &bootstrap, "zincati-1", true)
            .await
            .status,
        StatusCode::OK
    );

    // Paused: a holder keeps its slot, nobody gets a new one.
    assert_eq!(
        fleet_lock(&c, pre, &t2, "n2", true).await.status,
        StatusCode::OK
    );
    d.write("pool.yaml", &worker_pool(true, "\"100%\""));
    wait_for(LIMIT, || async {
        mcs::status::read(&d.state()).is_ok_and(|s| s.pools.iter().any(|p| p.paused))
    })
    .await
    .expect("paused");
    let r = fleet_lock(&c, pre, &t1, "n1", true).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(kind(&r), "failed_lock_paused");
    assert_eq!(
        fleet_lock(&c, pre, &t2, "n2", true).await.status,
        StatusCode::OK
    );
    // Unpaused with 100%: both fit.
    d.write("pool.yaml", &worker_pool(false, "\"100%\""));
    wait_for(LIMIT, || async {
        mcs::status::read(&d.state()).is_ok_and(|s| s.pools.iter().all(|p| !p.paused))
    })
    .await
    .expect("unpaused");
    assert_eq!(
        fleet_lock(&c, pre, &t1, "n1", true).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_nodes_tokens_and_slots() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    let r1 = served_name(&c, "worker").await.unwrap();
    let t1 = node(&c, "n1", &bootstrap).await;
    let t2 = node(&c, "n2", &bootstrap).await;
    assert_eq!(
        report(&c, "n1", &t1, "Working", &r1, &r1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fleet_lock(&c, node_api::PRE_REBOOT_PATH, &t1, "n1", true)
            .await
            .status,
        StatusCode::OK
    );
    server.stop().await;

    let server = d.start().await;
    let c = Client::for_server(&server);
    assert_eq!(
        node_files(&c).await.1,
        bootstrap,
        "the bootstrap token is kept"
    );
    let r = c
        .get_auth(&node_api::desired_path("n1", None, 0), &t1)
        .await;
    assert_eq!(r.status, StatusCode::OK, "the node token still works");
    let r = fleet_lock(&c, node_api::PRE_REBOOT_PATH, &t2, "n2", true).await;
    assert_eq!(kind(&r), "failed_lock", "n1 still holds the slot");
    let st = mcs::status::read(&d.state()).unwrap();
    assert_eq!(st.nodes.len(), 2);
    assert!(st.nodes[0].holds_slot);
    assert_eq!(st.nodes[0].state, Some(node_api::NodeState::Working));
    server.stop().await;
}

/// `/config/<pool>` carries the pool's bootstrap token: by default it is served only to a
/// request with that token or a node token of the pool (401 otherwise, nothing served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_needs_a_token_of_its_pool() {
    let d = one_worker();
    d.write(
        "60-infra.yaml",
        &mc(
            "60-infra-motd",
            "infra",
            "config:\n  ignition: {version: 3.2.0}",
        ),
    );
    d.write("pool-worker.yaml", &worker_pool(false, "1"));
    d.write(
        "pool-infra.yaml",
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\n\
         metadata:\n  name: infra\nspec:\n  machineConfigSelector:\n    matchLabels:\n      \
         machineconfiguration.openshift.io/role: infra\n",
    );
    let server = mcs::serve::start(d.options_with_auth()).await.unwrap();
    let c = Client::for_server(&server);
    let tokens = |pool: &str| {
        server
            .nodes
            .with_tokens(|t| t.get(pool).map(str::to_string))
            .unwrap()
    };
    let (worker, infra) = (tokens("worker"), tokens("infra"));
    let get = |token: Option<String>| {
        let c = &c;
        async move {
            let a = token.map(|t| format!("Bearer {t}"));
            let mut h = vec![(
                "accept",
                "application/vnd.coreos.ignition+json;version=3.6.0",
            )];
            if let Some(a) = &a {
                h.push(("authorization", a.as_str()));
            }
            c.call(
                hyper::Method::GET,
                "/config/worker",
                &h,
                bytes::Bytes::new(),
            )
            .await
        }
    };
    let r = get(None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    assert!(!String::from_utf8_lossy(&r.body).contains(&worker));
    assert_eq!(
        get(Some("nonsense".into())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(Some(infra.clone())).await.status,
        StatusCode::UNAUTHORIZED,
        "another pool's bootstrap token"
    );
    let r = get(Some(worker.clone())).await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, served, _) = {
        let cfg = r.config().config;
        let t = file_text(&cfg, node_api::BOOTSTRAP_TOKEN_PATH);
        ((), t.trim().to_string(), ())
    };
    assert_eq!(served, worker);
    // A node token of the pool works too; one of another pool does not.
    let tw = node(&c, "w1", &worker).await;
    assert_eq!(get(Some(tw)).await.status, StatusCode::OK);
    let r = register_in(&c, "infra", "i1", Some(&infra)).await;
    assert_eq!(r.status, StatusCode::OK);
    let ti = r.json()["nodeToken"].as_str().unwrap().to_string();
    assert_eq!(get(Some(ti)).await.status, StatusCode::UNAUTHORIZED);
    // HEAD too, and the plain listener as well.
    let r = c.request(hyper::Method::HEAD, "/config/worker", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let plain = server.insecure_addr.unwrap();
    assert_eq!(
        plain_get(plain, "/config/worker").await.status,
        StatusCode::UNAUTHORIZED
    );
    let auth = format!("Bearer {worker}");
    assert_eq!(
        plain_get_with(plain, "/config/worker", &[("authorization", &auth)])
            .await
            .status,
        StatusCode::OK
    );
    // After a rotation the old bootstrap token no longer fetches the config.
    let new = server.nodes.with_tokens(|t| t.rotate("worker")).unwrap();
    assert_eq!(get(Some(worker)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some(new)).await.status, StatusCode::OK);
    // Health checks need nothing.
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_config_validates_and_reaches_the_server() {
    let d = one_worker();
    let server = mcs::serve::start(d.options_with_auth()).await.unwrap();
    let url = format!("https://localhost:{}", server.tls_addr.port());
    let out = std::process::Command::new(BIN)
        .args([
            "pointer",
            "--state-dir",
            d.state().to_str().unwrap(),
            "--pool",
            "worker",
            "--url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = ignition::parse(&out.stdout).unwrap();
    assert!(!parsed.report.has_errors(), "{:?}", parsed.report);
    assert_eq!(parsed.source_version.to_string(), "3.3.0");
    let ign = &parsed.config.ignition;
    assert_eq!(
        ign.config.merge[0].source.as_deref(),
        Some(format!("{url}/config/worker").as_str())
    );
    let ca_url = ign.security.tls.certificate_authorities[0]
        .source
        .as_deref()
        .unwrap();
    let ca = ignition::dataurl::decode(ca_url).unwrap().data;
    assert_eq!(ca, std::fs::read(d.state().join("ca.crt")).unwrap());

    // The embedded CA and the header are enough to fetch the merged config; without the
    // header the server refuses.
    let h = &ign.config.merge[0].http_headers;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].name, "Authorization");
    let auth = h[0].value.clone().unwrap();
    let token = server
        .nodes
        .with_tokens(|t| t.get("worker").map(str::to_string))
        .unwrap();
    assert_eq!(auth, format!("Bearer {token}"));
    let pem = d.tmp.path().join("pointer-ca.pem");
    std::fs::write(&pem, &ca).unwrap();
    let c = Client::new(&pem, server.tls_addr);
    let a = accept("3.3.0");
    let r = c
        .call(
            hyper::Method::GET,
            "/config/worker",
            &[("accept", &a), ("authorization", &auth)],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c.get("/config/worker", Some(&a)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // --anonymous leaves it out.
    let out2 = std::process::Command::new(BIN)
        .args(["pointer", "--anonymous", "--state-dir"])
        .arg(d.state())
        .args(["--pool", "worker", "--url", &url])
        .output()
        .unwrap();
    assert!(out2.status.success());
    let p2 = ignition::parse(&out2.stdout).unwrap();
    assert!(p2.config.ignition.config.merge[0].http_headers.is_empty());

    let go = std::path::Path::new("/usr/bin/ignition-validate");
    if go.exists() {
        let f = d.tmp.path().join("pointer.ign");
        std::fs::write(&f, &out.stdout).unwrap();
        let v = std::process::Command::new(go).arg(&f).output().unwrap();
        assert!(
            v.status.success() && v.stdout.is_empty(),
            "Go ignition-validate: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    } else {
        println!("SKIP: /usr/bin/ignition-validate not installed (Debian package ignition); only our engine checked");
    }
    // Unknown pool, bad spec: exit 1 with a reason.
    for args in [
        ["--pool", "infra", "--spec", "3.3.0"],
        ["--pool", "worker", "--spec", "2.2.0"],
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "pointer",
                "--state-dir",
                d.state().to_str().unwrap(),
                "--url",
                &url,
            ])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_configs_in_use_survive_pruning() {
    let d = one_worker();
    let server = d.start().await;
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    let first = served_name(&c, "worker").await.unwrap();
    let t1 = node(&c, "n1", &bootstrap).await;
    assert_eq!(
        report(&c, "n1", &t1, "Done", &first, &first).await.status,
        StatusCode::OK
    );
    let mut names = vec![first.clone()];
    for i in 0..(mcs::state::KEEP_PER_POOL + 1) {
        d.write(
            "60-issue.yaml",
            &worker_file("60-worker-issue", "issue", &format!("v{i}")),
        );
        let prev = names.last().unwrap().clone();
        wait_for(LIMIT, || async {
            served_name(&c, "worker").await.is_some_and(|n| n != prev)
        })
        .await
        .expect("new render");
        names.push(served_name(&c, "worker").await.unwrap());
    }
    // Pruning runs after each reload: wait until the oldest unused one is gone.
    let second = d.state().join(format!("rendered/{}.json", names[1]));
    wait_for(LIMIT, || async { !second.exists() })
        .await
        .expect("an unused config is pruned");
    assert!(
        d.state().join(format!("rendered/{first}.json")).exists(),
        "in use: kept"
    );
    let r = c.get_auth(&node_api::rendered_path(&first), &t1).await;
    assert_eq!(r.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_nodes() {
    let d = one_worker();
    let mut opts = d.options();
    opts.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = mcs::serve::start(opts).await.unwrap();
    let c = Client::for_server(&server);
    let (_, bootstrap, _) = node_files(&c).await;
    c.get("/config/worker", Some(&accept("3.2.0"))).await;
    let r1 = served_name(&c, "worker").await.unwrap();
    let t1 = node(&c, "n1", &bootstrap).await;
    report(&c, "n1", &t1, "Done", &r1, &r1).await;
    register(&c, "x", "bad").await;
    let m = plain_get(server.metrics_addr.unwrap(), "/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    for line in [
        "mcs_config_requests_total{pool=\"worker\",version=\"3.6.0\"} 2",
        "mcs_config_requests_total{pool=\"worker\",version=\"3.2.0\"} 1",
        "mcs_nodes{pool=\"worker\",state=\"Done\"} 1",
        "mcs_nodes{pool=\"worker\",state=\"Degraded\"} 0",
        "mcs_node_api_requests_total{endpoint=\"register\",code=\"401\"} 1",
        "mcs_node_api_requests_total{endpoint=\"status\",code=\"200\"} 1",
        "mcs_slots_held{pool=\"worker\"} 0",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_api_is_not_on_plain_http() {
    let d = one_worker();
    let server = d.start().await;
    let r = plain_get(server.insecure_addr.unwrap(), "/v1/nodes/n1/desired").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    server.stop().await;
}
