//! VM tests: a QEMU harness that boots mooring's OS image and checks the whole life of a node
//! (issue #9). See docs/vm-tests.md.
//!
//! Layers, bottom up: [`cmd`] (every external command), [`accel`] (KVM probe, TCG fallback),
//! [`qemu`] (machine description and process), [`console`], [`agent`] (commands in the guest
//! over virtio-serial), [`disk`] (overlays, offline reads), [`machine`] (the scenario API),
//! [`image`], [`mcs_host`], [`ctx`], [`scenarios`], [`runner`], [`demo`], [`cli`]. [`testkit`] is a
//! busybox guest for the harness's own tests.

pub mod accel;
pub mod agent;
pub mod cli;
pub mod cmd;
pub mod console;
pub mod ctx;
pub mod demo;
pub mod disk;
pub mod image;
pub mod machine;
pub mod mcs_host;
pub mod qemu;
pub mod runner;
pub mod scenarios;
pub mod testkit;
pub mod workdir;

pub use cli::PROG;

/// Entry point used by `main`: `Ok(false)` when a scenario failed.
pub fn run<I, S>(args: I) -> anyhow::Result<bool>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    match cli::parse(args)? {
        cli::Action::Help => print!("{}", cli::HELP),
        cli::Action::Version => println!("{PROG} {}", env!("CARGO_PKG_VERSION")),
        cli::Action::List => runner::list(),
        cli::Action::Run(opts) => {
            workdir::remove_on_interrupt()?;
            return runner::run(&opts);
        }
        cli::Action::Demo(opts) => {
            workdir::remove_on_interrupt()?;
            return demo::run(&opts);
        }
    }
    Ok(true)
}

/// Exit status for an error returned by [`run`]: 2 for usage errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<cli::UsageError>().is_some() {
        2
    } else {
        1
    }
}
