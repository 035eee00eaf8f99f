//! The configuration as written: every value spanned so validation can say where it is.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use crate::error::{ConfigError, Problem};
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

pub(crate) fn parse(
    text: &str,
    origin: &str,
    properties: HashMap<String, String>,
) -> Result<RawConfig, ConfigError> {
    let options = serde_saphyr::options! {
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
    .with_properties(properties);
    if text.trim().is_empty() {
        return Ok(RawConfig {
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
        });
    }
    let prepared = substitute::prepare(text);
    serde_saphyr::from_str_with_options::<RawConfig>(&prepared.text, options).map_err(|err| {
        let location = err.location();
        let (message, hint) = syntax_message(&err);
        let line = location.map_or(0, |l| l.line() as usize);
        ConfigError::Syntax {
            origin: origin.to_owned(),
            problem: Problem {
                line,
                column: location.map_or(0, |l| prepared.original_column(line, l.column() as usize)),
                path: String::new(),
                message,
                hint,
            },
        }
    })
}

/// serde-saphyr's error in an operator's words, decided by its kind: a plain word for an
/// unset variable, a "did you mean" for a misspelt option, and no advice about serde-saphyr's
/// Rust API (`DuplicateKeyPolicy`, `from_str_multiple`), which an operator cannot act on. The
/// location is not repeated: the caller prints its own.
fn syntax_message(err: &serde_saphyr::Error) -> (String, Option<String>) {
    use serde_saphyr::{Error as E, MessageFormatter, UserMessageFormatter};
    let mut err = err;
    // An error met inside an alias arrives wrapped; its cause is what the operator can fix.
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = err {
        err = error;
    }
    match err {
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
            let closest = expected
                .iter()
                .map(|c| (distance(field, c), *c))
                .filter(|(d, _)| *d <= 3)
                .min();
            let hint = closest.map(|(_, c)| format!("did you mean `{c}`?"));
            (format!("unknown option `{field}`"), hint)
        }
        other => {
            let text = UserMessageFormatter.format_message(other);
            (text.lines().next().unwrap_or("").trim().to_owned(), None)
        }
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
