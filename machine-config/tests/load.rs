//! Loading YAML: multi-document files, defaults, and errors that name the
//! file and the document.

mod common;

use std::path::PathBuf;

use common::*;
use machine_config::{load_dir, load_texts, InputError, IntOrString};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn multi_document_files_and_all_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yaml",
        &[
            mc("00-a", "worker", "kernelArguments: [x]"),
            "---\n".to_string(), // an empty document is skipped
            pool(
                "worker",
                "matchLabels:\n  machineconfiguration.openshift.io/role: worker",
            ),
        ]
        .concat(),
    );
    write(
        dir.path(),
        "b.yml",
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: infra\nspec:\n  machineConfigSelector:\n    matchLabels:\n      machineconfiguration.openshift.io/role: infra\n  maxUnavailable: 25%\n  paused: true\n---\napiVersion: machineconfiguration.openshift.io/v1\nkind: KubeletConfig\nmetadata:\n  name: kc\nspec:\n  machineConfigPoolSelector:\n    matchLabels:\n      x: y\n  kubeletConfig:\n    maxPods: 10\n---\napiVersion: machineconfiguration.openshift.io/v1\nkind: ContainerRuntimeConfig\nmetadata:\n  name: cc\nspec:\n  machineConfigPoolSelector:\n    matchLabels:\n      x: y\n  containerRuntimeConfig:\n    pidsLimit: 100\n",
    );
    write(dir.path(), "ignored.txt", "not yaml: [");
    write(dir.path(), ".hidden.yaml", "not yaml: [");
    let loaded = load_dir(dir.path());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let i = &loaded.inputs;
    assert_eq!(i.machine_configs.len(), 1);
    assert_eq!(i.pools.len(), 2);
    assert_eq!(i.kubelet_configs.len(), 1);
    assert_eq!(i.container_runtime_configs.len(), 1);
    let infra = i.pool("infra").expect("infra");
    assert!(infra.spec.paused);
    assert_eq!(
        infra.spec.max_unavailable,
        Some(IntOrString::String("25%".into()))
    );
    assert_eq!(
        infra.spec.max_unavailable.as_ref().map(|m| m.scaled(10)),
        Some(Ok(2))
    );
    // Pools defined: no defaults.
    let names: Vec<String> = i.pools().iter().map(|p| p.metadata.name.clone()).collect();
    assert_eq!(names, ["infra", "worker"]);
}

#[test]
fn default_pools_when_none_defined() {
    let i = inputs(&mc("00-a", "worker", ""));
    let pools = i.pools();
    let names: Vec<&str> = pools.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(names, ["master", "worker"]);
    let w = &pools[1];
    let sel = w.spec.machine_config_selector.as_ref().expect("selector");
    assert_eq!(
        sel.match_labels
            .get("machineconfiguration.openshift.io/role")
            .map(String::as_str),
        Some("worker")
    );
    let nodes = w.spec.node_selector.as_ref().expect("node selector");
    assert_eq!(
        nodes
            .match_labels
            .get("node-role.kubernetes.io/worker")
            .map(String::as_str),
        Some("")
    );
    assert!(w
        .metadata
        .labels
        .contains_key("pools.operator.machineconfiguration.openshift.io/worker"));
}

#[test]
fn a_list_is_read_item_by_item() {
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}\n",
        indent(
            &format!(
                "- {}",
                mc("00-a", "worker", "")
                    .trim_start_matches("---\n")
                    .replace('\n', "\n  ")
            ),
            0
        )
    );
    let loaded = load_texts([("list.yaml".into(), list)]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.inputs.machine_configs[0].metadata.name, "00-a");
}

#[test]
fn round_trip_json_and_yaml() {
    let i = inputs(&mc("00-a", "worker", "kernelArguments: [x]\nfips: true"));
    let mc = &i.machine_configs[0];
    let json = serde_json::to_string(mc).expect("json");
    assert!(json.contains(r#""osImageURL":"""#), "{json}");
    assert!(json.contains(r#""apiVersion":"machineconfiguration.openshift.io/v1""#));
    let back: machine_config::MachineConfig = serde_json::from_str(&json).expect("parse");
    assert_eq!(&back, mc);
    let yaml = serde_yaml::to_string(mc).expect("yaml");
    let back: machine_config::MachineConfig = serde_yaml::from_str(&yaml).expect("parse");
    assert_eq!(&back, mc);
}

struct Bad {
    name: &'static str,
    text: String,
    /// (document, substrings)
    expect: &'static [(usize, &'static [&'static str])],
}

fn bad_inputs() -> Vec<Bad> {
    vec![
        Bad {
            name: "unknown kind in the second document",
            text: [mc("00-a", "worker", ""), "---\napiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigThing\nmetadata:\n  name: x\n".into()].concat(),
            expect: &[(2, &["unknown kind \"MachineConfigThing\""])],
        },
        Bad {
            name: "a typo in spec",
            text: mc("00-a", "worker", "kernelArgs: [x]"),
            expect: &[(1, &["MachineConfig 00-a", "spec", "unknown field `kernelArgs`"])],
        },
        Bad {
            name: "wrong type with path",
            text: mc("00-a", "worker", "fips: [true]"),
            expect: &[(1, &["MachineConfig 00-a", "spec.fips"])],
        },
        Bad {
            name: "wrong apiVersion",
            text: mc("00-a", "worker", "").replace("machineconfiguration.openshift.io/v1", "v1"),
            expect: &[(1, &["apiVersion must be machineconfiguration.openshift.io/v1"])],
        },
        Bad {
            name: "invalid Ignition with its JSON path",
            text: [mc("00-a", "worker", ""), mc_ign("10-bad", "worker", &ign_file("relative", "x"))].concat(),
            expect: &[(2, &["MachineConfig 10-bad", "$.storage.files.0.path", "path not absolute"])],
        },
        Bad {
            name: "duplicate names",
            text: [mc("00-a", "worker", ""), mc("00-a", "master", "")].concat(),
            expect: &[(2, &["MachineConfig 00-a", "duplicate name", "first defined in f.yaml, document 1"])],
        },
        Bad {
            name: "empty pool selector",
            text: "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfigPool\nmetadata:\n  name: p\nspec:\n  machineConfigSelector: {}\n".into(),
            expect: &[(1, &["MachineConfigPool p", "machineConfigSelector is empty"])],
        },
        Bad {
            name: "bad selector operator",
            text: pool("p", "matchExpressions:\n- key: a\n  operator: Maybe"),
            expect: &[(1, &["MachineConfigPool p", "spec.machineConfigSelector.matchExpressions[0].operator", "Maybe"])],
        },
        Bad {
            name: "In without values",
            text: pool("p", "matchExpressions:\n- key: a\n  operator: In"),
            expect: &[(1, &["MachineConfigPool p", "needs at least one value"])],
        },
        Bad {
            name: "bad maxUnavailable",
            text: pool("p", "matchLabels: {a: b}").replace("  nodeSelector:", "  maxUnavailable: lots\n  nodeSelector:"),
            expect: &[(1, &["MachineConfigPool p", "maxUnavailable"])],
        },
        Bad {
            name: "missing name",
            text: "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata: {}\n".into(),
            expect: &[(1, &["metadata.name is missing"])],
        },
        Bad {
            name: "YAML syntax error in the third document",
            text: [mc("00-a", "worker", ""), mc("00-b", "worker", ""), "---\nkind: [\n".into()].concat(),
            expect: &[(3, &["invalid YAML"])],
        },
        Bad {
            name: "bad quantity",
            text: "apiVersion: machineconfiguration.openshift.io/v1\nkind: ContainerRuntimeConfig\nmetadata:\n  name: c\nspec:\n  machineConfigPoolSelector:\n    matchLabels: {a: b}\n  containerRuntimeConfig:\n    logSizeMax: 10 gigs\n".into(),
            expect: &[(1, &["ContainerRuntimeConfig c", "spec.containerRuntimeConfig.logSizeMax", "invalid quantity"])],
        },
        Bad {
            name: "KubeletConfig without pool selector",
            text: "apiVersion: machineconfiguration.openshift.io/v1\nkind: KubeletConfig\nmetadata:\n  name: k\nspec:\n  kubeletConfig: {maxPods: 1}\n".into(),
            expect: &[(1, &["KubeletConfig k", "machineConfigPoolSelector is missing"])],
        },
    ]
}

#[test]
fn errors_name_file_and_document() {
    for b in bad_inputs() {
        let loaded = load_texts([(PathBuf::from("f.yaml"), b.text.clone())]);
        assert_eq!(
            loaded.errors.len(),
            b.expect.len(),
            "{}: {:?}",
            b.name,
            loaded.errors
        );
        for (err, (doc, subs)) in loaded.errors.iter().zip(b.expect) {
            assert_eq!(err.file, PathBuf::from("f.yaml"), "{}", b.name);
            assert_eq!(err.document, *doc, "{}: {err}", b.name);
            for s in *subs {
                assert!(
                    err.message.contains(s),
                    "{}: {:?} lacks {s:?}",
                    b.name,
                    err.message
                );
            }
            assert!(
                err.to_string()
                    .starts_with(&format!("f.yaml, document {doc}: ")),
                "{err}"
            );
        }
    }
}

#[test]
fn good_documents_survive_bad_ones() {
    let text = [
        mc("00-a", "worker", ""),
        mc("10-bad", "worker", "kernelType: nope"),
        mc("20-c", "worker", ""),
    ]
    .concat();
    let loaded = load_texts([(PathBuf::from("f.yaml"), text)]);
    let names: Vec<&str> = loaded
        .inputs
        .machine_configs
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(names, ["00-a", "20-c"]);
    assert_eq!(
        loaded.errors,
        [InputError {
            file: "f.yaml".into(),
            document: 2,
            message: "MachineConfig 10-bad: spec.kernelType: \"nope\" is invalid (expected one of default, realtime, 64k-pages)".into(),
        }]
    );
}

#[test]
fn unreadable_directory_is_an_error() {
    let loaded = load_dir(std::path::Path::new("/nonexistent/mooring-test"));
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(loaded.errors[0].document, 0);
}
