//! `backupman`: back up PostgreSQL, MySQL/MariaDB and SQLite databases to local folders and
//! S3-compatible object storage. This binary is presentation only: arguments, logging,
//! messages and exit codes; the work happens in the backupman-* libraries.

mod cli;
mod commands;
mod loading;
mod output;
mod progress;
mod signals;
mod version;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// jemalloc (one arena, background threads returning freed pages within a second: see
/// .cargo/config.toml) instead of glibc's malloc. Under `serve`, glibc's sliding mmap
/// threshold put the large buffers of backups and downloads on its heaps once the first was
/// freed, and RSS grew by 150 MiB an hour of 5-second backups with under 3 MiB in use; with
/// these settings it stays flat (the soak in docs/reliability.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit codes: 0 success, 1 a backup or check failed, 2 invalid command line or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    Invalid,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Invalid => ExitCode::from(2),
        }
    }
}

/// What a command ends with. Every failure a command meets is its `Outcome`, already told
/// on stderr; the one error left is a report that cannot be written as JSON (`--json`).
type CommandResult = Result<Outcome, serde_json::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = match (&cli.command, cli.verbosity()) {
        // A service's log is all it has to say: what it serves, each run, its stop.
        (Command::Serve(_), output::Verbosity::Normal) => output::Verbosity::Verbose,
        (_, verbosity) => verbosity,
    };
    output::init_logging(verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Outcome::Failed.into();
        }
    };
    let global = cli.global();
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Init => Ok(commands::init::init(&global)),
            Command::Run(args) => commands::run::run(&global, args).await,
            Command::Health(args) => commands::health::health(&global, args).await,
            Command::List(args) => commands::list::list(&global, args).await,
            Command::Verify(args) => commands::verify::verify(&global, args).await,
            Command::Restore(args) => commands::restore::restore(&global, args).await,
            Command::Prune(args) => commands::prune::prune(&global, args).await,
            Command::Serve(args) => commands::serve::serve(&global, args).await,
            Command::Version(args) => {
                version::print(args.json);
                Ok(Outcome::Success)
            }
            Command::Completions { shell } => {
                commands::completions(shell);
                Ok(Outcome::Success)
            }
        }
    });
    // The command is done: a blocking task still running (the dump tool of `serve`'s
    // background health check, which nothing can interrupt) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            eprintln!("error: cannot write the report as JSON: {err}");
            Outcome::Failed.into()
        }
    }
}
