//! Table-driven tests of diff and plan with OpenShift's cases.

use serde_json::json;

use crate::config::Desired;
use crate::plan::plan;
use crate::policy::{Action, Policy, PolicyFile, CRIO, UPDATE_CA_TRUST};

fn file(path: &str, data: &str) -> serde_json::Value {
    let enc: String = data
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    json!({"path": path, "contents": {"source": format!("data:,{enc}")}})
}

/// A config from Ignition parts and MachineConfig fields.
fn cfg(name: &str, ign: serde_json::Value, extra: serde_json::Value) -> Desired {
    let mut c = json!({"ignition": {"version": "3.2.0"}});
    for (k, v) in ign.as_object().unwrap() {
        c[k] = v.clone();
    }
    let mut mc = json!({"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
        "metadata": {"name": name}, "spec": {"config": c}});
    for (k, v) in extra.as_object().unwrap() {
        mc["spec"][k] = v.clone();
    }
    let mc: machine_config::MachineConfig = serde_json::from_value(mc).unwrap();
    Desired::from_mc(mc, &ignition::fetch::Fetchers::new()).unwrap()
}

fn files(list: &[(&str, &str)]) -> serde_json::Value {
    json!({"storage": {"files": list.iter().map(|(p, d)| file(p, d)).collect::<Vec<_>>()}})
}

fn none() -> serde_json::Value {
    json!({})
}

type Case<'a> = (
    &'a str,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
    Vec<Action>,
);

const REBOOT: &[Action] = &[Action::Drain, Action::Reboot];

#[test]
fn openshift_cases() {
    let base = files(&[("/etc/a.conf", "a")]);
    let with = |extra: &[(&str, &str)]| {
        let mut l = vec![("/etc/a.conf", "a")];
        l.extend_from_slice(extra);
        files(&l)
    };
    let reload = vec![Action::reload(CRIO)];
    let ca = vec![Action::restart(UPDATE_CA_TRUST), Action::restart(CRIO)];
    // (name, old ignition, old spec, new ignition, new spec, expected actions)
    let cases: Vec<Case> = vec![
        (
            "no change",
            base.clone(),
            none(),
            base.clone(),
            none(),
            vec![Action::None],
        ),
        (
            "pull secret",
            base.clone(),
            none(),
            with(&[("/var/lib/kubelet/config.json", "{}")]),
            none(),
            vec![Action::None],
        ),
        (
            "kubelet CA",
            base.clone(),
            none(),
            with(&[("/etc/kubernetes/kubelet-ca.crt", "pem")]),
            none(),
            vec![Action::None],
        ),
        (
            "policy.json",
            base.clone(),
            none(),
            with(&[("/etc/containers/policy.json", "{}")]),
            none(),
            reload.clone(),
        ),
        (
            "registries.d",
            base.clone(),
            none(),
            with(&[("/etc/containers/registries.d/x.yaml", "y")]),
            none(),
            reload.clone(),
        ),
        (
            "gpg key",
            base.clone(),
            none(),
            with(&[(
                "/etc/machine-config-daemon/no-reboot/containers-gpg.pub",
                "k",
            )]),
            none(),
            reload.clone(),
        ),
        (
            "user CA bundle",
            base.clone(),
            none(),
            with(&[(
                "/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt",
                "pem",
            )]),
            none(),
            ca.clone(),
        ),
        (
            "nmstate dir",
            base.clone(),
            none(),
            with(&[("/etc/nmstate/openshift/n.yml", "x")]),
            none(),
            vec![Action::None],
        ),
        (
            "CA bundle and registries.d",
            base.clone(),
            none(),
            with(&[
                (
                    "/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt",
                    "pem",
                ),
                ("/etc/containers/registries.d/x", "y"),
            ]),
            none(),
            ca.clone(),
        ),
        (
            "registries.conf added lines",
            with(&[("/etc/containers/registries.conf", "a=1\n")]),
            none(),
            with(&[("/etc/containers/registries.conf", "a=1\nb=2\n")]),
            none(),
            reload.clone(),
        ),
        (
            "registries.conf removed lines",
            with(&[("/etc/containers/registries.conf", "a=1\nb=2\n")]),
            none(),
            with(&[("/etc/containers/registries.conf", "a=1\n")]),
            none(),
            vec![Action::Drain, Action::reload(CRIO)],
        ),
        (
            "other file",
            base.clone(),
            none(),
            files(&[("/etc/a.conf", "b")]),
            none(),
            REBOOT.to_vec(),
        ),
        (
            "removed file",
            base.clone(),
            none(),
            json!({}),
            none(),
            REBOOT.to_vec(),
        ),
        (
            "pull secret and other file",
            base.clone(),
            none(),
            files(&[("/etc/a.conf", "b"), ("/var/lib/kubelet/config.json", "{}")]),
            none(),
            REBOOT.to_vec(),
        ),
        (
            "SSH only",
            json!({"passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1"]}]}}),
            none(),
            json!({"passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["k1", "k2"]}]}}),
            none(),
            vec![Action::None],
        ),
        (
            "password",
            json!({"passwd": {"users": [{"name": "core"}]}}),
            none(),
            json!({"passwd": {"users": [{"name": "core", "passwordHash": "$6$x"}]}}),
            none(),
            vec![Action::None],
        ),
        (
            "unit",
            none(),
            none(),
            json!({"systemd": {"units": [{"name": "a.service", "contents": "[Service]\n"}]}}),
            none(),
            REBOOT.to_vec(),
        ),
        (
            "osImageURL",
            none(),
            json!({"osImageURL": "r:os/1"}),
            none(),
            json!({"osImageURL": "r:os/2"}),
            REBOOT.to_vec(),
        ),
        (
            "kargs added",
            none(),
            none(),
            none(),
            json!({"kernelArguments": ["nosmt"]}),
            REBOOT.to_vec(),
        ),
        (
            "kargs order",
            none(),
            json!({"kernelArguments": ["a", "b"]}),
            none(),
            json!({"kernelArguments": ["b", "a"]}),
            REBOOT.to_vec(),
        ),
        (
            "kargs same after splitting",
            none(),
            json!({"kernelArguments": ["a b"]}),
            none(),
            json!({"kernelArguments": ["a", "b"]}),
            vec![Action::None],
        ),
        (
            "pull secret with kargs",
            base.clone(),
            none(),
            with(&[("/var/lib/kubelet/config.json", "{}")]),
            json!({"kernelArguments": ["x"]}),
            REBOOT.to_vec(),
        ),
    ];
    for (name, oi, os, ni, ns, want) in cases {
        let old = cfg("old", oi, os);
        let new = cfg("new", ni, ns);
        let p = plan(&old, &new, &Policy::default(), false);
        assert!(p.refused.is_empty(), "{name}: refused {:?}", p.refused);
        assert_eq!(p.actions, want, "{name}\n{}", p.render());
    }
}

#[test]
fn unreconcilable_fields_are_named() {
    // (old ignition, old spec, new ignition, new spec, field named in the refusal)
    let cases: Vec<(
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
        &str,
    )> = vec![
        (
            none(),
            none(),
            json!({"storage": {"disks": [{"device": "/dev/vdb", "wipeTable": true}]}}),
            none(),
            "spec.config.storage.disks",
        ),
        (
            none(),
            none(),
            json!({"storage": {"filesystems": [{"device": "/dev/vdb", "format": "xfs", "path": "/var/x"}]}}),
            none(),
            "spec.config.storage.filesystems",
        ),
        (
            none(),
            none(),
            json!({"storage": {"raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/a", "/dev/b"]}]}}),
            none(),
            "spec.config.storage.raid",
        ),
        (
            none(),
            none(),
            json!({"storage": {"luks": [{"name": "l", "device": "/dev/vdb"}]}}),
            none(),
            "spec.config.storage.luks",
        ),
        (
            none(),
            none(),
            json!({"storage": {"directories": [{"path": "/etc/d"}]}}),
            none(),
            "spec.config.storage.directories",
        ),
        (
            none(),
            none(),
            json!({"storage": {"links": [{"path": "/etc/l", "target": "/etc/x"}]}}),
            none(),
            "spec.config.storage.links (/etc/l)",
        ),
        (
            none(),
            none(),
            json!({"storage": {"files": [{"path": "/etc/f", "append": [{"source": "data:,x"}]}]}}),
            none(),
            "spec.config.storage.files (/etc/f).append",
        ),
        (
            none(),
            none(),
            json!({"passwd": {"users": [{"name": "alice"}]}}),
            none(),
            "spec.config.passwd.users (alice)",
        ),
        (
            none(),
            none(),
            json!({"passwd": {"users": [{"name": "core", "shell": "/bin/zsh"}]}}),
            none(),
            "spec.config.passwd.users (core)",
        ),
        (
            none(),
            none(),
            json!({"passwd": {"groups": [{"name": "g"}]}}),
            none(),
            "spec.config.passwd.groups",
        ),
        (none(), none(), none(), json!({"fips": true}), "spec.fips"),
        (
            none(),
            none(),
            none(),
            json!({"kernelType": "realtime"}),
            "spec.kernelType",
        ),
        (
            none(),
            none(),
            none(),
            json!({"extensions": ["usbguard"]}),
            "spec.extensions",
        ),
    ];
    for (oi, os, ni, ns, field) in cases {
        let p = plan(
            &cfg("old", oi, os),
            &cfg("new", ni, ns),
            &Policy::default(),
            false,
        );
        assert_eq!(p.refused.len(), 1, "{field}: {:?}", p.refused);
        assert_eq!(p.refused[0].field, field);
        assert!(p.render().contains("REFUSED"), "{}", p.render());
    }
    // Removing a link is fine; "default" and "" are the same kernel.
    let old = cfg(
        "o",
        json!({"storage": {"links": [{"path": "/etc/l", "target": "/etc/x"}]}}),
        json!({"kernelType": "default"}),
    );
    let p = plan(&old, &cfg("n", none(), none()), &Policy::default(), false);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
}

#[test]
fn admin_policy_and_force_file() {
    let old = cfg("o", files(&[("/etc/chrony.conf", "a")]), none());
    let new = cfg("n", files(&[("/etc/chrony.conf", "b")]), none());
    assert_eq!(plan(&old, &new, &Policy::default(), false).actions, REBOOT);
    let admin: PolicyFile = serde_json::from_value(json!({"files": [{"path": "/etc/chrony.conf",
        "actions": [{"type": "Restart", "restart": {"serviceName": "chronyd.service"}}]}]}))
    .unwrap();
    let p = Policy::default().with(admin);
    assert_eq!(
        plan(&old, &new, &p, false).actions,
        vec![Action::restart("chronyd.service")]
    );
    // The force file means reboot, as in OpenShift.
    assert_eq!(plan(&old, &new, &p, true).actions, REBOOT);
    // A unit with a policy: daemon-reload and restart instead of a reboot.
    let admin: PolicyFile = serde_json::from_value(json!({"units": [{"name": "a.service",
        "actions": [{"type": "DaemonReload"}, {"type": "Restart", "restart": {"serviceName": "a.service"}}]}]})).unwrap();
    let u = cfg(
        "n",
        json!({"systemd": {"units": [{"name": "a.service", "contents": "[Service]\n"}]}}),
        none(),
    );
    let p = plan(
        &cfg("o", none(), none()),
        &u,
        &Policy::default().with(admin),
        false,
    );
    assert_eq!(
        p.actions,
        vec![Action::DaemonReload, Action::restart("a.service")]
    );
}
