//! Every external command of `images` goes through here: logged, stderr kept for the error.

pub use initramfs::cmd::CommandError;

/// Runs a command, returns its stdout.
pub fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, CommandError> {
    initramfs::cmd::run(program, args, None)
}

/// Runs a command, returns its stdout as trimmed text.
pub fn text(program: &str, args: &[&str]) -> Result<String, CommandError> {
    run(program, args).map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

/// Runs a command whose output does not matter.
pub fn quiet(program: &str, args: &[&str]) -> Result<(), CommandError> {
    run(program, args).map(|_| ())
}
