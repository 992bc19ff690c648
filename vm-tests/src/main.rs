//! Thin entry point; see the library for the command line.

fn main() {
    match vm_tests::run(std::env::args().skip(1)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(err) => {
            eprintln!("{err:#}");
            std::process::exit(vm_tests::exit_code(&err));
        }
    }
}
