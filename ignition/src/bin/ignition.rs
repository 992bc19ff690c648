//! `ignition`: the first-boot executor. Not built yet (issue #3); this binary
//! only says so, so that nothing mistakes it for a working executor.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-version" || a == "--version") {
        println!("ignition (mooring) {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "ignition: the executor is not implemented yet (tracked in issue #3); \
         the config engine and ignition-validate are available"
    );
    ExitCode::from(2)
}
