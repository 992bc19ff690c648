//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = images::run(std::env::args().skip(1)) {
        eprintln!("{err:#}");
        std::process::exit(images::exit_code(&err));
    }
}
