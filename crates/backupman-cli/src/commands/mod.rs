//! One module per command.

pub mod health;
pub mod init;
pub mod list;
pub mod prune;
pub mod restore;
pub mod run;
pub mod serve;
pub mod verify;

use clap::CommandFactory;

/// Ends the command with the outcome an `Err` carries; its message is already printed.
macro_rules! or_exit {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(outcome) => return Ok(outcome),
        }
    };
}
use clap_complete::Shell;
pub(crate) use or_exit;

pub fn completions(shell: Shell) {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "backupman", &mut std::io::stdout());
}
