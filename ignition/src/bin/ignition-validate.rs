//! `ignition-validate FILE|-`: prints one line per finding, exits 1 on any error.

use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "Usage:
  ignition-validate [flags] config.ign

Validates an Ignition config (spec 3.0.0 to 3.6.0, or 2.2.0/2.3.0). Prints one line
per finding, e.g. `error at $.storage.files.0.path, line 1 col 61: path not absolute`,
and exits 1 if there is any error, 0 otherwise. Use `-` to read standard input.

Flags:
  -strict, --strict     treat unknown keys (likely typos) as errors
  -version, --version   print the version and exit
  -h, --help            print this help";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut files = Vec::new();
    let mut strict = false;
    for a in &args {
        match a.as_str() {
            "-strict" | "--strict" => strict = true,
            "-version" | "--version" => {
                println!("ignition-validate (mooring) {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "-h" | "-help" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-" => files.push(a),
            flag if flag.starts_with('-') => {
                eprintln!("ignition-validate: unknown flag {flag}\n\n{USAGE}");
                return ExitCode::FAILURE;
            }
            _ => files.push(a),
        }
    }
    let [file] = files.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let raw = if *file == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(file)
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("couldn't read config {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut report, failed) = match ignition::parse(&raw) {
        Ok(parsed) => (parsed.report, false),
        Err(ignition::ParseError::Invalid(report)) => (report, true),
        Err(e) => {
            eprintln!("couldn't parse config: {e}");
            return ExitCode::FAILURE;
        }
    };
    if strict {
        for f in &mut report.findings {
            if f.message.starts_with("Unused key ") {
                f.severity = ignition::Severity::Error;
            }
        }
    }
    print!("{report}");
    if failed || report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
