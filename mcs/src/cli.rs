//! The command line: `mcs serve | render | status | pointer | token rotate`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::serve::{ServeOptions, DEFAULT_LISTEN, DEFAULT_STATE_DIR};

/// A subcommand that is planned but not built yet; exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command}: not implemented yet (tracked in issue #{issue})")]
pub struct NotImplemented {
    pub command: String,
    pub issue: u32,
}

#[derive(Debug, Parser)]
#[command(
    name = "mcs",
    version,
    about = "Machine Config Server: renders MachineConfig YAML per pool and serves it as Ignition",
    after_help = "Logs go to stderr; set MCS_LOG=debug for more. See docs/mcs.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the rendered config of each pool as Ignition at https://ADDR/config/POOL.
    Serve(ServeArgs),
    /// Print the rendered MachineConfig of one pool (YAML, or JSON with --json).
    Render {
        /// Directory of MachineConfig, MachineConfigPool, KubeletConfig and
        /// ContainerRuntimeConfig YAML (*.yaml, *.yml).
        #[arg(long)]
        dir: PathBuf,
        /// The pool to render.
        #[arg(long)]
        pool: String,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Show the pools (rendered config, paused, errors) and nodes a server's state directory records.
    Status {
        /// The state directory of `mcs serve`.
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Print JSON: {"pools": [...], "nodes": [...], "inputErrors": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Print the pointer Ignition config a new machine boots with: it merges
    /// URL/config/POOL and trusts the server's CA.
    Pointer {
        /// The state directory of `mcs serve` (its ca.crt is embedded).
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// The pool the machine joins.
        #[arg(long)]
        pool: String,
        /// The server's base URL, such as `https://mcs.example.com:22623`.
        #[arg(long)]
        url: String,
        /// Ignition spec of the pointer (3.x); default 3.3.0, the newest Go Ignition 2.14 reads.
        #[arg(long, value_name = "VERSION")]
        spec: Option<String>,
        /// The CA certificate (PEM) to embed instead of STATE_DIR/ca.crt (for --tls-cert servers).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Leave the pool's bootstrap token out (for a server run with --allow-anonymous-config).
        /// Without it the pointer carries the token as an Authorization header: keep it secret.
        #[arg(long)]
        anonymous: bool,
    },
    /// Manage the pools' bootstrap tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Replace a pool's bootstrap token: new registrations need the new one
    /// (served with the pool's config); registered nodes keep their node tokens.
    Rotate {
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        pool: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory of MachineConfig YAML; watched for changes.
    #[arg(long)]
    pub dir: PathBuf,
    /// Address of the HTTPS listener.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Also serve plain HTTP on this address (no TLS). Off unless given.
    #[arg(long, value_name = "ADDR")]
    pub insecure_listen: Option<SocketAddr>,
    /// Serving certificate (PEM, leaf first). Without it, a CA and a serving
    /// certificate are created in the state directory and reused later.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Extra subject alternative name (DNS name or IP address) for the
    /// generated serving certificate; repeatable.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Where the certificates, rendered configs, nodes, tokens and status.json are kept.
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Base URL nodes are told to reach this server at (in mcs.json);
    /// repeatable. Default: `https://HOSTNAME:PORT` (PORT of --listen).
    #[arg(long = "advertise-url", value_name = "URL")]
    pub advertise_urls: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9333). Off unless given.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve /config/POOL to anyone, as OpenShift's MCS does. Without it a request needs
    /// `Authorization: Bearer` with the pool's bootstrap token (which `mcs pointer` puts in
    /// the pointer config) or a node token of the pool.
    #[arg(long)]
    pub allow_anonymous_config: bool,
}

impl From<ServeArgs> for ServeOptions {
    fn from(a: ServeArgs) -> Self {
        ServeOptions {
            dir: a.dir,
            listen: a.listen,
            insecure_listen: a.insecure_listen,
            tls_cert: a.tls_cert.zip(a.tls_key),
            sans: a.sans,
            state_dir: a.state_dir,
            advertise_urls: a.advertise_urls,
            metrics_listen: a.metrics_listen,
            allow_anonymous_config: a.allow_anonymous_config,
            ..ServeOptions::default()
        }
    }
}

/// A command line clap refused (exit status 2), already formatted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Entry point used by `main`: parses `args` (without the program name) and
/// runs the subcommand. `--help` and `--version` print and return `Ok`.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv = std::iter::once(OsString::from(crate::PROG)).chain(args.into_iter().map(Into::into));
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            print!("{e}");
            return Ok(());
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim_end().trim_start_matches("error: ");
            return Err(UsageError(text.to_string()).into());
        }
    };
    match cli.command {
        Command::Serve(a) => {
            crate::init_logging();
            crate::serve::serve(a.into())
        }
        Command::Render { dir, pool, json } => {
            let out = crate::render_cmd::render(&dir, &pool, json)?;
            print!("{out}");
            Ok(())
        }
        Command::Status { state_dir, json } => {
            let status = crate::status::read(&state_dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.to_text());
            }
            Ok(())
        }
        Command::Pointer {
            state_dir,
            pool,
            url,
            spec,
            ca,
            anonymous,
        } => {
            let out = crate::pointer::run(
                &state_dir,
                &pool,
                &url,
                spec.as_deref(),
                ca.as_deref(),
                anonymous,
            )?;
            print!("{out}");
            Ok(())
        }
        Command::Token(TokenCommand::Rotate { state_dir, pool }) => {
            crate::tokens::rotate_cmd(&state_dir, &pool)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_needs_pool_and_url() {
        let err = run(["pointer", "--pool", "worker"]).unwrap_err();
        assert_eq!(crate::exit_code(&err), 2);
        let err = run([
            "pointer",
            "--state-dir",
            "/nonexistent",
            "--pool",
            "w",
            "--url",
            "https://m",
        ])
        .unwrap_err();
        assert_eq!(crate::exit_code(&err), 1);
        assert!(err.to_string().contains("ca.crt"), "{err}");
    }

    #[test]
    fn usage_errors_exit_2_and_help_is_ok() {
        for args in [&["serve"][..], &["nope"], &[], &["render", "--dir", "d"]] {
            let err = run(args.iter().copied()).unwrap_err();
            assert_eq!(crate::exit_code(&err), 2, "{args:?}: {err}");
        }
        run(["--help"]).unwrap();
        run(["render", "--help"]).unwrap();
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from(["mcs", "serve", "--dir", "d"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        let o: ServeOptions = a.into();
        assert_eq!(o.listen.to_string(), "0.0.0.0:22623");
        assert_eq!(o.state_dir, PathBuf::from("/var/lib/mcs"));
        assert!(o.insecure_listen.is_none() && o.tls_cert.is_none());
        assert!(o.advertise_urls.is_empty() && o.metrics_listen.is_none());
    }

    #[test]
    fn cert_needs_key() {
        assert!(Cli::try_parse_from(["mcs", "serve", "--dir", "d", "--tls-cert", "c"]).is_err());
        let cli = Cli::try_parse_from([
            "mcs",
            "serve",
            "--dir",
            "d",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--san",
            "a",
            "--san",
            "10.0.0.1",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.sans, ["a", "10.0.0.1"]);
    }
}
