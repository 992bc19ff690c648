//! The command line, parsed without effects.

use std::fmt;
use std::path::PathBuf;

pub const PROG: &str = "vm-tests";

pub const HELP: &str = "\
vm-tests - boots mooring's OS image in QEMU and checks a node's whole life

Usage:
  vm-tests list
      List the scenarios, one per line: NAME and what it checks.
  vm-tests run [OPTIONS] NAME... | all
      Run the scenarios, one VM at a time. Prints one line per scenario on stdout,
      `PASS <name> <seconds>s` or `FAIL <name>: <reason>` (details on stderr), and exits
      with status 1 if any failed.

  vm-tests demo [OPTIONS]
      The README's main job: builds the image when it is missing, starts `mcs serve` with
      the MachineConfigs of examples/machineconfigs/, boots one node from `mcs pointer`
      output, waits until it is Done at the pool's rendered config, then copies the
      change of examples/machineconfigs/changes/ into the server's directory and follows
      the node to the new rendered config without a reboot. One line per step with the
      elapsed time, a summary at the end; exits with status 1 and the reason when a step
      fails (the demo's directory is then kept).

Options of `run` (and `demo`):
  --image-dir DIR   The built image (disk.qcow2, build.json, repo/). Default:
                    $MOORING_IMAGE_DIR, else $MOORING_CACHE/image, else /var/cache/mooring/image.
                    Without DIR/disk.qcow2, `images build --output DIR` runs first (the
                    `images` binary next to this one).
  --keep            Keep every scenario's temporary directory (disks, console logs);
                    a failed scenario's directory is always kept and named in its error.
  --console         Stream the guest's serial console to stderr.

Options of `demo` only:
  --examples DIR    The MachineConfig YAML (DIR/*.yaml, the change in DIR/changes/*.yaml).
                    Default: examples/machineconfigs under the current directory, else
                    the one of the source tree the binary was built from.

Environment:
  MOORING_ACCEL=kvm|tcg   Skip the KVM probe (by default KVM is used only when a probe
                          guest prints within 5 s; otherwise TCG).
  MOORING_VM_LOG=1        Log every command the harness runs.
  TMPDIR                  Where scenario directories go (default /var/tmp).

  -h, --help       Print this help
  -V, --version    Print the version
";

#[derive(Debug, PartialEq, Eq, Clone, Default)]
pub struct RunOptions {
    pub names: Vec<String>,
    pub image_dir: Option<PathBuf>,
    pub keep: bool,
    pub console: bool,
}

#[derive(Debug, PartialEq, Eq, Clone, Default)]
pub struct DemoOptions {
    pub image_dir: Option<PathBuf>,
    pub keep: bool,
    pub console: bool,
    pub examples: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
    List,
    Run(RunOptions),
    Demo(DemoOptions),
}

/// The value of `--NAME VALUE` or `--NAME=VALUE` when `arg` is that option.
fn value_of(
    name: &str,
    arg: &str,
    rest: &mut impl Iterator<Item = String>,
) -> Result<Option<PathBuf>, UsageError> {
    if arg == name {
        let v = rest
            .next()
            .ok_or_else(|| UsageError(format!("option '{name}' needs a value")))?;
        return Ok(Some(v.into()));
    }
    Ok(arg
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('='))
        .map(PathBuf::from))
}

#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PROG}: {} (see '{PROG} --help')", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments (without the program name). Pure.
pub fn parse<I, S>(args: I) -> Result<Action, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "help"))
    {
        return Ok(Action::Help);
    }
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-V" | "--version"))
    {
        return Ok(Action::Version);
    }
    let mut it = args.into_iter();
    let Some(sub) = it.next() else {
        return Err(UsageError("missing subcommand".into()));
    };
    match sub.as_str() {
        "list" => match it.next() {
            None => Ok(Action::List),
            Some(a) => Err(UsageError(format!("unexpected argument '{a}' to list"))),
        },
        "run" => {
            let mut o = RunOptions::default();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--keep" => o.keep = true,
                    "--console" => o.console = true,
                    "--image-dir" => {
                        let v = it.next().ok_or_else(|| {
                            UsageError("option '--image-dir' needs a value".into())
                        })?;
                        o.image_dir = Some(v.into());
                    }
                    _ if a.starts_with("--image-dir=") => {
                        o.image_dir = Some(a["--image-dir=".len()..].into());
                    }
                    _ if a.starts_with('-') => {
                        return Err(UsageError(format!("unknown option '{a}'")))
                    }
                    _ => o.names.push(a),
                }
            }
            if o.names.is_empty() {
                return Err(UsageError("run: name the scenarios, or `all`".into()));
            }
            Ok(Action::Run(o))
        }
        "demo" => {
            let mut o = DemoOptions::default();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--keep" => o.keep = true,
                    "--console" => o.console = true,
                    _ => {
                        if let Some(v) = value_of("--image-dir", &a, &mut it)? {
                            o.image_dir = Some(v);
                        } else if let Some(v) = value_of("--examples", &a, &mut it)? {
                            o.examples = Some(v);
                        } else if a.starts_with('-') {
                            return Err(UsageError(format!("unknown option '{a}'")));
                        } else {
                            return Err(UsageError(format!("unexpected argument '{a}' to demo")));
                        }
                    }
                }
            }
            Ok(Action::Demo(o))
        }
        other => Err(UsageError(format!("unknown subcommand '{other}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options() {
        let a = parse([
            "run",
            "--keep",
            "first-boot",
            "--image-dir",
            "/i",
            "--console",
            "x",
        ])
        .unwrap();
        assert_eq!(
            a,
            Action::Run(RunOptions {
                names: vec!["first-boot".into(), "x".into()],
                image_dir: Some("/i".into()),
                keep: true,
                console: true
            })
        );
        let Action::Run(o) = parse(["run", "--image-dir=/j", "all"]).unwrap() else {
            panic!()
        };
        assert_eq!(o.image_dir, Some("/j".into()));
    }

    #[test]
    fn demo_options() {
        assert_eq!(parse(["demo"]), Ok(Action::Demo(DemoOptions::default())));
        assert_eq!(
            parse([
                "demo",
                "--keep",
                "--image-dir",
                "/i",
                "--console",
                "--examples=/e"
            ]),
            Ok(Action::Demo(DemoOptions {
                image_dir: Some("/i".into()),
                keep: true,
                console: true,
                examples: Some("/e".into()),
            }))
        );
        assert!(parse(["demo", "--image-dir"]).is_err());
        assert!(parse(["demo", "--bogus"]).is_err());
        assert!(parse(["demo", "first-boot"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(parse(Vec::<String>::new()).is_err());
        assert!(parse(["run"]).is_err());
        assert!(parse(["run", "--image-dir"]).is_err());
        assert!(parse(["run", "--bogus", "all"]).is_err());
        assert!(parse(["list", "extra"]).is_err());
        assert!(parse(["frobnicate"]).is_err());
        assert_eq!(parse(["list"]), Ok(Action::List));
        assert_eq!(parse(["run", "--help"]), Ok(Action::Help));
    }
}
