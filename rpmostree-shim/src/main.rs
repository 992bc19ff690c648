//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = rpmostree_shim::run(std::env::args().skip(1)) {
        eprintln!("{err:#}");
        std::process::exit(rpmostree_shim::exit_code(&err));
    }
}
