//! Differential test: our `ignition-validate` against Go Ignition 2.14's.
//!
//! Corpus: `tests/corpus/differential/*.ign` (specs 3.0.0-3.3.0, the range Go 2.14 supports,
//! plus unparseable inputs and unknown versions). Oracle: `expected.tsv` next to it, written by
//! `regen.sh` from `/usr/bin/ignition-validate` (Debian package `ignition`).
//!
//! For every corpus file we run our binary and require
//!   * the same exit status as Go's, and
//!   * the same set of error JSON paths (the `$...` of each `error at $...` line; `-` for an error
//!     without a path: `error at line L col C: ...`, or a failure with no `error at` line at all,
//!     i.e. a fatal message on stderr). Warnings are not compared.
//!
//! When Go's validator is installed (or `GO_IGNITION_VALIDATE` names one), it is run live as
//! well and must agree with `expected.tsv`, so the recorded oracle cannot go stale; otherwise the
//! recorded verdicts are used and a line says so.
//!
//! Every disagreement is listed with both outputs. Run with `-- --nocapture` to see the details
//! of a passing run; the summary lines are always written to stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GO_DEFAULT: &str = "/usr/bin/ignition-validate";
const TIMEOUT: Duration = Duration::from_secs(60);

/// Writes straight to the process's stderr, bypassing libtest's output capture, so the summary
/// is visible even when the test passes.
fn say(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{msg}");
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/differential")
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    exit: Option<i32>,
    paths: BTreeSet<String>,
}

impl Verdict {
    fn show_exit(&self) -> String {
        match self.exit {
            Some(c) => c.to_string(),
            None => "none (killed by a signal or timed out)".to_string(),
        }
    }
    fn show_paths(&self) -> String {
        if self.paths.is_empty() {
            "(none)".to_string()
        } else {
            self.paths.iter().cloned().collect::<Vec<_>>().join(",")
        }
    }
}

struct Run {
    verdict: Verdict,
    stdout: String,
    stderr: String,
    note: Option<String>,
}

/// The same reduction as regen.sh: JSON paths of `error at $...` lines on stdout, `-` for an
/// `error at` line without a path, and `-` for a failure that printed no `error at` line.
fn error_paths(stdout: &str, exit: Option<i32>) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut any_error_line = false;
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("error at ") else {
            continue;
        };
        any_error_line = true;
        if rest.starts_with('$') {
            let end = rest.find([',', ':']).unwrap_or(rest.len());
            paths.insert(rest[..end].to_string());
        } else {
            paths.insert("-".to_string());
        }
    }
    if exit != Some(0) && !any_error_line {
        paths.insert("-".to_string());
    }
    paths
}

/// Go prints JSON syntax and type errors without a path (`error at line L col C`),
/// and stops there; we name the path of the value (`$` or the field). That is a
/// deliberate difference, so a lone `-` on Go's side matches any error path of ours.
fn paths_agree(ours: &BTreeSet<String>, go: &BTreeSet<String>) -> bool {
    if go.len() == 1 && go.contains("-") {
        return !ours.is_empty();
    }
    ours == go
}

fn run_validator(program: &Path, file: &Path) -> Run {
    let spawned = Command::new(program)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Run {
                verdict: Verdict {
                    exit: None,
                    paths: BTreeSet::new(),
                },
                stdout: String::new(),
                stderr: String::new(),
                note: Some(format!("could not run {}: {e}", program.display())),
            }
        }
    };
    // Drain both pipes on their own threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut note = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                note = Some(format!(
                    "timed out after {}s and was killed",
                    TIMEOUT.as_secs()
                ));
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                note = Some(format!("waiting for {} failed: {e}", program.display()));
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    let exit = status.and_then(|s| s.code());
    if note.is_none() && status.is_some() && exit.is_none() {
        note = Some("killed by a signal".to_string());
    }
    Run {
        verdict: Verdict {
            exit,
            paths: error_paths(&stdout, exit),
        },
        stdout,
        stderr,
        note,
    }
}

fn load_expected(dir: &Path) -> BTreeMap<String, Verdict> {
    let tsv = dir.join("expected.tsv");
    let text = std::fs::read_to_string(&tsv)
        .unwrap_or_else(|e| panic!("reading {}: {e} (run regen.sh)", tsv.display()));
    let mut rows = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') || line.starts_with("file\t") {
            continue;
        }
        let mut cols = line.splitn(3, '\t');
        let (Some(file), Some(exit), paths) = (cols.next(), cols.next(), cols.next().unwrap_or(""))
        else {
            panic!("{}:{}: malformed row {line:?}", tsv.display(), n + 1);
        };
        let exit: i32 = exit
            .parse()
            .unwrap_or_else(|_| panic!("{}:{}: bad go_exit {exit:?}", tsv.display(), n + 1));
        let paths = paths
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let dup = rows.insert(
            file.to_string(),
            Verdict {
                exit: Some(exit),
                paths,
            },
        );
        assert!(dup.is_none(), "{}: {file} listed twice", tsv.display());
    }
    rows
}

fn corpus_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".ign"))
        .collect();
    names.sort();
    names
}

fn indent(label: &str, text: &str) -> String {
    if text.trim().is_empty() {
        return format!("    {label}: (empty)\n");
    }
    let mut s = format!("    {label}:\n");
    for line in text.lines() {
        s.push_str("      | ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Runs `f` over `items` on a few threads, keeping the input order in the result.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

struct Outcome {
    name: String,
    ours: Run,
    go_live: Option<Run>,
}

#[test]
fn same_verdicts_as_go_ignition() {
    let dir = corpus_dir();
    let ours_bin = PathBuf::from(env!("CARGO_BIN_EXE_ignition-validate"));
    let expected = load_expected(&dir);
    let files = corpus_files(&dir);
    assert!(!files.is_empty(), "no *.ign files in {}", dir.display());

    let mut problems = String::new();

    // The corpus and the oracle must list the same files.
    let listed: BTreeSet<&String> = expected.keys().collect();
    let present: BTreeSet<&String> = files.iter().collect();
    for name in present.difference(&listed) {
        problems.push_str(&format!(
            "ORACLE MISSING {name}: not in expected.tsv (run regen.sh)\n"
        ));
    }
    for name in listed.difference(&present) {
        problems.push_str(&format!(
            "ORACLE EXTRA {name}: in expected.tsv but no such file\n"
        ));
    }

    let go_bin = std::env::var_os("GO_IGNITION_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(GO_DEFAULT));
    let go_live = go_bin.is_file();
    if go_live {
        say(&format!(
            "differential: running Go's validator {} live to check expected.tsv",
            go_bin.display()
        ));
    } else {
        say(&format!(
            "differential: {} not found; used the recorded verdicts in expected.tsv \
             (apt-get install ignition to check them live)",
            go_bin.display()
        ));
    }

    let outcomes: Vec<Outcome> = parallel_map(&files, |name| {
        let path = dir.join(name);
        Outcome {
            name: name.clone(),
            ours: run_validator(&ours_bin, &path),
            go_live: go_live.then(|| run_validator(&go_bin, &path)),
        }
    });

    let mut same_exit = 0usize;
    let mut same_paths = 0usize;
    let mut exit_mismatches = Vec::new();
    let mut path_mismatches = Vec::new();
    let mut stale = Vec::new();
    let mut compared = 0usize;

    for o in &outcomes {
        let Some(want) = expected.get(&o.name) else {
            continue;
        };
        compared += 1;

        if let Some(go) = &o.go_live {
            if go.verdict != *want {
                stale.push(format!(
                    "STALE ORACLE {}: expected.tsv says exit {} paths {}, live Go says exit {} paths {}{}\n{}{}",
                    o.name,
                    want.show_exit(),
                    want.show_paths(),
                    go.verdict.show_exit(),
                    go.verdict.show_paths(),
                    go.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                    indent("go stdout", &go.stdout),
                    indent("go stderr", &go.stderr),
                ));
            }
        }

        let got = &o.ours.verdict;
        let exit_ok = got.exit == want.exit;
        let paths_ok = paths_agree(&got.paths, &want.paths);
        same_exit += exit_ok as usize;
        same_paths += paths_ok as usize;
        if exit_ok && paths_ok {
            continue;
        }

        let mut block = format!(
            "{} {}\n    exit:        ours {}, go {}\n",
            if exit_ok {
                "PATHS DIFFER"
            } else {
                "VERDICT DIFFERS"
            },
            o.name,
            got.show_exit(),
            want.show_exit(),
        );
        if !paths_ok {
            let only_ours: Vec<_> = got.paths.difference(&want.paths).cloned().collect();
            let only_go: Vec<_> = want.paths.difference(&got.paths).cloned().collect();
            block.push_str(&format!(
                "    error paths: ours {}, go {}\n    only ours:   {}\n    only go:     {}\n",
                got.show_paths(),
                want.show_paths(),
                if only_ours.is_empty() {
                    "(none)".to_string()
                } else {
                    only_ours.join(",")
                },
                if only_go.is_empty() {
                    "(none)".to_string()
                } else {
                    only_go.join(",")
                },
            ));
        }
        if let Some(note) = &o.ours.note {
            block.push_str(&format!("    ours: {note}\n"));
        }
        block.push_str(&indent("ours stdout", &o.ours.stdout));
        block.push_str(&indent("ours stderr", &o.ours.stderr));
        match &o.go_live {
            Some(go) => {
                block.push_str(&indent("go stdout", &go.stdout));
                block.push_str(&indent("go stderr", &go.stderr));
            }
            None => block.push_str("    go output: not available (recorded verdict only)\n"),
        }
        if exit_ok {
            path_mismatches.push(block);
        } else {
            exit_mismatches.push(block);
        }
    }

    for block in exit_mismatches.iter().chain(&path_mismatches).chain(&stale) {
        problems.push_str(block);
        problems.push('\n');
    }

    let summary = format!(
        "differential: {compared} configs, {same_exit} same verdict, {same_paths} same error paths; \
         {} verdict differences, {} path-only differences{}",
        exit_mismatches.len(),
        path_mismatches.len(),
        if go_live {
            format!(", {} stale oracle rows (live Go vs expected.tsv)", stale.len())
        } else {
            ", oracle: recorded verdicts".to_string()
        },
    );
    say(&summary);

    if !problems.is_empty() {
        let names = |blocks: &[String]| -> String {
            blocks
                .iter()
                .map(|b| b.lines().next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        };
        let listing: Vec<String> = [
            names(&exit_mismatches),
            names(&path_mismatches),
            names(&stale),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
        panic!(
            "{summary}\n\n{problems}\nsummary of disagreements:\n  {}\n",
            if listing.is_empty() {
                "(see above)".to_string()
            } else {
                listing.join("\n  ")
            },
        );
    }
}
