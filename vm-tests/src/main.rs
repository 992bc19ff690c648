//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = vm_tests::run(std::env::args().skip(1)) {
        eprintln!("{err:#}");
        std::process::exit(vm_tests::exit_code(&err));
    }
}
