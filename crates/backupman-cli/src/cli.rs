//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

#[derive(Debug, Parser)]
#[command(
    name = "backupman",
    version = crate::version::LINE,
    about = "Back up databases to local folders and S3-compatible object storage",
    propagate_version = true
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "BACKUPMAN_CONFIG",
        default_value = "config.yml"
    )]
    pub config: PathBuf,

    /// Debug logging for backupman (secrets are never logged).
    #[arg(long, global = true)]
    pub debug: bool,

    /// Also the informational log (each step, notes about the configuration) on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with_all = ["debug", "verbose"])]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command sees.
#[derive(Debug, Clone)]
pub struct Global {
    pub config: PathBuf,
    pub quiet: bool,
}

impl Cli {
    pub fn verbosity(&self) -> crate::output::Verbosity {
        use crate::output::Verbosity;
        if self.debug {
            Verbosity::Debug
        } else if self.verbose {
            Verbosity::Verbose
        } else if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }

    pub fn global(&self) -> Global {
        Global {
            config: self.config.clone(),
            quiet: self.quiet,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter configuration (an SQLite source and a local drive) to the
    /// `--config` path, `config.yml` by default; an existing file is never replaced.
    Init,
    /// Back up every configured source to every configured drive.
    Run(RunArgs),
    /// Check, without backing anything up, that every source can be dumped and every drive
    /// allows each action a backup needs.
    Health(HealthArgs),
    /// List the backups found on the drives, newest first.
    List(ListArgs),
    /// Download backups and check them against their manifests and gzip streams.
    Verify(VerifyArgs),
    /// Stream a backup back into a database.
    Restore(RestoreArgs),
    /// Apply retention now: delete the backups the retention policy no longer keeps.
    Prune(PruneArgs),
    /// Run as a service: back up on the `http.backup_job` schedule and answer the HTTP API
    /// (`/api/backups`, `/health`, `/metrics`) until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Print the version, the commit it was built from and the build date.
    Version(VersionArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Validate the configuration and print the plan without backing anything up.
    #[arg(long)]
    pub dry_run: bool,

    /// Only this source (by label; repeatable).
    #[arg(long = "source", value_name = "LABEL")]
    pub sources: Vec<String>,

    /// Of a whole-server source: only this database (repeatable; `globals` for PostgreSQL's
    /// roles and tablespaces). The same as `--source "LABEL/NAME"`.
    #[arg(long = "database", value_name = "NAME", requires = "sources")]
    pub databases: Vec<String>,

    /// Only this drive (by label; repeatable).
    #[arg(long = "drive", value_name = "LABEL")]
    pub drives: Vec<String>,

    /// Run the whole pipeline for real into a separate test location on every drive, read
    /// every object back, check its SHA-256 and gzip stream, then delete it. Retention does
    /// not run and no real backup is touched.
    #[arg(long, conflicts_with = "dry_run")]
    pub test_mode: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Back up this many sources at the same time (1 to 64; default: the configuration's
    /// `concurrency`, else 4). 1 backs up one source after another.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=backupman_config::MAX_CONCURRENCY as i64))]
    pub parallel: Option<u16>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(short, long, default_value_t = backupman_serve::DEFAULT_PORT)]
    pub port: u16,

    /// Address to listen on: an IP address or a host name such as `localhost` (all
    /// interfaces by default, as the original backupman).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0", value_parser = listen_address)]
    pub bind: std::net::IpAddr,
}

/// An IP address, or a host name resolved to its first address (`localhost` → 127.0.0.1).
fn listen_address(text: &str) -> Result<std::net::IpAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = text.parse() {
        return Ok(ip);
    }
    let mut found = (text, 0)
        .to_socket_addrs()
        .map_err(|err| format!("not an IP address, and the host name does not resolve: {err}"))?
        .map(|a| a.ip())
        .collect::<Vec<_>>();
    // `localhost` may resolve to ::1 first; the IPv4 loopback is what people mean by it.
    found.sort_by_key(|ip| !ip.is_ipv4());
    found
        .into_iter()
        .next()
        .ok_or_else(|| "the host name resolves to no address".to_owned())
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what would be deleted without deleting anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print them as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this source (by label; repeatable).
    #[arg(long = "source", value_name = "LABEL")]
    pub sources: Vec<String>,

    /// Of a whole-server source: only this database (repeatable; `globals` for PostgreSQL's
    /// roles and tablespaces). The same as `--source "LABEL/NAME"`.
    #[arg(long = "database", value_name = "NAME", requires = "sources")]
    pub databases: Vec<String>,

    /// Only this drive (by label; repeatable).
    #[arg(long = "drive", value_name = "LABEL")]
    pub drives: Vec<String>,

    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("backup").required(true).args(["key", "latest"])))]
pub struct VerifyArgs {
    /// The backup's key, as `backupman list` shows it (or `--latest`).
    pub key: Option<String>,

    /// Verify the newest backup of each source on each drive.
    #[arg(long)]
    pub latest: bool,

    /// With --latest: only this source (by label; repeatable).
    #[arg(long = "source", value_name = "LABEL")]
    pub sources: Vec<String>,

    /// Of a whole-server source: only this database (repeatable; `globals` for PostgreSQL's
    /// roles and tablespaces). The same as `--source "LABEL/NAME"`.
    #[arg(long = "database", value_name = "NAME", requires = "sources")]
    pub databases: Vec<String>,

    /// Only this drive (by label; repeatable).
    #[arg(long = "drive", value_name = "LABEL")]
    pub drives: Vec<String>,

    /// Also restore each backup into a scratch database (created and dropped by backupman)
    /// and report its tables and rows.
    #[arg(long)]
    pub restore: bool,

    /// Look at a named backup even when it is not trusted (unsigned where signing is
    /// configured, badly signed, unencrypted where encryption is, suspect): it is checked and
    /// reported, never passed.
    #[arg(long, requires = "key")]
    pub allow_untrusted: bool,

    #[command(flatten)]
    pub identity: IdentityArg,

    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("backup").required(true).args(["key", "latest"])))]
pub struct RestoreArgs {
    /// The source whose backup to restore (by label).
    #[arg(long)]
    pub source: String,

    /// Of a whole-server source: the database whose backup to restore (`globals` for
    /// PostgreSQL's roles and tablespaces). The same as `--source "LABEL/NAME"`.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,

    /// The backup's key, as `backupman list` shows it (or `--latest`).
    pub key: Option<String>,

    /// Restore the newest backup of the source.
    #[arg(long)]
    pub latest: bool,

    /// Read from this drive (by label; default: the first drive holding the backup).
    #[arg(long = "drive", value_name = "LABEL")]
    pub drives: Vec<String>,

    /// Where to restore: a database name on the source's server, a URL such as
    /// postgres://user@host:5432/db or mysql://user@host/db, or a SQLite file path.
    /// Default: the source's own database.
    #[arg(long, value_name = "TARGET")]
    pub to: Option<String>,

    /// Restore even when the target database is not empty.
    #[arg(long)]
    pub force: bool,

    /// Restore a named backup even when it is not trusted (unsigned where signing is
    /// configured, badly signed, unencrypted where encryption is, suspect). `--latest` only
    /// ever picks a trusted one.
    #[arg(long, requires = "key")]
    pub allow_untrusted: bool,

    #[command(flatten)]
    pub identity: IdentityArg,
}

/// The age identity that reads encrypted backups (`verify`, `restore`).
#[derive(Debug, Args)]
pub struct IdentityArg {
    /// An age identity file (AGE-SECRET-KEY-1..., as `age-keygen` writes it) to decrypt
    /// encrypted backups with. Without it, `verify` checks an encrypted backup's stored bytes
    /// only, and `restore` refuses it.
    #[arg(long = "identity", value_name = "FILE", env = "BACKUPMAN_AGE_IDENTITY")]
    pub path: Option<PathBuf>,
}
