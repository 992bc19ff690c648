//! Table-driven render tests: OpenShift's merge rules.

mod common;

use common::*;
use machine_config::{render_all, render_pool, RenderError, RenderedPool};

const INFRA_POOL_SELECTOR: &str = "matchExpressions:\n- key: machineconfiguration.openshift.io/role\n  operator: In\n  values: [worker, infra]";

fn worker_pool() -> String {
    pool(
        "worker",
        "matchLabels:\n  machineconfiguration.openshift.io/role: worker",
    )
}

fn infra_pool() -> String {
    pool("infra", INFRA_POOL_SELECTOR)
}

type Check = fn(&RenderedPool);

struct Case {
    name: &'static str,
    yaml: String,
    pool: &'static str,
    check: Check,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "worker-role configs first, each group by name",
            yaml: [
                worker_pool(),
                infra_pool(),
                mc("10-b", "worker", ""),
                mc("00-infra", "infra", ""),
                mc("00-a", "worker", ""),
                mc("05-custom", "infra", ""),
            ]
            .concat(),
            pool: "infra",
            check: |r| assert_eq!(r.sources, ["00-a", "10-b", "00-infra", "05-custom"]),
        },
        Case {
            name: "worker pool takes only worker configs",
            yaml: [
                worker_pool(),
                infra_pool(),
                mc("10-b", "worker", ""),
                mc("00-infra", "infra", ""),
                mc("00-a", "worker", ""),
            ]
            .concat(),
            pool: "worker",
            check: |r| assert_eq!(r.sources, ["00-a", "10-b"]),
        },
        Case {
            name: "custom pool inherits worker files and its own override them",
            yaml: [
                worker_pool(),
                infra_pool(),
                mc_ign("50-worker-motd", "worker", &ign_file("/etc/motd", "worker")),
                mc_ign("60-worker-extra", "worker", &ign_file("/etc/extra", "extra")),
                mc_ign("00-infra-motd", "infra", &ign_file("/etc/motd", "infra")),
            ]
            .concat(),
            pool: "infra",
            check: |r| {
                assert_eq!(file_text(&r.ignition, "/etc/motd"), "infra");
                assert_eq!(file_text(&r.ignition, "/etc/extra"), "extra");
            },
        },
        Case {
            name: "later name wins within a group",
            yaml: [
                mc_ign("99-b", "worker", &ign_file("/etc/motd", "b")),
                mc_ign("10-a", "worker", &ign_file("/etc/motd", "a")),
            ]
            .concat(),
            pool: "worker",
            check: |r| assert_eq!(file_text(&r.ignition, "/etc/motd"), "b"),
        },
        Case {
            name: "sshAuthorizedKeys are a union in order",
            yaml: [
                mc_ign("00-ssh", "worker", r#"{"ignition":{"version":"3.2.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 A","ssh-ed25519 B"]}]}}"#),
                mc_ign("10-ssh", "worker", r#"{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 B","ssh-ed25519 C"]}]}}"#),
            ]
            .concat(),
            pool: "worker",
            check: |r| {
                let users = &r.ignition.passwd.users;
                assert_eq!(users.len(), 1);
                assert_eq!(users[0].ssh_authorized_keys, ["ssh-ed25519 A", "ssh-ed25519 B", "ssh-ed25519 C"]);
            },
        },
        Case {
            name: "plain file over gzip file: compression is dropped",
            yaml: [
                mc_ign("00-gz", "worker", &format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/etc/f","contents":{{"compression":"gzip","source":"{}"}}}}]}}}}"#, gzip_data_url("old"))),
                mc_ign("10-plain", "worker", &ign_file("/etc/f", "new")),
            ]
            .concat(),
            pool: "worker",
            check: |r| {
                let f = &r.ignition.storage.files[0];
                assert_eq!(f.contents.compression, None);
                assert_eq!(file_text(&r.ignition, "/etc/f"), "new");
            },
        },
        Case {
            name: "gzip file over plain file",
            yaml: [
                mc_ign("00-plain", "worker", &ign_file("/etc/f", "old")),
                mc_ign("10-gz", "worker", &format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/etc/f","contents":{{"compression":"gzip","source":"{}"}}}}]}}}}"#, gzip_data_url("new"))),
            ]
            .concat(),
            pool: "worker",
            check: |r| {
                assert_eq!(r.ignition.storage.files[0].contents.compression.as_deref(), Some("gzip"));
                assert_eq!(file_text(&r.ignition, "/etc/f"), "new");
            },
        },
        Case {
            name: "files without overwrite get overwrite true; false stays",
            yaml: mc_ign("00-f", "worker", &format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/etc/a","contents":{{"source":"{0}"}}}},{{"path":"/etc/b","overwrite":false,"contents":{{"source":"{0}"}}}}]}}}}"#, data_url(b"x"))),
            pool: "worker",
            check: |r| {
                let f = &r.ignition.storage.files;
                assert_eq!(f[0].overwrite, Some(true));
                assert_eq!(f[1].overwrite, Some(false));
                let json = &r.machine_config.spec.config;
                assert_eq!(json["storage"]["files"][0]["overwrite"], true);
                assert_eq!(json["ignition"]["version"], "3.6.0");
            },
        },
        Case {
            name: "spec 2.x configs are translated first",
            yaml: [
                mc_ign("00-v2", "worker", &format!(r#"{{"ignition":{{"version":"2.2.0"}},"storage":{{"files":[{{"filesystem":"root","path":"/etc/v2","mode":420,"contents":{{"source":"{}"}}}}]}}}}"#, data_url(b"two"))),
                mc_ign("10-v3", "worker", &ign_file("/etc/v3", "three")),
            ]
            .concat(),
            pool: "worker",
            check: |r| {
                assert_eq!(file_text(&r.ignition, "/etc/v2"), "two");
                assert_eq!(file_text(&r.ignition, "/etc/v3"), "three");
            },
        },
        Case {
            name: "kernelArguments and extensions concatenated in order",
            yaml: [
                mc("10-b", "worker", "kernelArguments: [b1, b2]\nextensions: [usbguard]"),
                mc("00-a", "worker", "kernelArguments: [a1]\nextensions: [sysstat]"),
                mc("20-c", "worker", "kernelArguments: [a1]"),
            ]
            .concat(),
            pool: "worker",
            check: |r| {
                assert_eq!(r.machine_config.spec.kernel_arguments, ["a1", "b1", "b2", "a1"]);
                assert_eq!(r.machine_config.spec.extensions, ["sysstat", "usbguard"]);
            },
        },
        Case {
            name: "fips is the OR",
            yaml: [mc("00-a", "worker", "fips: true"), mc("10-b", "worker", "fips: false")].concat(),
            pool: "worker",
            check: |r| assert!(r.machine_config.spec.fips),
        },
        Case {
            name: "fips false when none sets it",
            yaml: mc("00-a", "worker", "kernelArguments: [x]"),
            pool: "worker",
            check: |r| assert!(!r.machine_config.spec.fips),
        },
        Case {
            name: "kernelType: the last non-default",
            yaml: [
                mc("00-a", "worker", "kernelType: realtime"),
                mc("10-b", "worker", "kernelType: default"),
                mc("20-c", "worker", ""),
            ]
            .concat(),
            pool: "worker",
            check: |r| assert_eq!(r.machine_config.spec.kernel_type, "realtime"),
        },
        Case {
            name: "kernelType: 64k-pages after realtime",
            yaml: [mc("00-a", "worker", "kernelType: realtime"), mc("10-b", "worker", "kernelType: 64k-pages")].concat(),
            pool: "worker",
            check: |r| assert_eq!(r.machine_config.spec.kernel_type, "64k-pages"),
        },
        Case {
            name: "kernelType: default when none sets it",
            yaml: mc("00-a", "worker", ""),
            pool: "worker",
            check: |r| assert_eq!(r.machine_config.spec.kernel_type, "default"),
        },
        Case {
            name: "osImageURL: the last non-empty; generated configs ignored",
            yaml: [
                mc("00-a", "worker", "osImageURL: quay.io/os@sha256:aaa"),
                mc("10-b", "worker", "osImageURL: quay.io/os@sha256:bbb"),
                mc("20-c", "worker", "osImageURL: \"\""),
                "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 30-generated\n  labels:\n    machineconfiguration.openshift.io/role: worker\n  annotations:\n    machineconfiguration.openshift.io/generated-by-controller-version: abc\nspec:\n  osImageURL: quay.io/os@sha256:ggg\n".to_string(),
            ]
            .concat(),
            pool: "worker",
            check: |r| assert_eq!(r.machine_config.spec.os_image_url, "quay.io/os@sha256:bbb"),
        },
        Case {
            name: "octal mode written as YAML 1.1 0644",
            yaml: "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: 00-mode\n  labels:\n    machineconfiguration.openshift.io/role: worker\nspec:\n  config:\n    ignition:\n      version: 3.2.0\n    storage:\n      files:\n      - path: /etc/m\n        mode: 0644\n".into(),
            pool: "worker",
            check: |r| assert_eq!(r.ignition.storage.files[0].mode, Some(0o644)),
        },
        Case {
            name: "a file without source keeps overwrite unset (Ignition refuses true)",
            yaml: mc_ign("00-empty", "worker", r#"{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/etc/empty","mode":420}]}}"#),
            pool: "worker",
            check: |r| assert_eq!(r.ignition.storage.files[0].overwrite, None),
        },
        Case {
            name: "default pools: worker renders with OpenShift's selector",
            yaml: mc("00-a", "worker", "kernelArguments: [x]"),
            pool: "worker",
            check: |r| {
                assert!(r.name.starts_with("rendered-worker-"), "{}", r.name);
                assert_eq!(r.name.len(), "rendered-worker-".len() + 32);
                assert!(r.name["rendered-worker-".len()..].chars().all(|c| c.is_ascii_hexdigit()));
                assert_eq!(r.machine_config.metadata.name, r.name);
                assert_eq!(r.machine_config.kind, "MachineConfig");
            },
        },
    ]
}

#[test]
fn render_rules() {
    for case in cases() {
        let inputs = inputs(&case.yaml);
        let rendered = render_pool(&inputs, case.pool)
            .unwrap_or_else(|e| panic!("{}: render failed: {e}", case.name));
        (case.check)(&rendered);
    }
}

// ---------------------------------------------------------------- generated

const KUBELET_WORKER: &str = "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: KubeletConfig\nmetadata:\n  name: set-max-pods\nspec:\n  machineConfigPoolSelector:\n    matchLabels:\n      pools.operator.machineconfiguration.openshift.io/worker: \"\"\n  kubeletConfig:\n    maxPods: 100\n    evictionHard:\n      memory.available: 500Mi\n";

#[test]
fn kubelet_config_generates_kubelet_conf() {
    let yaml = [mc("00-a", "worker", ""), KUBELET_WORKER.to_string()].concat();
    let r = render_pool(&inputs(&yaml), "worker").expect("render");
    assert_eq!(r.sources, ["00-a", "99-worker-generated-kubelet"]);
    let text = file_text(&r.ignition, "/etc/kubernetes/kubelet.conf");
    let conf: serde_json::Value = serde_yaml::from_str(&text).expect("kubelet.conf is YAML");
    assert_eq!(conf["kind"], "KubeletConfiguration");
    assert_eq!(conf["apiVersion"], "kubelet.config.k8s.io/v1beta1");
    assert_eq!(conf["maxPods"], 100, "user wins");
    assert_eq!(conf["evictionHard"]["memory.available"], "500Mi");
    assert_eq!(conf["cgroupDriver"], "systemd", "defaults kept");
    assert_eq!(conf["podPidsLimit"], 4096);
    // Sorted keys: apiVersion first, then authentication...
    assert!(
        text.starts_with("apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:"),
        "{text}"
    );
    let f = &r.ignition.storage.files[0];
    assert_eq!((f.mode, f.overwrite), (Some(0o644), Some(true)));
    // Not for master.
    let m = render_pool(
        &inputs(&[yaml, mc("00-m", "master", "")].concat()),
        "master",
    )
    .expect("master");
    assert_eq!(m.sources, ["00-m"]);
}

#[test]
fn custom_pool_kubelet_config_overrides_worker_one() {
    let infra_kc = "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: KubeletConfig\nmetadata:\n  name: infra-pods\nspec:\n  machineConfigPoolSelector:\n    matchLabels:\n      pools.operator.machineconfiguration.openshift.io/infra: \"\"\n  kubeletConfig:\n    maxPods: 50\n";
    let yaml = [
        worker_pool(),
        infra_pool(),
        mc("00-a", "worker", ""),
        KUBELET_WORKER.to_string(),
        infra_kc.to_string(),
    ]
    .concat();
    let inputs = inputs(&yaml);
    let r = render_pool(&inputs, "infra").expect("render");
    assert_eq!(
        r.sources,
        [
            "00-a",
            "99-worker-generated-kubelet",
            "99-infra-generated-kubelet"
        ]
    );
    let conf: serde_json::Value =
        serde_yaml::from_str(&file_text(&r.ignition, "/etc/kubernetes/kubelet.conf"))
            .expect("yaml");
    assert_eq!(conf["maxPods"], 50);
    // The worker pool keeps its own.
    let w = render_pool(&inputs, "worker").expect("render");
    let conf: serde_json::Value =
        serde_yaml::from_str(&file_text(&w.ignition, "/etc/kubernetes/kubelet.conf"))
            .expect("yaml");
    assert_eq!(conf["maxPods"], 100);
}

const CTRCFG: &str = "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: ContainerRuntimeConfig\nmetadata:\n  name: crio\nspec:\n  machineConfigPoolSelector:\n    matchLabels:\n      pools.operator.machineconfiguration.openshift.io/worker: \"\"\n  containerRuntimeConfig:\n    pidsLimit: 2048\n    logLevel: debug\n    logSizeMax: 50Mi\n    overlaySize: 10G\n    defaultRuntime: crun\n";

#[test]
fn container_runtime_config_generates_crio_dropins() {
    let yaml = [mc("00-a", "worker", ""), CTRCFG.to_string()].concat();
    let r = render_pool(&inputs(&yaml), "worker").expect("render");
    assert_eq!(r.sources, ["00-a", "99-worker-generated-containerruntime"]);
    let paths: Vec<&str> = r
        .ignition
        .storage
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/crio/crio.conf.d/01-ctrcfg-logLevel",
            "/etc/crio/crio.conf.d/01-ctrcfg-pidsLimit",
            "/etc/crio/crio.conf.d/01-ctrcfg-logSizeMax",
            "/etc/crio/crio.conf.d/01-ctrcfg-defaultRuntime",
            "/etc/containers/storage.conf",
        ]
    );
    let expect = [
        (
            "/etc/crio/crio.conf.d/01-ctrcfg-logLevel",
            "[crio.runtime]\nlog_level = \"debug\"\n",
        ),
        (
            "/etc/crio/crio.conf.d/01-ctrcfg-pidsLimit",
            "[crio.runtime]\npids_limit = 2048\n",
        ),
        (
            "/etc/crio/crio.conf.d/01-ctrcfg-logSizeMax",
            "[crio.runtime]\nlog_size_max = 52428800\n",
        ),
        (
            "/etc/crio/crio.conf.d/01-ctrcfg-defaultRuntime",
            "[crio.runtime]\ndefault_runtime = \"crun\"\n",
        ),
    ];
    for (path, text) in expect {
        assert_eq!(file_text(&r.ignition, path), text, "{path}");
    }
    let storage = file_text(&r.ignition, "/etc/containers/storage.conf");
    assert!(storage.contains("[storage.options.overlay]\n"), "{storage}");
    assert!(storage.contains("size = \"10G\"\n"), "{storage}");
    assert!(storage.contains("driver = \"overlay\"\n"), "{storage}");
}

#[test]
fn container_runtime_config_with_one_field() {
    let yaml = [
        mc("00-a", "worker", ""),
        CTRCFG.replace("    pidsLimit: 2048\n    logLevel: debug\n    logSizeMax: 50Mi\n    overlaySize: 10G\n", ""),
    ]
    .concat();
    let r = render_pool(&inputs(&yaml), "worker").expect("render");
    let paths: Vec<&str> = r
        .ignition
        .storage
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, ["/etc/crio/crio.conf.d/01-ctrcfg-defaultRuntime"]);
}

// --------------------------------------------------------------- failures

struct Failure {
    name: &'static str,
    yaml: String,
    pool: &'static str,
    /// Substrings the error message must contain.
    expect: &'static [&'static str],
}

fn failures() -> Vec<Failure> {
    vec![
        Failure {
            name: "invalid Ignition: relative path",
            yaml: mc_ign("10-bad", "worker", &ign_file("etc/relative", "x")),
            pool: "worker",
            expect: &["MachineConfig 10-bad", "spec.config", "$.storage.files.0.path", "path not absolute"],
        },
        Failure {
            name: "unsupported Ignition version",
            yaml: mc_ign("10-bad", "worker", r#"{"ignition":{"version":"4.0.0"}}"#),
            pool: "worker",
            expect: &["MachineConfig 10-bad", "spec.config", "version"],
        },
        Failure {
            name: "unknown kernelType",
            yaml: mc("10-rt", "worker", "kernelType: fast"),
            pool: "worker",
            expect: &["MachineConfig 10-rt", "spec.kernelType", "\"fast\""],
        },
        Failure {
            name: "setuid file mode",
            yaml: mc_ign("10-suid", "worker", &format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/usr/local/bin/x","mode":2541,"contents":{{"source":"{}"}}}}]}}}}"#, data_url(b"x"))),
            pool: "worker",
            expect: &["MachineConfig 10-suid", "$.storage.files.0.mode", "0o4755", "/usr/local/bin/x"],
        },
        Failure {
            name: "sticky directory mode",
            yaml: mc_ign("10-sticky", "worker", r#"{"ignition":{"version":"3.2.0"},"storage":{"directories":[{"path":"/var/x","mode":1023}]}}"#),
            pool: "worker",
            expect: &["MachineConfig 10-sticky", "$.storage.directories.0.mode", "0o1777"],
        },
        Failure {
            name: "empty pool selector",
            yaml: [
                "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: worker\nspec:\n  machineConfigSelector: {}\n".to_string(),
                mc("00-a", "worker", ""),
            ]
            .concat(),
            pool: "worker",
            expect: &["MachineConfigPool worker", "machineConfigSelector is empty"],
        },
        Failure {
            name: "pool that selects nothing",
            yaml: mc("00-a", "worker", ""),
            pool: "master",
            expect: &["MachineConfigPool master", "no MachineConfig is selected"],
        },
        Failure {
            name: "unknown pool",
            yaml: mc("00-a", "worker", ""),
            pool: "gpu",
            expect: &["unknown pool \"gpu\""],
        },
        Failure {
            name: "kernel-devel with the realtime kernel",
            yaml: [mc("00-a", "worker", "kernelType: realtime"), mc("10-b", "worker", "extensions: [kernel-devel]")].concat(),
            pool: "worker",
            expect: &["MachineConfigPool worker", "kernel-devel", "realtime"],
        },
        Failure {
            name: "merged config invalid: a file below a link of another config",
            yaml: [
                mc_ign("00-link", "worker", r#"{"ignition":{"version":"3.2.0"},"storage":{"links":[{"path":"/etc/l","target":"/tmp"}]}}"#),
                mc_ign("10-file", "worker", &ign_file("/etc/l/f", "x")),
            ]
            .concat(),
            pool: "worker",
            expect: &["MachineConfigPool worker", "merged config is invalid", "$.storage"],
        },
        Failure {
            name: "ContainerRuntimeConfig pidsLimit too small",
            yaml: [mc("00-a", "worker", ""), CTRCFG.replace("2048", "5")].concat(),
            pool: "worker",
            expect: &["ContainerRuntimeConfig crio", "pidsLimit", "5"],
        },
        Failure {
            name: "ContainerRuntimeConfig logSizeMax too small",
            yaml: [mc("00-a", "worker", ""), CTRCFG.replace("50Mi", "4Ki")].concat(),
            pool: "worker",
            expect: &["ContainerRuntimeConfig crio", "logSizeMax", "8kB"],
        },
        Failure {
            name: "ContainerRuntimeConfig unknown runtime",
            yaml: [mc("00-a", "worker", ""), CTRCFG.replace("crun", "kata")].concat(),
            pool: "worker",
            expect: &["ContainerRuntimeConfig crio", "defaultRuntime", "kata"],
        },
        Failure {
            name: "KubeletConfig sets cgroupDriver",
            yaml: [mc("00-a", "worker", ""), KUBELET_WORKER.replace("maxPods: 100", "cgroupDriver: cgroupfs")].concat(),
            pool: "worker",
            expect: &["KubeletConfig set-max-pods", "cgroupDriver", "not allowed"],
        },
    ]
}

#[test]
fn render_failures() {
    for f in failures() {
        let inputs = raw_inputs(&f.yaml);
        let err = match render_pool(&inputs, f.pool) {
            Ok(r) => panic!("{}: rendered {}", f.name, r.name),
            Err(e) => e.to_string(),
        };
        for want in f.expect {
            assert!(err.contains(want), "{}: {err:?} lacks {want:?}", f.name);
        }
    }
}

#[test]
fn failure_in_one_pool_leaves_the_others() {
    let yaml = [
        mc("00-a", "worker", ""),
        mc("10-bad", "master", "kernelType: fast"),
    ]
    .concat();
    let all = render_all(&raw_inputs(&yaml));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["master", "worker"]);
    assert!(matches!(all[0].1, Err(RenderError::Object { .. })));
    assert!(all[1].1.is_ok());
}

// ------------------------------------------------------------------- names

#[test]
fn names_are_stable_and_content_addressed() {
    let base = [
        mc_ign("00-a", "worker", &ign_file("/etc/a", "a")),
        mc("10-b", "worker", "kernelArguments: [quiet]"),
    ];
    let first = render_pool(&inputs(&base.concat()), "worker").expect("render");
    let again = render_pool(&inputs(&base.concat()), "worker").expect("render");
    assert_eq!(first.name, again.name);
    // Document order does not matter.
    let swapped = render_pool(
        &inputs(&[base[1].clone(), base[0].clone()].concat()),
        "worker",
    )
    .expect("render");
    assert_eq!(first.name, swapped.name);
    // Any change in the spec changes the name.
    let changed = [
        base[0].clone(),
        mc("10-b", "worker", "kernelArguments: [quiet, splash]"),
    ];
    let other = render_pool(&inputs(&changed.concat()), "worker").expect("render");
    assert_ne!(first.name, other.name);
    let file_changed = [
        mc_ign("00-a", "worker", &ign_file("/etc/a", "A")),
        base[1].clone(),
    ];
    let other = render_pool(&inputs(&file_changed.concat()), "worker").expect("render");
    assert_ne!(first.name, other.name);
    // A rename that does not change the merged spec keeps the name.
    let renamed = [base[0].replace("00-a", "01-a"), base[1].clone()];
    let same = render_pool(&inputs(&renamed.concat()), "worker").expect("render");
    assert_eq!(first.name, same.name);
}

#[test]
fn name_is_pinned() {
    // The same input gives this name on every run and every machine; a change
    // here means every deployed rendered name changes.
    let r = render_pool(
        &inputs(&mc("00-a", "worker", "kernelArguments: [quiet]")),
        "worker",
    )
    .expect("render");
    assert_eq!(r.name, PINNED_NAME);
}

const PINNED_NAME: &str = "rendered-worker-880e8453df3eee08ebdd9ac947553b47";

// ------------------------------------------------------------------- merge

#[test]
fn tree_merge_equals_sequential_merge() {
    use machine_config::render::{merge_all, merge_sequential};
    let docs = [
        ign_file("/etc/a", "1"),
        format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/etc/a","mode":384,"contents":{{"compression":"gzip","source":"{}"}}}}]}}}}"#, gzip_data_url("2")),
        r#"{"ignition":{"version":"3.2.0"},"storage":{"directories":[{"path":"/etc/a"}],"links":[{"path":"/etc/l","target":"/x"}]}}"#.to_string(),
        ign_file("/etc/l", "file replaces link"),
        r#"{"ignition":{"version":"3.2.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["k1","k2"]},{"name":"u2"}]}}"#.to_string(),
        r#"{"ignition":{"version":"3.2.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["k3","k1"]}]},"systemd":{"units":[{"name":"a.service","enabled":true,"dropins":[{"name":"x.conf","contents":"[Unit]"}]}]}}"#.to_string(),
        r#"{"ignition":{"version":"3.2.0"},"systemd":{"units":[{"name":"a.service","mask":true,"dropins":[{"name":"y.conf","contents":"[Unit]"}]},{"name":"b.service"}]}}"#.to_string(),
        ign_file("/etc/z", "z"),
        format!(r#"{{"ignition":{{"version":"3.2.0"}},"storage":{{"files":[{{"path":"/etc/z","contents":{{"compression":"gzip","source":"{}"}}}}]}}}}"#, gzip_data_url("z2")),
        r#"{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["a"],"shouldNotExist":["b"]}}"#.to_string(),
        r#"{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["b"]}}"#.to_string(),
        // A file, then a link, then a file again at one path: the left fold
        // forgets the first file's mode; a plain tree merge would keep it.
        r#"{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/p","mode":384,"contents":{"source":"data:,a"}}]}}"#.to_string(),
        r#"{"ignition":{"version":"3.2.0"}}"#.to_string(),
        r#"{"ignition":{"version":"3.2.0"},"storage":{"links":[{"path":"/p","target":"/x"}]}}"#.to_string(),
        ign_file("/p", "d"),
        r#"{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldNotExist":["a"]}}"#.to_string(),
        r#"{"ignition":{"version":"3.3.0"},"kernelArguments":{"shouldExist":["a"]}}"#.to_string(),
    ];
    let configs: Vec<ignition::Config> = docs
        .iter()
        .map(|d| ignition::parse(d.as_bytes()).expect(d).config)
        .collect();
    for n in 1..=configs.len() {
        for start in 0..n {
            let slice = configs[start..n].to_vec();
            assert_eq!(
                merge_all(slice.clone()),
                merge_sequential(slice),
                "configs {start}..{n}"
            );
        }
    }
}
