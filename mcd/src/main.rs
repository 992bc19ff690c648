//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = mcd::run(std::env::args().skip(1)) {
        if err.downcast_ref::<mcd::ExitStatus>().is_none() {
            eprintln!("{err:#}");
        }
        std::process::exit(mcd::exit_code(&err));
    }
}
