//! `vm-tests demo`: the README's main job. Builds the image when it is missing, starts `mcs serve`
//! with the MachineConfigs of `examples/machineconfigs/`, boots one node from `mcs pointer` output,
//! waits until it is Done at the pool's rendered config, then copies the change of
//! `examples/machineconfigs/changes/` into the server's directory and follows the node to the new
//! rendered config without a reboot. One progress line per step; a summary at the end.
//!
//! Pure parts (the step lines, the summary, reading the node's reports from the mcs log, finding
//! the examples) are separate from the effects (`run`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::cli::DemoOptions;
use crate::console::Pattern;
use crate::ctx::{Boot, Ctx};
use crate::image;
use crate::machine::Machine;
use crate::mcs_host::McsHost;
use crate::scenarios::common::{keys_command, FIRST_BOOT};
use crate::workdir::WorkDir;

/// The pool the examples define and the node joins.
pub const POOL: &str = "worker";
/// From the first report to Done, and for the change to land (TCG, a shared machine).
const CONVERGE: Duration = Duration::from_secs(600);
/// For mcs to re-render after the change is copied in.
const RERENDER: Duration = Duration::from_secs(120);

/// One finished step: what it was, what it found, when it ended (since the demo started) and
/// how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub detail: String,
    pub at: Duration,
    pub took: Duration,
}

/// The progress line of a step. Pure.
pub fn step_line(s: &Step) -> String {
    format!("[{:>6.1}s] {:<18} {}", s.at.as_secs_f64(), s.name, s.detail)
}

/// The line printed when a step fails. Pure.
pub fn failure_line(name: &str, at: Duration, reason: &str) -> String {
    format!(
        "[{:>6.1}s] FAILED {name}: {}",
        at.as_secs_f64(),
        reason.lines().next().unwrap_or("")
    )
}

/// What the demo found on the node, for the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub node: String,
    pub state: String,
    pub first_config: String,
    pub final_config: String,
    /// The change files copied into the server's directory.
    pub change_files: Vec<String>,
    /// The states the node reported after the change, in order (from the mcs log).
    pub reported: Vec<String>,
    pub keys_before: Vec<String>,
    pub keys_after: Vec<String>,
    pub motd: String,
    pub boot_id_before: String,
    pub boot_id_after: String,
}

/// The comment of an OpenSSH public key line (its third field), or the whole line. Pure.
pub fn key_label(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.len() {
        0 => String::new(),
        1 | 2 => line.trim().to_string(),
        _ => f[2..].join(" "),
    }
}

/// The summary printed at the end. Pure.
pub fn summary(steps: &[Step], o: &Outcome, total: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n== mooring demo: summary ==");
    let _ = writeln!(s, "{:<20} {:>8} {:>8}", "step", "took", "at");
    for st in steps {
        let _ = writeln!(
            s,
            "{:<20} {:>7.1}s {:>7.1}s",
            st.name,
            st.took.as_secs_f64(),
            st.at.as_secs_f64()
        );
    }
    let _ = writeln!(s, "{:<20} {:>7.1}s", "total", total.as_secs_f64());
    let _ = writeln!(
        s,
        "\nnode {} (pool {POOL}): {} at {}",
        o.node, o.state, o.final_config
    );
    let _ = writeln!(
        s,
        "  joined at {}, moved to {} after {}",
        o.first_config,
        o.final_config,
        o.change_files.join(", ")
    );
    if !o.reported.is_empty() {
        let _ = writeln!(
            s,
            "  states it reported during the change: {}",
            o.reported.join(" -> ")
        );
    }
    let _ = writeln!(s, "what changed on the node (checked in the guest):");
    let added: Vec<String> = o
        .keys_after
        .iter()
        .filter(|k| !o.keys_before.contains(k))
        .map(|k| key_label(k))
        .collect();
    let _ = writeln!(
        s,
        "  core's SSH keys: {} -> {} (added: {})",
        o.keys_before.len(),
        o.keys_after.len(),
        if added.is_empty() {
            "none".to_string()
        } else {
            added.join(", ")
        }
    );
    let same = o.boot_id_before == o.boot_id_after;
    let _ = writeln!(
        s,
        "  boot id: {} {}",
        o.boot_id_after,
        if same {
            "(unchanged: no reboot)".to_string()
        } else {
            format!("(was {}: the node rebooted)", o.boot_id_before)
        }
    );
    let _ = writeln!(
        s,
        "  /etc/motd (from the pool since first boot): {}",
        o.motd.trim()
    );
    s
}

/// A status report of a node as `mcs serve` logs it (`node status node=N state=S current=C desired=D`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub node: String,
    pub state: String,
    pub current: String,
    pub desired: String,
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!(" {key}=");
    line.find(&pat)
        .map(|i| {
            let rest = &line[i + pat.len()..];
            rest.split_whitespace().next().unwrap_or("")
        })
        .unwrap_or("")
}

/// The node status reports in an `mcs serve` log, in order. Pure.
pub fn node_reports(log: &str) -> Vec<Report> {
    log.lines()
        .filter(|l| l.contains("node status"))
        .map(|l| Report {
            node: field(l, "node").to_string(),
            state: field(l, "state").to_string(),
            current: field(l, "current").to_string(),
            desired: field(l, "desired").to_string(),
        })
        .filter(|r| !r.state.is_empty())
        .collect()
}

/// The examples directory: the option, else `examples/machineconfigs` under the current
/// directory when it exists, else the one of the source tree this binary was built from.
pub fn examples_dir(option: Option<&Path>, cwd_has_examples: bool) -> PathBuf {
    if let Some(d) = option {
        return d.to_path_buf();
    }
    if cwd_has_examples {
        return PathBuf::from("examples/machineconfigs");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/machineconfigs")
}

/// The YAML files of a directory (not hidden, not in subdirectories), sorted.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_file()
            && !name.starts_with('.')
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
        {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Records steps and prints their lines.
struct Progress {
    start: Instant,
    last: Instant,
    steps: Vec<Step>,
}

impl Progress {
    fn new() -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            steps: Vec::new(),
        }
    }

    fn done(&mut self, name: &str, detail: impl Into<String>) {
        let now = Instant::now();
        let s = Step {
            name: name.to_string(),
            detail: detail.into(),
            at: now - self.start,
            took: now - self.last,
        };
        self.last = now;
        println!("{}", step_line(&s));
        let _ = std::io::stdout().flush();
        self.steps.push(s);
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The node's host name (mcd registers under it), set by the boot config.
pub const NODE: &str = "worker-0";

/// Adds `/etc/hostname` to a boot config (spec 3.x), so the node registers under `name`
/// rather than `localhost`. Pure.
pub fn name_node(config: &mut Value, name: &str) -> Result<()> {
    let files = config
        .as_object_mut()
        .context("the boot config is not a JSON object")?
        .entry("storage")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .context("the boot config's storage is not an object")?
        .entry("files")
        .or_insert_with(|| serde_json::json!([]))
        .as_array_mut()
        .context("the boot config's storage.files is not an array")?;
    files.push(serde_json::json!({
        "path": "/etc/hostname",
        "mode": 0o644,
        "overwrite": true,
        "contents": {"source": crate::agent::data_url(format!("{name}\n").as_bytes())}
    }));
    Ok(())
}

/// The node of the pool in `mcs status --json`, if one registered.
fn pool_node(status: &Value) -> Option<Value> {
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["pool"] == POOL)
        .cloned()
}

fn wait_registered(mcs: &McsHost, m: &mut Machine) -> Result<Value> {
    let start = Instant::now();
    loop {
        if let Some(n) = pool_node(&mcs.status()?) {
            if n["registered"] != false {
                return Ok(n);
            }
        }
        if start.elapsed() > CONVERGE {
            bail!(
                "no node registered with pool {POOL} within {}s\nin the guest:\n{}",
                CONVERGE.as_secs(),
                daemon_log(m)
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// What the daemon says in the guest, for errors.
fn daemon_log(m: &mut Machine) -> String {
    m.exec(
        "systemctl list-units --all --no-pager 'machine-config*'; journalctl -b --no-pager -n 40 -u 'machine-config*'",
        Duration::from_secs(60),
    )
    .map(|e| e.output)
    .unwrap_or_else(|e| format!("(cannot read the daemon's journal: {e:#})"))
}

fn keys(m: &mut Machine) -> Result<Vec<String>> {
    Ok(m.run(&keys_command("core"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Runs the demo; Ok(false) after a failed step (its reason printed, the directory kept).
pub fn run(opts: &DemoOptions) -> Result<bool> {
    let mut p = Progress::new();
    let mut outcome = Outcome::default();
    let mut ctx = Ctx {
        work: WorkDir::new("demo", opts.keep)?,
        image: None,
        accel: crate::accel::Accel::Tcg,
        console: opts.console,
    };
    let result = steps(opts, &mut ctx, &mut p, &mut outcome);
    let total = p.elapsed();
    match result {
        Ok(()) => {
            print!("{}", summary(&p.steps, &outcome, total));
            if ctx.work.kept() {
                println!("(kept {})", ctx.work.path().display());
            }
            Ok(true)
        }
        Err((step, e)) => {
            let kept = ctx.work.keep().display().to_string();
            let reason = format!("{e:#}");
            println!("{}", failure_line(step, total, &reason));
            eprintln!("vm-tests demo: {step} failed (kept {kept}):\n{reason}");
            Ok(false)
        }
    }
}

type StepResult<T> = std::result::Result<T, (&'static str, anyhow::Error)>;

fn at<T>(step: &'static str, r: Result<T>) -> StepResult<T> {
    r.map_err(|e| (step, e))
}

fn steps(opts: &DemoOptions, ctx: &mut Ctx, p: &mut Progress, o: &mut Outcome) -> StepResult<()> {
    // 1. The image.
    let examples = examples_dir(
        opts.examples.as_deref(),
        Path::new("examples/machineconfigs").is_dir(),
    );
    let (base, changes) = at(
        "examples",
        (|| {
            let base = yaml_files(&examples)?;
            let changes = yaml_files(&examples.join("changes"))?;
            ensure!(!base.is_empty(), "no *.yaml in {}", examples.display());
            ensure!(
                !changes.is_empty(),
                "no *.yaml in {}",
                examples.join("changes").display()
            );
            Ok((base, changes))
        })(),
    )?;
    let dir = image::resolve_dir(
        opts.image_dir.as_deref(),
        std::env::var("MOORING_IMAGE_DIR").ok().as_deref(),
        std::env::var("MOORING_CACHE").ok().as_deref(),
    );
    let built_before = dir.join("disk.qcow2").is_file();
    let img = at("image ready", image::ensure_built(&dir))?;
    p.done(
        "image ready",
        format!(
            "{} ({}, {} {}){}",
            dir.display(),
            if built_before { "cached" } else { "built now" },
            img.info.ostree_ref,
            img.info.commit.get(..12).unwrap_or(&img.info.commit),
            if img.info.version.is_empty() {
                String::new()
            } else {
                format!(", version {}", img.info.version)
            }
        ),
    );

    // 2. mcs with the examples.
    let (mcs, rendered) = at(
        "mcs started",
        (|| {
            let input = ctx.work.join("mcs-in");
            std::fs::create_dir_all(&input)?;
            for f in &base {
                std::fs::copy(f, input.join(file_name(f)))
                    .with_context(|| format!("copying {}", f.display()))?;
            }
            let mcs = McsHost::start(ctx.work.path(), POOL)?;
            let rendered = mcs
                .rendered(POOL)?
                .context("mcs has not rendered the pool")?;
            Ok((mcs, rendered))
        })(),
    )?;
    p.done(
        "mcs started",
        format!(
            "https://0.0.0.0:{} serving pool {POOL} at {rendered} ({} files from {})",
            mcs.port,
            base.len(),
            examples.display()
        ),
    );
    o.first_config = rendered.clone();

    // 3. The node boots with the pointer config only.
    ctx.image = Some(img);
    ctx.accel = crate::accel::accel();
    node_steps(ctx, &mcs, &rendered, &changes, p, o)
}

fn node_steps(
    ctx: &Ctx,
    mcs: &McsHost,
    rendered: &str,
    changes: &[PathBuf],
    p: &mut Progress,
    o: &mut Outcome,
) -> StepResult<()> {
    let mut m = at(
        "VM booting",
        (|| {
            let mut pointer = mcs.pointer(POOL)?;
            name_node(&mut pointer, NODE)?;
            ctx.boot("node", Boot::with_agent(pointer))
        })(),
    )?;
    p.done(
        "VM booting",
        format!(
            "QEMU ({}) with the `mcs pointer --pool {POOL}` config; console: {}",
            ctx.accel.arg(),
            m.console_path().display()
        ),
    );

    let line = at(
        "Ignition done",
        Pattern::regex(
            r"Ignition complete|[Ii]gnition.*failed|Failed to start.*[Ii]gnition|emergency mode",
        )
        .and_then(|pat| m.wait_console(pat, FIRST_BOOT)),
    )?;
    if !line.contains("Ignition complete") {
        return Err((
            "Ignition done",
            anyhow::anyhow!("Ignition failed: {line}\n{}", m.console.tail_report()),
        ));
    }
    p.done(
        "Ignition done",
        "the pool's config fetched over HTTPS from mcs and applied in the initramfs",
    );

    let node = at("node registered", wait_registered(mcs, &mut m))?;
    o.node = node["name"].as_str().unwrap_or("?").to_string();
    p.done(
        "node registered",
        format!("mcd on {} registered with pool {POOL}", o.node),
    );

    at(
        "node Done",
        mcs.wait_node_done(POOL, Some(rendered), CONVERGE)
            .map_err(|e| anyhow::anyhow!("{e:#}\nin the guest:\n{}", daemon_log(&mut m))),
    )?;
    p.done("node Done", format!("{} Done at {rendered}", o.node));

    // What the node has before the change, through the agent.
    at(
        "guest checked",
        (|| {
            m.wait_agent(FIRST_BOOT)?;
            o.keys_before = keys(&mut m)?;
            o.motd = m.run("cat /etc/motd")?;
            o.boot_id_before = m.boot_id()?;
            ensure!(
                !o.keys_before.is_empty(),
                "core has no SSH key from the pool"
            );
            Ok(())
        })(),
    )?;
    p.done(
        "guest checked",
        format!(
            "core has {} SSH key(s), /etc/motd from the pool, boot id {}",
            o.keys_before.len(),
            o.boot_id_before
        ),
    );

    // The change.
    let log_mark = mcs.log_text().len();
    let new = at(
        "change applied",
        (|| {
            for f in changes {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                mcs.write_input(&file_name(f), &text)?;
                o.change_files.push(file_name(f));
            }
            wait_rerender(mcs, rendered)
        })(),
    )?;
    p.done(
        "change applied",
        format!(
            "copied {} into the mcs directory: pool {POOL} re-rendered to {new}",
            o.change_files.join(", ")
        ),
    );

    // Follow the node's reports until Done at the new config.
    at(
        "node converged",
        (|| {
            let start = Instant::now();
            let mut seen = 0;
            loop {
                let log = mcs.log_text();
                let reports: Vec<Report> = node_reports(log.get(log_mark..).unwrap_or(""))
                    .into_iter()
                    .filter(|r| r.node == o.node)
                    .collect();
                for r in &reports[seen.min(reports.len())..] {
                    // Reports about the old config (a periodic Done) are not part of the move.
                    if r.desired != new && r.current != new {
                        continue;
                    }
                    o.reported.push(r.state.clone());
                    let name = if r.state == "Done" {
                        "node Done (new)".to_string()
                    } else {
                        format!("node {}", r.state)
                    };
                    let detail =
                        format!("{}: current {}, desired {}", o.node, r.current, r.desired);
                    p.done(&name, detail);
                    if r.state == "Degraded" || r.state == "Unreconcilable" {
                        bail!("the node reported {} while moving to {new}", r.state);
                    }
                }
                seen = reports.len();
                if reports
                    .iter()
                    .any(|r| r.state == "Done" && r.current == new)
                {
                    return Ok(());
                }
                if start.elapsed() > CONVERGE {
                    bail!(
                        "the node was not Done at {new} within {}s; mcs status: {}",
                        CONVERGE.as_secs(),
                        mcs.status().map(|s| s.to_string()).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })()
        .map_err(|e| anyhow::anyhow!("{e:#}\nin the guest:\n{}", daemon_log(&mut m))),
    )?;
    let done = at(
        "node converged",
        mcs.wait_node_done(POOL, Some(&new), Duration::from_secs(60)),
    )?;
    o.state = done["state"].as_str().unwrap_or("?").to_string();
    o.final_config = new.clone();

    at(
        "change checked",
        (|| {
            // The daemon reports Done once the key is written; allow for a slow guest anyway.
            let want = o.keys_before.len() + 1;
            m.wait_until(
                &format!(
                    "test \"$({} | grep -c .)\" -ge {want}",
                    keys_command("core")
                ),
                Duration::from_secs(60),
            )?;
            o.keys_after = keys(&mut m)?;
            o.boot_id_after = m.boot_id()?;
            ensure!(
                o.keys_after.len() > o.keys_before.len(),
                "core's SSH keys did not grow: before {:?}, after {:?}",
                o.keys_before,
                o.keys_after
            );
            for k in &o.keys_before {
                ensure!(o.keys_after.contains(k), "the key {k:?} went away");
            }
            ensure!(
                o.boot_id_before == o.boot_id_after,
                "the node rebooted ({} -> {})",
                o.boot_id_before,
                o.boot_id_after
            );
            Ok(())
        })(),
    )?;
    p.done(
        "change checked",
        format!(
            "core has {} SSH keys, boot id unchanged (no reboot)",
            o.keys_after.len()
        ),
    );
    Ok(())
}

/// Waits until the pool's rendered config is no longer `old`; returns the new one.
fn wait_rerender(mcs: &McsHost, old: &str) -> Result<String> {
    let start = Instant::now();
    loop {
        match mcs.rendered(POOL)? {
            Some(r) if r != old => return Ok(r),
            _ if start.elapsed() > RERENDER => bail!(
                "mcs did not re-render pool {POOL} within {}s: {}",
                RERENDER.as_secs(),
                mcs.log_text()
            ),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, at: f64, took: f64) -> Step {
        Step {
            name: name.into(),
            detail: "d".into(),
            at: Duration::from_secs_f64(at),
            took: Duration::from_secs_f64(took),
        }
    }

    #[test]
    fn lines() {
        assert_eq!(
            step_line(&step("image ready", 0.25, 0.25)),
            "[   0.2s] image ready        d"
        );
        assert_eq!(
            failure_line(
                "node Done",
                Duration::from_secs(75),
                "timed out\nconsole..."
            ),
            "[  75.0s] FAILED node Done: timed out"
        );
    }

    #[test]
    fn summary_names_steps_changes_and_reboots() {
        let o = Outcome {
            node: "n1".into(),
            state: "Done".into(),
            first_config: "rendered-worker-a".into(),
            final_config: "rendered-worker-b".into(),
            change_files: vec!["99-x.yaml".into()],
            reported: vec!["Working".into(), "Done".into()],
            keys_before: vec!["ssh-ed25519 AAAA alice@example.com".into()],
            keys_after: vec![
                "ssh-ed25519 AAAA alice@example.com".into(),
                "ssh-ed25519 BBBB oncall@example.com".into(),
            ],
            motd: "hello\n".into(),
            boot_id_before: "b1".into(),
            boot_id_after: "b1".into(),
        };
        let s = summary(
            &[step("image ready", 1.0, 1.0), step("node Done", 90.0, 89.0)],
            &o,
            Duration::from_secs(120),
        );
        assert!(s.contains("node Done               89.0s    90.0s"), "{s}");
        assert!(s.contains("total                  120.0s"), "{s}");
        assert!(
            s.contains("node n1 (pool worker): Done at rendered-worker-b"),
            "{s}"
        );
        assert!(s.contains("Working -> Done"), "{s}");
        assert!(
            s.contains("core's SSH keys: 1 -> 2 (added: oncall@example.com)"),
            "{s}"
        );
        assert!(s.contains("boot id: b1 (unchanged: no reboot)"), "{s}");
        let rebooted = Outcome {
            boot_id_after: "b2".into(),
            ..o
        };
        assert!(summary(&[], &rebooted, Duration::ZERO).contains("(was b1: the node rebooted)"));
    }

    #[test]
    fn reports_from_the_mcs_log() {
        let log = "2026-11-22T06:00:00Z  INFO mcs::nodes: node registered node=n1 pool=worker\n\
                   2026-11-22T06:00:01Z  INFO mcs::nodes: node status node=n1 state=Working current=rendered-worker-a desired=rendered-worker-b reason=\n\
                   2026-11-22T06:00:09Z  INFO mcs::nodes: node status node=n1 state=Done current=rendered-worker-b desired=rendered-worker-b reason=\n";
        let r = node_reports(log);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            Report {
                node: "n1".into(),
                state: "Working".into(),
                current: "rendered-worker-a".into(),
                desired: "rendered-worker-b".into(),
            }
        );
        assert_eq!(r[1].state, "Done");
        assert!(node_reports("node registered node=n1\n").is_empty());
    }

    #[test]
    fn node_name_in_the_boot_config() {
        let mut c = serde_json::json!({"ignition": {"version": "3.2.0"}});
        name_node(&mut c, "worker-0").unwrap();
        assert_eq!(c["storage"]["files"][0]["path"], "/etc/hostname");
        assert!(name_node(&mut serde_json::json!([]), "x").is_err());
    }

    #[test]
    fn key_labels() {
        assert_eq!(
            key_label("ssh-ed25519 AAAA oncall@example.com"),
            "oncall@example.com"
        );
        assert_eq!(key_label("ssh-ed25519 AAAA"), "ssh-ed25519 AAAA");
    }

    #[test]
    fn examples_dir_choice() {
        assert_eq!(examples_dir(Some(Path::new("/x")), true), Path::new("/x"));
        assert_eq!(
            examples_dir(None, true),
            Path::new("examples/machineconfigs")
        );
        assert!(examples_dir(None, false).ends_with("../examples/machineconfigs"));
    }

    #[test]
    fn the_repository_examples_are_there() {
        let d = examples_dir(None, false);
        let base = yaml_files(&d).unwrap();
        let names: Vec<String> = base.iter().map(|p| file_name(p)).collect();
        assert!(names.iter().any(|n| n.contains("pool")), "{names:?}");
        assert!(base.len() >= 3, "{names:?}");
        assert!(!yaml_files(&d.join("changes")).unwrap().is_empty());
    }
}
