//! The validated configuration: what the rest of backupman works from. Every value here has
//! passed validation; optional settings are `Option`s or carry their defaults.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::hooks::HooksConfig;
use crate::notifiers::{IncomingWebhookConfig, MailConfig, PingConfig, WebhookConfig};

/// A secret value (password, secret key, token): core's one redacting type, whose `Debug` and
/// `Display` never show it.
pub use backupman_core::Secret;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The databases to back up (`data_sources`), in file order.
    pub sources: Vec<SourceConfig>,
    /// Where backups go (`drives`), in file order; at least one.
    pub drives: Vec<DriveConfig>,
    /// Which backups to keep (`retention`); `None` without that section: nothing is ever deleted.
    pub retention: Option<RetentionConfig>,
    /// How backups are compressed (`compression`: codec, level, threads); gzip at level 6 on
    /// every available core by default.
    pub compression: backupman_core::Compression,
    /// `encryption.age_recipients`: the age public keys every backup is encrypted to, unless a
    /// source names its own; `None`: backups are stored unencrypted.
    pub encryption: Option<backupman_core::Recipients>,
    /// `signing`: the key manifests are signed with, and the one they are checked against;
    /// `None`: manifests are neither signed nor required to be.
    pub signing: Option<SigningConfig>,
    /// Uploads left incomplete by a killed run are discarded by the next `run` or `prune`
    /// once this many hours old (`incomplete_uploads.abort_after_hours`, default 24).
    pub abort_incomplete_after_hours: u32,
    /// How many sources a run backs up at the same time (`concurrency`, 1 to
    /// [`MAX_CONCURRENCY`], default [`DEFAULT_CONCURRENCY`]); `run --parallel` overrides it.
    pub concurrency: usize,
    /// Webhook endpoints (`notifiers.webhook.endpoints`); empty when `enabled: false`.
    pub webhooks: Vec<WebhookConfig>,
    /// The run's mail (`notifiers.mail`); `None` without it or with `enabled: false`.
    pub mail: Option<MailConfig>,
    /// A Slack incoming webhook (`notifiers.slack`); `None` without it or with `enabled: false`.
    pub slack: Option<IncomingWebhookConfig>,
    /// A Discord incoming webhook (`notifiers.discord`); `None` without it or with `enabled: false`.
    pub discord: Option<IncomingWebhookConfig>,
    /// Dead-man's-switch endpoints (`notifiers.ping`); empty without it or with `enabled: false`.
    pub pings: Vec<PingConfig>,
    /// `backupman serve`: its API keys and backup schedule (`http`); the defaults when the
    /// section is left out.
    pub http: HttpConfig,
}

/// `signing`: minisign keys for the manifests. A backup host names its secret key file; a
/// restore host needs only the public key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningConfig {
    /// `secret_key_file`: an unencrypted minisign secret key (`minisign -G -W`), read when a
    /// backup runs; relative to the configuration's folder.
    pub secret_key_file: Option<PathBuf>,
    /// `public_key`: what every manifest read back must be signed by. When only the secret
    /// key is given, its own public key is used.
    pub public_key: Option<backupman_core::Verifier>,
}
/// Sources a run backs up at the same time when `concurrency` is not set. Small on purpose:
/// each source in flight holds its own dump pipeline (compression threads, chunks in the
/// channels to the drives), so memory grows with it, while the gain flattens once the
/// drives' round trips overlap.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The most sources `concurrency` (and `run --parallel`) may run at the same time.
pub const MAX_CONCURRENCY: usize = 64;

/// The kind of database a source is (`data_sources[].provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceProvider {
    /// `provider: postgres` (or `postgresql`).
    Postgres,
    /// `provider: mysql`.
    Mysql,
    /// `provider: mariadb`.
    Mariadb,
    /// `provider: sqlite` (or `sqlite3`): a database file, no server.
    Sqlite,
}

impl SourceProvider {
    /// The provider as written in `config.yml`: `postgres`, `mysql`, `mariadb` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
            Self::Sqlite => "sqlite",
        }
    }

    /// The `port` used when none is given: 5432 (postgres), 3306 (mysql, mariadb), `None` (sqlite).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Postgres => Some(5432),
            Self::Mysql | Self::Mariadb => Some(3306),
            Self::Sqlite => None,
        }
    }
}

impl fmt::Display for SourceProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One database to back up (`data_sources[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// `label`: the source's name; also, lower-cased with punctuation as `-`, its backups' folder.
    pub label: String,
    /// `provider`: the kind of database.
    pub provider: SourceProvider,
    /// Server host (postgres, mysql, mariadb); defaults to `127.0.0.1`.
    pub host: String,
    /// Server port; defaults to the provider's standard port (0 for sqlite).
    pub port: u16,
    /// `db_name`: the database to dump (required for servers); for sqlite, `db_path` unless set.
    pub db_name: Option<String>,
    /// `user` to connect as; `None` leaves it to the dump tool's default.
    pub user: Option<String>,
    /// `password`, passed to the dump tool through the environment (`PGPASSWORD`, `MYSQL_PWD`).
    pub password: Option<Secret>,
    /// TLS mode for server databases: `disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full` (`tls: true` is `require`, `tls: false` is `disable`).
    pub tls: Option<String>,
    /// The database file (sqlite).
    pub db_path: Option<PathBuf>,
    /// Path of the dump tool, when not the one on PATH (`pg_dump_path` / `dump_tool_path`).
    pub dump_tool: Option<PathBuf>,
    /// Extra arguments passed to the dump tool (`dump_options`).
    pub dump_options: Vec<String>,
    /// `tmp_folder`: where an SQLite snapshot is staged (and a restore's download, when one
    /// is staged); `None` means the system's temporary folder. Server dumps stream and stage
    /// nothing. A relative path is taken from the configuration file's folder.
    pub tmp_folder: Option<PathBuf>,
    /// `hooks`: commands run before and after this source's backup.
    pub hooks: HooksConfig,
    /// The age public keys this source's backups are encrypted to: its own
    /// `encryption.age_recipients`, else the top-level ones; `None`: stored unencrypted.
    pub encryption: Option<backupman_core::Recipients>,
    /// `databases` (with `exclude`): a whole-server source, every database of which is a
    /// backup object of its own; `None` for a source with `db_name`, and for SQLite.
    pub databases: Option<DatabaseSelection>,
    /// `exclude_tables`: tables left out of the dump, schema and data.
    pub exclude_tables: Vec<String>,
    /// `exclude_table_data`: tables whose schema is dumped, but not their rows.
    pub exclude_table_data: Vec<String>,
    /// `retry`: this source's own, else the top-level one; one attempt when neither is set.
    pub retry: RetryConfig,
    /// `schedule`: when `backupman serve` backs this source up, besides (or instead of)
    /// `http.backup_job`; `None` when left out or `enabled: false`.
    pub schedule: Option<BackupJobConfig>,
    /// Set on the configuration of one part of a whole-server source (a database, or
    /// PostgreSQL's globals) when it is expanded for an operation; `None` as loaded.
    pub part_of: Option<ServerPart>,
}

/// Which databases of a server a whole-server source backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSelection {
    /// `databases: all` or the names listed.
    pub databases: Databases,
    /// `exclude`: glob patterns (`*`, `?`, `[abc]`) of databases left out.
    pub exclude: Vec<DatabasePattern>,
}

impl DatabaseSelection {
    /// Whether `name` is backed up by this selection, among the server's databases: listed
    /// (a listed system database included), or any but a system database with `all`, and not
    /// excluded.
    pub fn includes(&self, name: &str, system: bool) -> bool {
        let chosen = match &self.databases {
            Databases::All => !system,
            Databases::Only(names) => names.iter().any(|n| n == name),
        };
        chosen && !self.exclude.iter().any(|p| p.matches(name))
    }
}

/// `databases:` of a whole-server source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Databases {
    /// `databases: all`: every database the server has when a run starts, the system ones
    /// left out.
    All,
    /// The names listed (system databases only when listed).
    Only(Vec<String>),
}

/// Why an `exclude` pattern is not a glob.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(globset::ErrorKind);

/// One `exclude` pattern, as written and compiled.
#[derive(Debug, Clone)]
pub struct DatabasePattern {
    text: String,
    matcher: globset::GlobMatcher,
}

impl DatabasePattern {
    /// Compiles a glob; `*` matches any run of characters, `?` one, `[abc]` one of a set.
    pub fn new(text: &str) -> Result<Self, PatternError> {
        let glob = globset::GlobBuilder::new(text)
            .literal_separator(false)
            .build()
            .map_err(|e| PatternError(e.kind().clone()))?;
        Ok(Self {
            text: text.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether the database `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for DatabasePattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for DatabasePattern {}

/// What one part of a whole-server source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPart {
    /// The whole-server source's `label`.
    pub server: String,
    /// The database, or the globals.
    pub object: ServerObject,
}

/// One backup object of a whole-server source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerObject {
    /// A database of the server.
    Database(String),
    /// PostgreSQL's roles and tablespaces (`pg_dumpall --globals-only`).
    Globals,
}

impl ServerObject {
    /// The name operations know it by (`--database NAME`): the database's, or `globals`.
    pub fn name(&self) -> &str {
        match self {
            Self::Database(name) => name,
            Self::Globals => GLOBALS,
        }
    }
}

/// The name of PostgreSQL's globals among a whole-server source's databases.
pub use backupman_core::GLOBALS_DATABASE as GLOBALS;

/// `retry`: how often a source whose dump failed, or whose every drive failed, is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// `attempts`: tries in all, the first included (1: no retry).
    pub attempts: u32,
    /// `delay_seconds`: the wait before the second attempt; it doubles for each one after,
    /// with jitter.
    pub delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 1,
            delay: Duration::from_secs(DEFAULT_RETRY_DELAY_SECONDS),
        }
    }
}

/// The wait before a second attempt when `retry.delay_seconds` is left out.
pub const DEFAULT_RETRY_DELAY_SECONDS: u64 = 30;

/// Where backups go (`drives[]`).
// A handful of these exist per process, built once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DriveConfig {
    /// `provider: local`: a folder on this machine.
    Local(LocalDriveConfig),
    /// `provider: s3`: an Amazon S3 bucket or an S3-compatible store.
    S3(S3DriveConfig),
}

impl DriveConfig {
    /// The drive's `label`.
    pub fn label(&self) -> &str {
        match self {
            Self::Local(d) => &d.label,
            Self::S3(d) => &d.label,
        }
    }

    /// The drive's `provider` as written in `config.yml`: `local` or `s3`.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::S3(_) => "s3",
        }
    }
}

/// `provider: local`: backups written as files into a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDriveConfig {
    /// `label`: a descriptive name for the drive (used by `--drive` and in reports).
    pub label: String,
    /// `folder`: where backups are written (created when missing); a relative path is taken from
    /// the configuration file's folder.
    pub folder: PathBuf,
}

/// `provider: s3`, exactly the options of the S3 drive documentation plus a few optional
/// tuning ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3DriveConfig {
    /// `label`: a descriptive name for the drive (used by `--drive` and in reports).
    pub label: String,
    /// `bucket`: the bucket name (3–63 characters: `a-z`, `0-9`, `.`, `-`).
    pub bucket: String,
    /// `region`: the bucket's region, e.g. `us-east-1`; required for S3-compatible stores too.
    pub region: String,
    /// Static credentials; when both keys are absent the default AWS credential chain is used.
    pub access_key: Option<Secret>,
    /// `secret_key`: the secret access key, set together with `access_key`.
    pub secret_key: Option<Secret>,
    /// Custom endpoint URL (`http://` or `https://`); `None` means Amazon S3.
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `true`: `endpoint/bucket/key`; `false`: `bucket.endpoint/key` (virtual-hosted).
    pub force_path_style: bool,
    /// `storage_class` of new objects, upper-cased (e.g. `STANDARD_IA`); `None`: bucket default.
    pub storage_class: Option<String>,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// KMS key id for `server_side_encryption: aws:kms`.
    pub sse_kms_key_id: Option<String>,
    /// `timeout_seconds`: seconds to connect and to wait for each response; `None` means 30.
    pub timeout_seconds: Option<u64>,
    /// `max_attempts`: attempts per request, the first included; `None` means 3.
    pub max_attempts: Option<u32>,
    /// First part size of multipart uploads, in MiB (parts grow as the stream grows).
    pub part_size_mb: Option<u64>,
    /// `object_lock`: S3 Object Lock retention put on every backup and manifest written.
    pub object_lock: Option<backupman_core::ObjectLock>,
    /// `ca_file`: a PEM file of CA certificates trusted besides the system's (a store behind
    /// a private CA); a relative path is taken from the configuration file's folder. Wins over
    /// `AWS_CA_BUNDLE`.
    pub ca_file: Option<PathBuf>,
}

/// `retention`: which backups to keep, per source and per drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `enabled`: `false` keeps the settings but deletes nothing; `true` when left out.
    pub enabled: bool,
    /// The rule set by `by` and `value`, or by the `keep_*` options.
    pub policy: RetentionPolicy,
}

/// How retention chooses the backups to keep (`retention.by`): core's policy itself, so the
/// rule set in `config.yml` is the rule retention applies, with no copy to keep in step.
/// `by: age` with `value` days, `by: count` with `value` backups, or `keep_daily`,
/// `keep_weekly`, `keep_monthly` and `keep_yearly` (0 when left out).
pub use backupman_core::retention::Policy as RetentionPolicy;

/// `http`: what `backupman serve` needs, as the original backupman's section has it, plus a
/// time zone for the schedule, a shutdown grace period and the lifetime of download links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `app_url`: the server's address as clients reach it, used to build download links
    /// (`None`: `http://localhost:PORT`).
    pub app_url: Option<String>,
    /// `api_keys`: the keys `/api` accepts in `X-Api-Key`; `serve` refuses to start without one.
    pub api_keys: Vec<Secret>,
    /// `backup_job`: the schedule; `None` when left out or `enabled: false`.
    pub backup_job: Option<BackupJobConfig>,
    /// `shutdown_grace_seconds`: on SIGTERM/SIGINT, how long a running backup may go on before
    /// it is cancelled (default 60).
    pub shutdown_grace_seconds: u64,
    /// `download_url_minutes`: how long a generated download URL works (default 60).
    pub download_url_minutes: u32,
    /// `catalog_refresh_seconds`: how often the service lists the drives again, so backups
    /// made by another process (a CronJob, a `run` by hand) appear (default 60).
    pub catalog_refresh_seconds: u64,
    /// `max_connections`: open HTTP connections at most (default 512); beyond it, the
    /// oldest connection with no request in progress is closed to make room.
    pub max_connections: u32,
    /// `header_timeout_seconds`: how long a connection may take to send a request's head,
    /// from when it opens or its previous answer ends (default 10).
    pub header_timeout_seconds: u64,
    /// `idle_timeout_seconds`: a connection on which no byte moves either way for this long,
    /// outside a request being worked on, is closed (default 60).
    pub idle_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            app_url: None,
            api_keys: Vec::new(),
            backup_job: None,
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE_SECONDS,
            download_url_minutes: DEFAULT_DOWNLOAD_URL_MINUTES,
            catalog_refresh_seconds: DEFAULT_CATALOG_REFRESH_SECONDS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout_seconds: DEFAULT_HEADER_TIMEOUT_SECONDS,
            idle_timeout_seconds: DEFAULT_IDLE_TIMEOUT_SECONDS,
        }
    }
}

/// How long a running backup may go on after a shutdown signal when `shutdown_grace_seconds`
/// is left out.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 60;
/// How long a generated download URL works when `download_url_minutes` is left out.
pub const DEFAULT_DOWNLOAD_URL_MINUTES: u32 = 60;
/// How often the service lists the drives again when `catalog_refresh_seconds` is left out.
pub const DEFAULT_CATALOG_REFRESH_SECONDS: u64 = 60;
/// Open HTTP connections at most when `max_connections` is left out.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;
/// Seconds for a request's head when `header_timeout_seconds` is left out.
pub const DEFAULT_HEADER_TIMEOUT_SECONDS: u64 = 10;
/// Seconds without a byte moving when `idle_timeout_seconds` is left out.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u64 = 60;

/// `http.backup_job`: when `backupman serve` backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupJobConfig {
    /// `cron` as written: 6 fields with seconds (`0 0 3 * * *`), as the original, or 5.
    pub cron: String,
    /// The parsed schedule.
    pub schedule: croner::Cron,
    /// `timezone`: the IANA zone the schedule is read in (default `UTC`).
    pub timezone: chrono_tz::Tz,
}
