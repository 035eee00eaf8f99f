//! Loading what the commands read (the configuration through the operations library, an age
//! identity file) and printing its warnings and errors: printing is the front end's job.

use std::io::ErrorKind;
use std::path::Path;

use backupman_config::{Config, ConfigError, Loaded};
use backupman_core::Identities;
use backupman_ops::wiring::Plan;

use crate::Outcome;
use crate::cli::IdentityArg;

/// Loads the configuration, printing warnings; on error prints every problem and says why
/// the command cannot go on.
pub fn load_config(path: &Path) -> Result<Config, Outcome> {
    match backupman_ops::wiring::load_config(path) {
        Ok(Loaded {
            config,
            warnings,
            notes,
            ..
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
            match &err {
                ConfigError::Read { source, .. } if source.kind() == ErrorKind::NotFound => {
                    eprintln!(
                        "error: {err} (hint: name the configuration with `-c FILE` or the \
                         BACKUPMAN_CONFIG environment variable; `backupman init` writes a \
                         starter config.yml here)"
                    );
                }
                _ => eprintln!("error: {err}"),
            }
            Err(Outcome::Invalid)
        }
    }
}

/// Loads the configuration as [`load_config`] does and resolves it into the plan the
/// operations take.
pub fn load_plan(path: &Path) -> Result<Plan, Outcome> {
    load_config(path).map(|config| backupman_ops::wiring::plan(&config))
}

/// Reads `--identity` (or `BACKUPMAN_AGE_IDENTITY`), warning when the file is readable by
/// others; a file that cannot be used is a command-line mistake (exit 2).
pub fn load_identity(arg: &IdentityArg) -> Result<Option<Identities>, Outcome> {
    let Some(path) = &arg.path else {
        return Ok(None);
    };
    let identities = Identities::load(path).map_err(usage)?;
    if let Some(mode) = identities.readable_by_others() {
        tracing::warn!(
            "the age identity file {} is readable by others (mode {mode:03o}): it decrypts every backup; `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(Some(identities))
}

/// Prints a command-line mistake (an unknown label, a missing key) and ends with exit 2.
pub fn usage(err: impl std::fmt::Display) -> Outcome {
    eprintln!("error: {err}");
    Outcome::Invalid
}
