//! Thin entry point; see the library for the command line.

fn main() {
    if let Err(err) = initramfs::run(std::env::args().skip(1)) {
        eprintln!("{err:#}");
        std::process::exit(initramfs::exit_code(&err));
    }
}
