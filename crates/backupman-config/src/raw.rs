//! The configuration as written: every value spanned so validation can say where it is.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use crate::error::Problem;
use crate::recover::{self, Blank};
use crate::substitute;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub data_sources: Option<Vec<S<RawSource>>>,
    pub drives: Option<Vec<S<RawDrive>>>,
    pub retention: Option<S<RawRetention>>,
    pub compression: Option<S<RawCompression>>,
    pub encryption: Option<S<RawEncryption>>,
    pub signing: Option<S<RawSigning>>,
    pub incomplete_uploads: Option<S<RawIncompleteUploads>>,
    pub concurrency: Option<S<u32>>,
    pub retry: Option<S<RawRetry>>,
    pub notifiers: Option<S<RawNotifiers>>,
    pub http: Option<S<RawHttp>>,
    pub database: Option<S<RawDatabase>>,
}

/// The original backupman's own record database: accepted so its configuration loads, and
/// unused (the drives hold the record). Its keys are checked, their values are not.
#[allow(dead_code)] // deserialized only so that a misspelt key is refused
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub provider: Option<IgnoredAny>,
    pub host: Option<IgnoredAny>,
    pub port: Option<IgnoredAny>,
    pub db_name: Option<IgnoredAny>,
    pub db_path: Option<IgnoredAny>,
    pub user: Option<IgnoredAny>,
    pub password: Option<IgnoredAny>,
    pub tls: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    pub provider: Option<S<String>>,
    pub label: Option<S<String>>,
    pub host: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub db_name: Option<S<String>>,
    pub user: Option<S<String>>,
    pub password: Option<S<String>>,
    pub tls: Option<S<RawTls>>,
    pub db_path: Option<S<String>>,
    pub tmp_folder: Option<S<String>>,
    #[serde(alias = "pg_dump_path")]
    pub dump_tool_path: Option<S<String>>,
    pub dump_options: Option<S<Vec<String>>>,
    pub hooks: Option<S<RawHooks>>,
    pub encryption: Option<S<RawEncryption>>,
    pub databases: Option<S<RawDatabases>>,
    pub exclude: Option<S<Vec<S<String>>>>,
    pub exclude_tables: Option<S<Vec<S<String>>>>,
    pub exclude_table_data: Option<S<Vec<S<String>>>>,
    pub retry: Option<S<RawRetry>>,
    pub schedule: Option<S<RawBackupJob>>,
}

/// `databases: all`, or a list of names. Untagged, so its items carry no span of their own
/// (serde buffers an untagged value): a problem in one is located at `databases`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDatabases {
    Word(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub attempts: Option<S<u32>>,
    pub delay_seconds: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    pub before: Option<S<String>>,
    pub after: Option<S<String>>,
    pub on_failure: Option<S<String>>,
    pub timeout_seconds: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawTls {
    Flag(bool),
    Mode(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrive {
    pub provider: Option<S<String>>,
    pub label: Option<S<String>>,
    // local
    pub folder: Option<S<String>>,
    // s3
    pub bucket: Option<S<String>>,
    pub region: Option<S<String>>,
    pub access_key: Option<S<String>>,
    pub secret_key: Option<S<String>>,
    pub endpoint: Option<S<String>>,
    pub prefix: Option<S<String>>,
    pub force_path_style: Option<S<bool>>,
    pub storage_class: Option<S<String>>,
    pub server_side_encryption: Option<S<String>>,
    pub sse_kms_key_id: Option<S<String>>,
    pub timeout_seconds: Option<S<u64>>,
    pub max_attempts: Option<S<u32>>,
    pub part_size_mb: Option<S<u64>>,
    pub object_lock: Option<S<RawObjectLock>>,
    pub ca_file: Option<S<String>>,
    // google_drive, accepted only to be refused clearly: the original's keys
    // (`client_secret_file`, `token_file`, beside `folder`) and the usual OAuth names.
    pub client_secret_file: Option<S<IgnoredAny>>,
    pub token_file: Option<S<IgnoredAny>>,
    pub client_id: Option<S<IgnoredAny>>,
    pub client_secret: Option<S<IgnoredAny>>,
    pub folder_id: Option<S<IgnoredAny>>,
    pub token: Option<S<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub enabled: Option<S<bool>>,
    pub by: Option<S<String>>,
    pub value: Option<S<u32>>,
    pub keep_daily: Option<S<u32>>,
    pub keep_weekly: Option<S<u32>>,
    pub keep_monthly: Option<S<u32>>,
    pub keep_yearly: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawObjectLock {
    pub mode: Option<S<String>>,
    pub days: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompression {
    pub codec: Option<S<String>>,
    pub level: Option<S<u32>>,
    pub threads: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEncryption {
    pub age_recipients: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigning {
    pub secret_key_file: Option<S<String>>,
    pub public_key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIncompleteUploads {
    pub abort_after_hours: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifiers {
    pub mail: Option<S<RawMail>>,
    // The original's earlier releases read `notifiers.webhooks`; their files keep working.
    #[serde(alias = "webhooks")]
    pub webhook: Option<S<RawWebhook>>,
    pub slack: Option<S<RawIncomingWebhook>>,
    pub discord: Option<S<RawIncomingWebhook>>,
    pub ping: Option<S<RawPing>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPing {
    pub enabled: Option<S<bool>>,
    pub endpoints: Option<Vec<S<RawPingEndpoint>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPingEndpoint {
    pub name: Option<S<String>>,
    pub url: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMail {
    pub enabled: Option<S<bool>>,
    pub smtp_host: Option<S<String>>,
    pub smtp_port: Option<S<u16>>,
    pub smtp_user: Option<S<String>>,
    pub smtp_password: Option<S<String>>,
    pub smtp_crypto: Option<S<String>>,
    pub smtp_ca_file: Option<S<String>>,
    pub from: Option<S<String>>,
    pub destinations: Option<Vec<S<RawDestination>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestination {
    pub name: Option<S<String>>,
    pub email: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIncomingWebhook {
    pub enabled: Option<S<bool>>,
    pub webhook_url: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub enabled: Option<S<bool>>,
    pub endpoints: Option<Vec<S<RawEndpoint>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub name: Option<S<String>>,
    pub url: Option<S<String>>,
    pub token: Option<S<String>>,
    pub events: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub app_url: Option<S<String>>,
    pub api_keys: Option<Vec<S<String>>>,
    pub backup_job: Option<S<RawBackupJob>>,
    pub shutdown_grace_seconds: Option<S<u64>>,
    pub download_url_minutes: Option<S<u32>>,
    pub catalog_refresh_seconds: Option<S<u64>>,
    pub max_connections: Option<S<u32>>,
    pub header_timeout_seconds: Option<S<u64>>,
    pub idle_timeout_seconds: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackupJob {
    pub enabled: Option<S<bool>>,
    pub cron: Option<S<String>>,
    pub timezone: Option<S<String>>,
}

/// What parsing found: the configuration as written, when the parser could be taken past
/// every problem, and the problems it met on the way.
pub(crate) struct Parsed {
    pub raw: Option<RawConfig>,
    pub problems: Vec<Problem>,
    /// The lines holding an unset variable: a later problem there (a value of the wrong
    /// type, a validation problem) is about its stand-in value, not about what the file says.
    pub unset_lines: Vec<usize>,
}

/// At most this many rounds of parsing: a file with more problems is rarely a configuration
/// at all, and the first fifty say so.
const MAX_ROUNDS: usize = 50;

/// Stands for an unset variable while the rest of the file is checked: parses as a string
/// and as a number, and its own line's later problems are not reported (see
/// [`Parsed::unset_lines`]).
const UNSET: &str = "0";

pub(crate) fn parse(text: &str, properties: HashMap<String, String>) -> Parsed {
    if text.trim().is_empty() {
        return Parsed {
            raw: Some(RawConfig {
                data_sources: None,
                drives: None,
                retention: None,
                compression: None,
                encryption: None,
                signing: None,
                incomplete_uploads: None,
                concurrency: None,
                retry: None,
                notifiers: None,
                http: None,
                database: None,
            }),
            problems: Vec::new(),
            unset_lines: Vec::new(),
        };
    }
    let prepared = substitute::prepare(text);
    let mut current = prepared.text.clone();
    let mut properties = properties;
    let mut problems: Vec<Problem> = Vec::new();
    let mut unset_lines = Vec::new();
    // The parser stops at its first problem: each is noted, taken out of the way (an unset
    // variable given a stand-in, an unknown option or a wrong value blanked) and the text
    // parsed again, until it parses or a problem cannot be taken out of the way.
    for _ in 0..MAX_ROUNDS {
        let err = match serde_saphyr::from_str_with_options::<RawConfig>(
            &current,
            options(properties.clone()),
        ) {
            Ok(raw) => {
                return Parsed {
                    raw: Some(raw),
                    problems,
                    unset_lines,
                };
            }
            Err(err) => err,
        };
        let cause = cause(&err);
        let location = err.location();
        let line = location.map_or(0, |l| l.line() as usize);
        let column = location.map_or(0, |l| l.column() as usize);
        let (message, hint) = syntax_message(cause);
        let problem = Problem {
            line,
            column: prepared.original_column(line, column),
            path: String::new(),
            message,
            hint,
        };
        let unset = unset_variable(cause);
        // A value that does not fit once its variable got a stand-in is the same problem.
        if unset.is_some() {
            unset_lines.push(line);
            problems.push(problem);
        } else if !unset_lines.contains(&line) {
            problems.push(problem);
        }
        let next = match unset {
            Some(name) if properties.get(name).is_none_or(|v| v != UNSET) => {
                properties.insert(name.to_owned(), UNSET.to_owned());
                Some(current.clone())
            }
            Some(_) => None,
            None if location.is_none() => None,
            // About the file as a whole: nothing to take out of the way.
            None if matches!(
                cause,
                serde_saphyr::Error::Budget { .. } | serde_saphyr::Error::MultipleDocuments { .. }
            ) =>
            {
                None
            }
            None => {
                let what = match cause {
                    serde_saphyr::Error::SerdeUnknownField { .. }
                    | serde_saphyr::Error::DuplicateMappingKey { .. } => Blank::Entry,
                    _ => Blank::Value,
                };
                recover::blank(&current, line, column, what)
            }
        };
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    Parsed {
        raw: None,
        problems,
        unset_lines,
    }
}

fn options(properties: HashMap<String, String>) -> serde_saphyr::Options {
    serde_saphyr::options! {
        // Snippets would quote the offending line, and that line may hold a secret.
        with_snippet: false,
        // Compose-style interpolation substitutes in every scalar style; `substitute::prepare`
        // keeps single-quoted values and a bare `$NAME` literal, and an unset `${NAME}` an error.
        property_syntax: serde_saphyr::PropertySyntax::DockerCompose,
        // A real configuration has a few hundred nodes. serde-saphyr's defaults (250,000 nodes,
        // 50,000 aliases) let a 300-byte alias bomb cost seconds of CPU before it is refused.
        budget: serde_saphyr::budget! {
            max_nodes: 20_000,
            max_aliases: 1_000,
            max_events: 100_000,
        },
    }
    .with_properties(properties)
}

/// An error met inside an alias arrives wrapped; its cause is what the operator can fix.
fn cause(err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    use serde_saphyr::Error as E;
    let mut err = err;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = err {
        err = error;
    }
    err
}

/// The variable an error is about, when it is an unset (or required but empty) one.
fn unset_variable(err: &serde_saphyr::Error) -> Option<&str> {
    use serde_saphyr::Error as E;
    match err {
        E::UnresolvedProperty { name, .. }
        | E::PropertyRequiredButUnset { name, .. }
        | E::PropertyRequiredButEmpty { name, .. } => Some(name),
        _ => None,
    }
}

/// serde-saphyr's error in an operator's words, decided by its kind: a plain word for an
/// unset variable, a "did you mean" for a misspelt option, and no advice about serde-saphyr's
/// Rust API (`DuplicateKeyPolicy`, `from_str_multiple`), which an operator cannot act on. The
/// location is not repeated: the caller prints its own.
fn syntax_message(err: &serde_saphyr::Error) -> (String, Option<String>) {
    use serde_saphyr::{Error as E, MessageFormatter, UserMessageFormatter};
    match err {
        // `${NAME:?message}`: the file's own words say what the variable is for.
        E::PropertyRequiredButUnset { name, message, .. } if !message.trim().is_empty() => (
            format!("environment variable {name} is not set: {}", message.trim()),
            Some(format!("export {name}")),
        ),
        E::PropertyRequiredButEmpty { name, message, .. } if !message.trim().is_empty() => (
            format!("environment variable {name} is empty: {}", message.trim()),
            Some(format!("export {name} with a value")),
        ),
        E::PropertyRequiredButEmpty { name, .. } => (
            format!("environment variable {name} is empty"),
            Some(format!("export {name} with a value")),
        ),
        E::UnresolvedProperty { name, .. } | E::PropertyRequiredButUnset { name, .. } => (
            format!("environment variable {name} is not set"),
            Some(format!(
                "export {name}, or give a default: ${{{name}:-value}}"
            )),
        ),
        E::DuplicateMappingKey { key, .. } => (
            key.as_ref().map_or("an option is given twice".to_owned(), |n| {
                format!("option `{n}` is given twice")
            }),
            Some("keep only one: YAML does not merge repeated keys".to_owned()),
        ),
        E::MultipleDocuments { .. } => (
            "the file holds more than one YAML document".to_owned(),
            Some(
                "a configuration is one document: remove the `---` line and merge the parts"
                    .to_owned(),
            ),
        ),
        E::Budget { .. } => (
            "the configuration is too large: it has, or its aliases (`*name`) expand to, more YAML nodes than a configuration can need".to_owned(),
            Some("write the options out instead of repeating aliases".to_owned()),
        ),
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = crate::suggest::did_you_mean(field, expected.iter().copied());
            (format!("unknown option `{field}`"), hint)
        }
        other => {
            let text = UserMessageFormatter.format_message(other);
            (text.lines().next().unwrap_or("").trim().to_owned(), None)
        }
    }
}
