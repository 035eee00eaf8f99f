//! The validated configuration: what the rest of backupman works from. Every value here has
//! passed validation; optional settings are `Option`s or carry their defaults.

use std::fmt;
use std::path::PathBuf;

/// A secret value (password, secret key, token). `Debug` and `Display` never show it: the only
/// way to the text is [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sources: Vec<SourceConfig>,
    pub drives: Vec<DriveConfig>,
    pub retention: Option<RetentionConfig>,
    /// gzip level, 0–9 (default 6).
    pub compression_level: u32,
    /// Uploads left incomplete by a killed run are discarded by the next `run` or `prune`
    /// once this many hours old (`incomplete_uploads.abort_after_hours`, default 24).
    pub abort_incomplete_after_hours: u32,
    /// Webhooks called after each run (`notifiers.webhook.endpoints`).
    pub webhooks: Vec<WebhookConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceProvider {
    Postgres,
    Mysql,
    Mariadb,
    Sqlite,
}

impl SourceProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
            Self::Sqlite => "sqlite",
        }
    }

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
    pub label: String,
    pub provider: SourceProvider,
    /// Server host (postgres, mysql, mariadb); defaults to `127.0.0.1`.
    pub host: String,
    /// Server port; defaults to the provider's standard port (0 for sqlite).
    pub port: u16,
    pub db_name: Option<String>,
    pub user: Option<String>,
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
}

/// Where backups go (`drives[]`).
// A handful of these exist per process, built once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DriveConfig {
    Local(LocalDriveConfig),
    S3(S3DriveConfig),
}

impl DriveConfig {
    pub fn label(&self) -> &str {
        match self {
            Self::Local(d) => &d.label,
            Self::S3(d) => &d.label,
        }
    }

    pub fn provider(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::S3(_) => "s3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDriveConfig {
    pub label: String,
    pub folder: PathBuf,
}

/// `provider: s3`, exactly the options of the S3 drive documentation plus a few optional
/// tuning ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3DriveConfig {
    pub label: String,
    pub bucket: String,
    pub region: String,
    /// Static credentials; when both keys are absent the default AWS credential chain is used.
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    /// Custom endpoint URL (`http://` or `https://`); `None` means Amazon S3.
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `true`: `endpoint/bucket/key`; `false`: `bucket.endpoint/key` (virtual-hosted).
    pub force_path_style: bool,
    pub storage_class: Option<String>,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// KMS key id for `server_side_encryption: aws:kms`.
    pub sse_kms_key_id: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub max_attempts: Option<u32>,
    /// First part size of multipart uploads, in MiB (parts grow as the stream grows).
    pub part_size_mb: Option<u64>,
}

/// `retention`: which backups to keep, per source and per drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    pub enabled: bool,
    pub policy: RetentionPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Delete backups older than this many days.
    Age { days: u32 },
    /// Keep the newest N.
    Count { keep: u32 },
    /// Grandfather-father-son: keep the newest backup of each of the last N days, weeks,
    /// months and years.
    Gfs {
        daily: u32,
        weekly: u32,
        monthly: u32,
        yearly: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub token: Option<Secret>,
}
