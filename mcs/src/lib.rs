//! Machine Config Server (`mcs`): loads the admin's MachineConfig YAML from a
//! directory, renders one config per pool with the `machine-config` crate and
//! serves it as Ignition over HTTPS, in the spec version each client asks for.
//!
//! The pieces, each in its own module:
//! - [`cli`]: the command line (`serve`, `render`, `status`, `pointer`);
//! - [`negotiate`]: the spec version from the `Accept` header, as OpenShift's MCS does it;
//! - [`served`]: a rendered pool as the Ignition bytes served for one spec version
//!   (the appended files, down-translation);
//! - [`source`]: reading the directory, with the last good version of each file;
//! - [`catalog`]: what is served per pool after each reload (last good render per pool);
//! - [`snapshot`]: the immutable view the HTTP handlers read, with per-version response caches;
//! - [`http`]: routing and status codes, a pure function of the snapshot and the request;
//! - [`reload`]: one reload (load, render, publish, persist) and the polling loop;
//! - [`state`]: the state directory (rendered configs history, `status.json`, pruning);
//! - [`status`]: the status model and `mcs status`;
//! - [`tls`]: the CA and serving certificate, rustls configuration;
//! - [`listener`]: accept loops (TLS and plain HTTP) on tokio and hyper;
//! - [`fleet`]: registered nodes, their states and rollout slots (pure);
//! - [`nodes`]: the node API and FleetLock endpoints (`/v1/...`), `nodes.json`;
//! - [`tokens`]: bootstrap and node tokens;
//! - [`metrics`]: Prometheus metrics on `--metrics-listen`;
//! - [`pointer`](mod@pointer): `mcs pointer`;
//! - [`serve`]: `mcs serve`, wiring all of it together;
//! - [`render_cmd`]: `mcs render`.
//!
//! See `docs/mcs.md` for the contract and the differences from OpenShift's MCS.

pub mod catalog;
pub mod cli;
pub mod fleet;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod negotiate;
pub mod nodes;
pub mod pointer;
pub mod reload;
pub mod render_cmd;
pub mod serve;
pub mod served;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod status;
pub mod tls;
pub mod tokens;

pub use cli::{run, NotImplemented, UsageError};

/// The program name used in messages.
pub const PROG: &str = "mcs";

/// Exit status for an error returned by [`run`]: 2 for usage errors and
/// subcommands that are not built yet, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<NotImplemented>().is_some() || err.downcast_ref::<UsageError>().is_some()
    {
        2
    } else {
        1
    }
}

/// Sets up `tracing` to stderr; `MCS_LOG` (an `EnvFilter` directive such as
/// `debug` or `mcs=trace`) overrides the default level `info`.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MCS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
