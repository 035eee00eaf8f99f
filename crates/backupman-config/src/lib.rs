//! backupman's configuration: `config.yml` → a typed, validated [`Config`].
//!
//! It accepts the original backupman layout (`data_sources`, `drives`, `retention`, plus
//! `notifiers`, `http`, `database`), substitutes `${VAR}` / `${VAR:-default}` from the
//! environment in parsed values (so a secret holding `#`, `: ` or quotes survives intact, and
//! `port: ${PGPORT}` works), rejects unknown keys, and reports every validation problem at
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
mod model;
mod raw;
mod validate;

use std::collections::HashMap;
use std::path::Path;

pub use error::{ConfigError, Problem};
pub use model::*;

/// A loaded configuration and the warnings it deserves (sections that are parsed but not
/// implemented yet, options that are accepted and ignored).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Notes about options accepted but ignored (`tmp_folder`, `database`, the `email`,
    /// `slack` and `discord` notifiers, a quoted `${VAR}`), each with its file and line.
    pub warnings: Vec<String>,
}

/// Reads and validates the configuration file at `path`, substituting from the process
/// environment.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string(), |name| {
        std::env::var(name).ok()
    })
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
    let raw = raw::parse(text, origin, properties)?;
    let mut loaded = validate::validate(raw, origin)?;
    loaded.warnings.extend(quoted_references(text, origin));
    Ok(loaded)
}

/// Substitution applies to plain (unquoted) values only, so a quoted `"${VAR}"` stays
/// literal: say so, since that is rarely what was meant.
fn quoted_references(text: &str, origin: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with('#'))
        .filter(|(_, line)| line.contains("\"${") || line.contains("'${"))
        .map(|(i, _)| {
            format!(
                "{origin}: line {}: a quoted value containing ${{...}} is taken literally; remove the quotes to substitute the environment variable",
                i + 1
            )
        })
        .collect()
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
