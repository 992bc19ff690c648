//! The demo's MachineConfig examples (examples/machineconfigs/) against the real binaries (no
//! VM): `mcs render` accepts them and renders the worker pool to a config `ignition-validate`
//! accepts, before and after the change of `changes/`, and the change adds core's second key.
//! `cargo test -p vm-tests` does not build `mcs` or `ignition-validate`; without them the test
//! is skipped with a printed reason (`cargo build --workspace` builds them).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vm_tests::demo::{examples_dir, yaml_files, POOL};
use vm_tests::image::sibling_binary;

fn render(mcs: &Path, dir: &Path) -> Value {
    let out = Command::new(mcs)
        .args(["render", "--json", "--pool", POOL, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcs render --dir {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn validate(validator: &Path, rendered: &Value, scratch: &Path) {
    let config = &rendered["spec"]["config"];
    assert!(config.is_object(), "no spec.config in {rendered}");
    let f = scratch.join("config.ign");
    std::fs::write(&f, serde_json::to_vec(config).unwrap()).unwrap();
    let out = Command::new(validator).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "ignition-validate refused the rendered config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn core_keys(rendered: &Value) -> Vec<String> {
    rendered["spec"]["config"]["passwd"]["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["name"] == "core")
        .flat_map(|u| {
            u["sshAuthorizedKeys"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect()
}

#[test]
fn examples_render_and_validate_before_and_after_the_change() {
    let (mcs, validator) = match (sibling_binary("mcs"), sibling_binary("ignition-validate")) {
        (Ok(m), Ok(v)) => (m, v),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("SKIPPED: {e:#}");
            return;
        }
    };
    let examples: PathBuf = examples_dir(None, false);
    let scratch = tempfile::tempdir().unwrap();

    // As shipped: `mcs render` reads the directory and skips changes/ (a subdirectory).
    let before = render(&mcs, &examples);
    let first = before["metadata"]["name"].as_str().unwrap().to_string();
    assert!(first.starts_with("rendered-worker-"), "{first}");
    validate(&validator, &before, scratch.path());
    let files = before["spec"]["config"]["storage"]["files"].to_string();
    assert!(files.contains("/etc/motd"), "{files}");
    assert_eq!(core_keys(&before).len(), 1, "{before}");
    assert!(
        before["spec"]["kernelArguments"]
            .as_array()
            .map_or(true, |a| a.is_empty()),
        "the examples must not change kernel arguments (that reboots): {before}"
    );

    // With the change copied in, as the demo does.
    let dir = scratch.path().join("mcs-in");
    std::fs::create_dir_all(&dir).unwrap();
    for f in yaml_files(&examples)
        .unwrap()
        .into_iter()
        .chain(yaml_files(&examples.join("changes")).unwrap())
    {
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let after = render(&mcs, &dir);
    let second = after["metadata"]["name"].as_str().unwrap();
    assert_ne!(
        second, first,
        "the change did not change the rendered config"
    );
    validate(&validator, &after, scratch.path());
    let keys = core_keys(&after);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.is_empty()));
    for k in core_keys(&before) {
        assert!(keys.contains(&k), "the first key went away: {keys:?}");
    }
}
