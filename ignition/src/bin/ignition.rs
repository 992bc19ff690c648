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
    let sink = exec::logging::choose(opts.log_to_stdout, &exec::logging::journal_socket());
    let stage = opts.stage.name();
    exec::logging::init(&sink, Some(stage));
    exec::logging::stage_started(stage);
    let started = std::time::Instant::now();
    match exec::run(&opts, &exec::Env::from_env()) {
        Ok(()) => {
            exec::logging::stage_finished(stage, started.elapsed());
            ExitCode::SUCCESS
        }
        Err(e) => {
            exec::logging::stage_failed(stage, &e.to_string());
            // The one line also on the console when the log went elsewhere.
            if sink != exec::logging::Sink::Stderr {
                eprintln!("ignition: {e}");
            }
            ExitCode::from(1)
        }
    }
}
