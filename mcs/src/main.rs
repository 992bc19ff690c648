//! Thin entry point; the command line and everything else live in the library.

fn main() {
    if let Err(err) = mcs::run(std::env::args_os().skip(1)) {
        eprintln!("mcs: {err:#}");
        std::process::exit(mcs::exit_code(&err));
    }
}
