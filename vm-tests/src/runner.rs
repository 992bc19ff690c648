//! `vm-tests list` and `vm-tests run`: one scenario at a time, one line per scenario.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::cli::RunOptions;
use crate::ctx::Ctx;
use crate::image::{self, Image};
use crate::scenarios::{self, Scenario};
use crate::workdir::WorkDir;

/// The scenarios named (`all`: every one), in the order given; unknown names are an error.
pub fn select(names: &[String]) -> Result<Vec<&'static Scenario>> {
    let mut out: Vec<&'static Scenario> = Vec::new();
    for n in names {
        if n == "all" {
            out.extend(scenarios::ALL.iter());
            continue;
        }
        match scenarios::find(n) {
            Some(s) => out.push(s),
            None => bail!(
                "unknown scenario '{n}' (have: {})",
                scenarios::ALL
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| seen.insert(s.name));
    Ok(out)
}

pub fn list() {
    for s in scenarios::ALL {
        println!("{:<24} {}", s.name, s.about);
    }
}

/// The line `run` prints for a result. Pure.
pub fn result_line(name: &str, result: &Result<f64, String>) -> String {
    match result {
        Ok(secs) => format!("PASS {name} {secs:.0}s"),
        Err(reason) => format!("FAIL {name}: {}", reason.lines().next().unwrap_or("")),
    }
}

/// Runs the scenarios; Ok(true) when all passed.
pub fn run(opts: &RunOptions) -> Result<bool> {
    let selected = select(&opts.names)?;
    let dir = image::resolve_dir(
        opts.image_dir.as_deref(),
        std::env::var("MOORING_IMAGE_DIR").ok().as_deref(),
        std::env::var("MOORING_CACHE").ok().as_deref(),
    );
    let image: Result<Option<Image>, String> = if selected.iter().any(|s| s.needs_image) {
        image::ensure_built(&dir)
            .map(Some)
            .map_err(|e| format!("{e:#}"))
    } else {
        Ok(None)
    };
    let accel = crate::accel::accel();
    eprintln!("vm-tests: accelerator {}", accel.arg());
    let mut all_passed = true;
    for s in selected {
        let start = Instant::now();
        let result = run_one(s, &image, opts, accel).map(|()| start.elapsed().as_secs_f64());
        if let Err(reason) = &result {
            all_passed = false;
            eprintln!(
                "vm-tests: {} failed after {:.0}s:\n{reason}\n",
                s.name,
                start.elapsed().as_secs_f64()
            );
        }
        println!("{}", result_line(s.name, &result));
        let _ = std::io::stdout().flush();
    }
    Ok(all_passed)
}

fn run_one(
    s: &Scenario,
    image: &Result<Option<Image>, String>,
    opts: &RunOptions,
    accel: crate::accel::Accel,
) -> Result<(), String> {
    let image = match image {
        Ok(i) => i.clone(),
        Err(e) => return Err(format!("no image: {e}")),
    };
    let work = WorkDir::new(s.name, opts.keep).map_err(|e| format!("{e:#}"))?;
    let mut ctx = Ctx {
        work,
        image,
        accel,
        console: opts.console,
    };
    match (s.run)(&mut ctx) {
        Ok(()) => Ok(()),
        Err(e) => {
            let kept = ctx.work.keep().display().to_string();
            let mut msg = format!("{e:#}");
            // The directory goes on the first line, which is the one `FAIL` shows.
            let first_end = msg.find('\n').unwrap_or(msg.len());
            msg.insert_str(first_end, &format!(" (kept {kept})"));
            Err(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(result_line("first-boot", &Ok(61.4)), "PASS first-boot 61s");
        assert_eq!(
            result_line("x", &Err("boom (kept /tmp/d)\nconsole...".into())),
            "FAIL x: boom (kept /tmp/d)"
        );
    }

    #[test]
    fn selection() {
        let all = select(&["all".into()]).unwrap();
        assert_eq!(all.len(), scenarios::ALL.len());
        let two = select(&[
            "bad-first-boot-config".into(),
            "first-boot".into(),
            "first-boot".into(),
        ])
        .unwrap();
        assert_eq!(
            two.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["bad-first-boot-config", "first-boot"]
        );
        assert!(select(&["nope".into()]).is_err());
    }
}
