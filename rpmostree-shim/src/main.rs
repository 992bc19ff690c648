//! Thin entry point; see the library for the command line.

fn main() {
    match rpmostree_shim::run(std::env::args_os().skip(1)) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(rpmostree_shim::exit_code(&err));
        }
    }
}
