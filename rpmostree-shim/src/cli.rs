//! The command line (clap), with rpm-ostree's command and option names.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rpm-ostree",
    version,
    about = "rpm-ostree command-line subset over libostree (mooring shim)",
    after_help = "On a sysroot that is not the booted system, changes are written directly \
                  instead of staged. See docs/rpm-ostree.md."
)]
pub struct Cli {
    /// Use the system root DIR instead of /
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub sysroot: PathBuf,
    /// Operate on the stateroot NAME (default: the booted one, or the only one)
    #[arg(long, global = true, value_name = "NAME")]
    pub os: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the deployments, in boot order
    Status {
        /// Print JSON with rpm-ostree's field names
        #[arg(long)]
        json: bool,
        /// Only the booted deployment
        #[arg(short = 'b', long)]
        booted: bool,
    },
    /// Pull the origin's ref from its remote and deploy it if it moved
    Upgrade(UpdateOpts),
    /// Switch to another ref (REMOTE:REF, REF keeping the remote, REMOTE: keeping the ref, :REF local)
    Rebase {
        refspec: String,
        /// A checksum or version of the new ref to deploy instead of its tip
        revision: Option<String>,
        /// Keep the old ref in the repo
        #[arg(long)]
        skip_purge: bool,
        #[command(flatten)]
        opts: UpdateOpts,
    },
    /// Deploy a commit of the origin's ref: a checksum, version=V or revision=CHECKSUM
    Deploy {
        revision: String,
        #[command(flatten)]
        opts: UpdateOpts,
    },
    /// Make the rollback deployment the default again
    Rollback,
    /// Show or change kernel arguments (deploys the same tree with the new arguments)
    Kargs(KargsArgs),
    /// Remove pending or rollback deployments and unused data
    Cleanup(CleanupArgs),
    /// Unlock a staged deployment locked with --lock-finalization, then reboot
    FinalizeDeployment {
        /// Checksum of the staged deployment (safety check)
        checksum: Option<String>,
        #[arg(long)]
        allow_missing_checksum: bool,
        #[arg(long)]
        allow_unlocked: bool,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct UpdateOpts {
    /// Exit with status 77 when nothing changed
    #[arg(long)]
    pub unchanged_exit_77: bool,
    /// Staged deployments: do not finalize at shutdown until `finalize-deployment`
    #[arg(long)]
    pub lock_finalization: bool,
    /// upgrade: accept a commit older than the current one
    #[arg(long)]
    pub allow_downgrade: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct KargsArgs {
    /// Append KEY[=VALUE]
    #[arg(long, value_name = "KEY=VALUE")]
    pub append: Vec<String>,
    /// Append KEY[=VALUE] unless KEY is present
    #[arg(long, value_name = "KEY=VALUE")]
    pub append_if_missing: Vec<String>,
    /// Delete KEY (single value) or KEY=VALUE
    #[arg(long, value_name = "KEY=VALUE")]
    pub delete: Vec<String>,
    /// Like --delete, but no error when absent
    #[arg(long, value_name = "KEY=VALUE")]
    pub delete_if_present: Vec<String>,
    /// Replace KEY's single value (KEY=VALUE) or one value (KEY=OLD=NEW)
    #[arg(long, value_name = "KEY=VALUE")]
    pub replace: Vec<String>,
    /// Exit with status 77 when nothing changed
    #[arg(long)]
    pub unchanged_exit_77: bool,
    /// Staged deployments: do not finalize at shutdown until `finalize-deployment`
    #[arg(long)]
    pub lock_finalization: bool,
}

#[derive(Debug, Args, Default, Clone)]
pub struct CleanupArgs {
    /// Remove the pending (staged) deployment
    #[arg(short = 'p', long)]
    pub pending: bool,
    /// Remove the rollback deployment
    #[arg(short = 'r', long)]
    pub rollback: bool,
    /// Remove unreferenced deployments, boot files and repo objects
    #[arg(short = 'b', long)]
    pub base: bool,
    /// Accepted for compatibility; there is no rpm-md cache
    #[arg(short = 'm', long)]
    pub repomd: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_anywhere() {
        let a = Cli::try_parse_from(["rpm-ostree", "--sysroot=/x", "status", "--json"]).unwrap();
        let b = Cli::try_parse_from(["rpm-ostree", "status", "--sysroot", "/x", "--json"]).unwrap();
        assert_eq!(a.sysroot, PathBuf::from("/x"));
        assert_eq!(b.sysroot, PathBuf::from("/x"));
        let c = Cli::try_parse_from([
            "rpm-ostree",
            "kargs",
            "--append=a=1",
            "--append",
            "b",
            "--replace=c=2",
            "--os=debian",
        ])
        .unwrap();
        assert_eq!(c.os.as_deref(), Some("debian"));
        let Command::Kargs(k) = c.command else {
            panic!("not kargs")
        };
        assert_eq!(k.append, ["a=1", "b"]);
        assert_eq!(k.replace, ["c=2"]);
    }
}
