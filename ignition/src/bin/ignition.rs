//! `ignition`: the first-boot executor, with Go Ignition's command line
//! (see `ignition::exec`).

use std::process::ExitCode;

use ignition::exec::{self, cli};

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(o)) => o,
        Ok(cli::Command::Version) => {
            println!("Ignition (mooring) {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ignition: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    exec::init_logging(opts.log_to_stdout);
    tracing::info!(
        "Ignition (mooring) {}: stage {}",
        env!("CARGO_PKG_VERSION"),
        opts.stage
    );
    match exec::run(&opts, &exec::Env::from_env()) {
        Ok(()) => {
            tracing::info!("Ignition finished successfully");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            if opts.log_to_stdout {
                eprintln!("ignition: {e}");
            }
            ExitCode::from(1)
        }
    }
}
