//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

#[derive(Debug, Parser)]
#[command(
    name = "backupman",
    version,
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

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "debug")]
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
    pub fn global(&self) -> Global {
        Global {
            config: self.config.clone(),
            quiet: self.quiet,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up every configured source to every configured drive.
    Run(RunArgs),
    /// Check, without backing anything up, that every source can be dumped and every drive
    /// allows each action a backup needs.
    Health(HealthArgs),
    /// Apply retention now: delete the backups the retention policy no longer keeps.
    Prune(PruneArgs),
    /// Print the version.
    Version,
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
pub struct HealthArgs {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
