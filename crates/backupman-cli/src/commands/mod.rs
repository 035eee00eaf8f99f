//! One module per command.

pub mod catalog;
pub mod health;
pub mod list;
pub mod prune;
pub mod restore;
pub mod run;
pub mod verify;

use clap::CommandFactory;
use clap_complete::Shell;

pub fn completions(shell: Shell) {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "backupman", &mut std::io::stdout());
}
