//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = mcs::run(std::env::args().skip(1)) {
        eprintln!("{err:#}");
        std::process::exit(mcs::exit_code(&err));
    }
}
