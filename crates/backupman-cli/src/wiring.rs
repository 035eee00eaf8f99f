//! The configuration as the commands need it: loaded through the operations library, with
//! its warnings and errors printed here, since printing is the front end's job.

use std::path::Path;

use backupman_config::{Config, Loaded};

use crate::Outcome;

/// Loads the configuration, printing warnings; on error prints every problem and says why
/// the command cannot go on.
pub fn load_config(path: &Path) -> Result<Config, Outcome> {
    match backupman_ops::wiring::load_config(path) {
        Ok(Loaded {
            config,
            warnings,
            notes,
        }) => {
            for warning in warnings {
                tracing::warn!("{warning}");
            }
            for note in notes {
                tracing::info!("note: {note}");
            }
            Ok(config)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Err(Outcome::Invalid)
        }
    }
}

/// Prints a command-line mistake (an unknown label, a missing key) and ends with exit 2.
pub fn usage(err: impl std::fmt::Display) -> Outcome {
    eprintln!("error: {err}");
    Outcome::Invalid
}
