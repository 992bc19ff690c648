//! Go Ignition's command line: `-flag value`, `-flag=value`, `--flag=value`,
//! `--flag value`; boolean flags take no separate value (`-flag`,
//! `-flag=false`). Parsing stops at `--` or the first argument that is not a
//! flag, as Go's `flag` package does; unlike Go, leftovers are an error.

use std::path::PathBuf;
use std::time::Duration;

use super::Stage;

/// The platforms whose config source is implemented.
pub const PLATFORMS: &[&str] = &["file", "metal", "qemu"];

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub platform: String,
    pub stage: Stage,
    pub root: PathBuf,
    pub config_cache: PathBuf,
    pub state_file: PathBuf,
    pub neednet: PathBuf,
    pub fetch_timeout: Duration,
    pub log_to_stdout: bool,
    pub dry_run: bool,
}

/// The result of parsing: run, print the version, or print the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Version,
    Help,
}

pub const USAGE: &str = "\
Usage: ignition -platform P -stage S [options]
  -platform P          current platform: file, metal, qemu
  -stage S             fetch-offline, fetch, kargs, disks, mount, files, umount
  -root DIR            root of the filesystem (default /)
  -config-cache FILE   where to cache the config (default /run/ignition.json)
  -state-file FILE     where to store internal state (default /run/ignition/state)
  -neednet FILE        flag file fetch-offline writes when networking is needed
                       (default /run/ignition/neednet)
  -fetch-timeout DUR   initial time to wait for the config (default 2m0s)
  -log-to-stdout       log to stdout instead of stderr
  -dry-run             print what each stage would do, change nothing
  -version             print the version and exit
";

/// Parses the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut platform = None;
    let mut stage = None;
    let mut root = PathBuf::from("/");
    let mut config_cache = PathBuf::from("/run/ignition.json");
    let mut state_file = PathBuf::from("/run/ignition/state");
    let mut neednet = PathBuf::from("/run/ignition/neednet");
    let mut fetch_timeout = Duration::from_secs(120);
    let (mut log_to_stdout, mut dry_run, mut version) = (false, false, false);

    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| !b.is_empty() && !b.starts_with('-'))
        else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let boolean = |v: Option<String>| -> Result<bool, String> {
            match v.as_deref() {
                None => Ok(true),
                Some(s) => parse_bool(s)
                    .ok_or_else(|| format!("invalid boolean value {s:?} for flag -{name}")),
            }
        };
        match name {
            "log-to-stdout" => log_to_stdout = boolean(inline)?,
            "dry-run" => dry_run = boolean(inline)?,
            "version" => version = boolean(inline)?,
            "h" | "help" => return Ok(Command::Help),
            "platform" | "stage" | "root" | "config-cache" | "state-file" | "neednet"
            | "fetch-timeout" => {
                let value = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("flag needs an argument: -{name}"))?,
                };
                match name {
                    "platform" => platform = Some(value),
                    "stage" => {
                        stage =
                            Some(value.parse::<Stage>().map_err(|e| {
                                format!("invalid value {value:?} for flag -stage: {e}")
                            })?)
                    }
                    "root" => root = PathBuf::from(value),
                    "config-cache" => config_cache = PathBuf::from(value),
                    "state-file" => state_file = PathBuf::from(value),
                    "neednet" => neednet = PathBuf::from(value),
                    _ => {
                        fetch_timeout = parse_duration(&value).map_err(|e| {
                            format!("invalid value {value:?} for flag -fetch-timeout: {e}")
                        })?
                    }
                }
            }
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    if let Some(extra) = args.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    if version {
        return Ok(Command::Version);
    }
    let platform = platform.ok_or("'--platform' must be provided")?;
    if !PLATFORMS.contains(&platform.as_str()) {
        return Err(format!(
            "invalid value {platform:?} for flag -platform: supported platforms are {}",
            PLATFORMS.join(", ")
        ));
    }
    let stage = stage.ok_or("'--stage' must be provided")?;
    Ok(Command::Run(Options {
        platform,
        stage,
        root,
        config_cache,
        state_file,
        neednet,
        fetch_timeout,
        log_to_stdout,
        dry_run,
    }))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration` for non-negative values: `2m`, `1m30s`,
/// `1.5h`, `500ms`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || s.starts_with('-') {
        return Err("not a non-negative duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| "invalid number".to_string())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err("missing unit".into()),
            u => return Err(format!("unknown unit {u:?}")),
        };
        total += number * nanos;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().copied()).unwrap() {
            Command::Run(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accepts_every_go_flag_form() {
        let o = run(&[
            "-platform",
            "file",
            "--stage=files",
            "-root=/sysroot",
            "--config-cache",
            "/c",
            "-log-to-stdout",
            "--dry-run=true",
        ]);
        assert_eq!(o.platform, "file");
        assert_eq!(o.stage, Stage::Files);
        assert_eq!(o.root, PathBuf::from("/sysroot"));
        assert_eq!(o.config_cache, PathBuf::from("/c"));
        assert!(o.log_to_stdout && o.dry_run);
        assert_eq!(o.fetch_timeout, Duration::from_secs(120));
        assert_eq!(parse(["-version"]).unwrap(), Command::Version);
        assert_eq!(parse(["--version"]).unwrap(), Command::Version);
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let err = |a: &[&str]| parse(a.iter().copied()).unwrap_err();
        assert_eq!(err(&["-stage", "files"]), "'--platform' must be provided");
        assert_eq!(err(&["-platform", "file"]), "'--stage' must be provided");
        assert!(err(&["-platform", "file", "-stage", "nope"]).contains("-stage"));
        assert!(err(&["-platform", "aws", "-stage", "files"]).contains("supported platforms"));
        assert!(err(&["-bogus"]).contains("not defined: -bogus"));
        assert!(err(&["-root"]).contains("needs an argument"));
        assert!(err(&["-platform", "file", "-stage", "files", "x"]).contains("unexpected"));
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("3x").is_err());
    }
}
