//! backupman's configuration: `config.yml` → a typed, validated [`Config`].
//!
//! It accepts the original backupman layout (`data_sources`, `drives`, `retention`, plus
//! `notifiers`, `http`, `database`), substitutes `${VAR}` / `${VAR:-default}` from the
//! environment in parsed values, plain or double-quoted (so a secret holding `#`, `: ` or
//! quotes survives intact, and `port: ${PGPORT}` works; single-quoted values stay literal),
//! rejects unknown keys, and reports every validation problem at
//! once with its line and option path (`drives[1].region`) and a hint. Secrets are
//! [`Secret`]s: `Debug` and `Display` never show them.
//!
//! ```
//! let yaml = r#"
//! data_sources:
//!   - provider: sqlite
//!     label: App
//!     db_path: /var/lib/app.db
//! drives:
//!   - provider: local
//!     label: Disk
//!     folder: /var/backups
//! "#;
//! let loaded = backupman_config::parse(yaml, "config.yml", |_| None).unwrap();
//! assert_eq!(loaded.config.drives[0].label(), "Disk");
//! ```

#![warn(missing_docs)]

mod error;
mod hooks;
mod model;
mod notifiers;
mod raw;
mod recover;
mod substitute;
mod suggest;
mod validate;

use std::collections::HashMap;
use std::path::Path;

pub use error::{ConfigError, Problem};
pub use hooks::HooksConfig;
pub use model::*;
pub use notifiers::{
    IncomingWebhookConfig, MailConfig, MailDestination, PingConfig, SmtpCrypto, WebhookConfig,
    WebhookEvent,
};

/// A loaded configuration, the warnings it deserves and the notes worth telling once.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Things that are probably mistakes but do not stop a run, each with its file and line.
    pub warnings: Vec<String>,
    /// Options of the original layout that backupman accepts but has no use for (`database`;
    /// `tmp_folder` on a server source, whose dump streams), each with its file and line:
    /// information, not a problem.
    pub notes: Vec<String>,
    /// The options holding a secret written in the file itself rather than given as
    /// `${VAR}`, as `path (line N)`: [`load`] warns when such a file is readable by its group
    /// or by others.
    pub literal_secrets: Vec<String>,
}

/// Reads and validates the configuration file at `path`, substituting from the process
/// environment.
/// Warns when the file holds secrets written in it and its group or others may read it.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut loaded = parse(&text, &path.display().to_string(), |name| {
        std::env::var(name).ok()
    })?;
    if let Some(mode) = backupman_core::readable_by_others(path)
        && !loaded.literal_secrets.is_empty()
    {
        loaded.warnings.push(format!(
            "{}: readable by {} (mode {mode:03o}) and holds secrets written in it: {}; `chmod 600 {}`, or give them as ${{VAR}} from the environment",
            path.display(),
            if mode & 0o004 != 0 { "every user" } else { "its group" },
            loaded.literal_secrets.join(", "),
            path.display(),
        ));
    }
    Ok(loaded)
}

/// Parses and validates configuration text. `origin` names the text in messages; `env`
/// looks variables up (pass `|_| None` for none).
pub fn parse(
    text: &str,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let properties = referenced_variables(text)
        .into_iter()
        .filter_map(|name| env(&name).map(|value| (name, value)))
        .collect::<HashMap<_, _>>();
    validate::validate(raw::parse(text, properties), origin, text)
}

/// Names of every `${NAME...}` in the text: only these are handed to the parser, so the rest
/// of the environment never enters it.
fn referenced_variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names.sort();
    names.dedup();
    names
}
