//! Render speed: one pool of 1,000 MachineConfigs with 10 files each.
//!
//! `cargo run --release -p machine-config --example render_bench [-- MCS FILES RUNS]`
//! prints the time of each render step and the best of the runs (goal: under
//! 100 ms for 1,000 × 10). Not a test: a figure to keep in the docs.

use std::time::{Duration, Instant};

use machine_config::generate::data_url;
use machine_config::{render_pool, Inputs, MachineConfig, ObjectMeta, ROLE_LABEL};
use serde_json::json;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap_or(0));
    let mcs = args.next().filter(|n| *n > 0).unwrap_or(1000);
    let files = args.next().filter(|n| *n > 0).unwrap_or(10);
    let runs = args.next().filter(|n| *n > 0).unwrap_or(5);

    let inputs = inputs(mcs, files);
    let mut best = Duration::MAX;
    let mut name = String::new();
    for run in 1..=runs {
        let start = Instant::now();
        let rendered = match render_pool(&inputs, "worker") {
            Ok(r) => r,
            Err(e) => {
                eprintln!("render failed: {e}");
                std::process::exit(1);
            }
        };
        let took = start.elapsed();
        best = best.min(took);
        println!(
            "run {run}: {:.1} ms ({} files in the merged config)",
            took.as_secs_f64() * 1000.0,
            rendered.ignition.storage.files.len()
        );
        name = rendered.name;
    }
    println!(
        "render_pool: {mcs} MachineConfigs x {files} files: best {:.1} ms of {runs} runs (goal < 100 ms); {name}",
        best.as_secs_f64() * 1000.0
    );
}

/// `mcs` worker MachineConfigs; each writes `files` files, one in ten of them
/// shared with the other configs (so merging overrides as well as appends),
/// and adds a kernel argument.
fn inputs(mcs: usize, files: usize) -> Inputs {
    let machine_configs = (0..mcs)
        .map(|i| {
            let file_list: Vec<_> = (0..files)
                .map(|j| {
                    let path = if j == 0 {
                        format!("/etc/shared/file-{}", i % 10)
                    } else {
                        format!("/etc/mc-{i:04}/file-{j:02}.conf")
                    };
                    let text = format!("# config {i} file {j}\nkey{j} = value-{i}-{j}\n");
                    json!({"path": path, "mode": 420, "contents": {"source": data_url(text.as_bytes())}})
                })
                .collect();
            let mut metadata = ObjectMeta {
                name: format!("{:02}-worker-{i:04}", i % 100),
                ..Default::default()
            };
            metadata.labels.insert(ROLE_LABEL.into(), "worker".into());
            let mut mc = MachineConfig {
                metadata,
                ..Default::default()
            };
            mc.spec.config = json!({"ignition": {"version": "3.2.0"}, "storage": {"files": file_list}});
            mc.spec.kernel_arguments = vec![format!("bench.arg{i}=1")];
            mc
        })
        .collect();
    Inputs {
        machine_configs,
        ..Default::default()
    }
}
