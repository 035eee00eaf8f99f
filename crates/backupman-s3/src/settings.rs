//! [`S3Settings`]: everything an [`S3Drive`](crate::S3Drive) is built from, independent of
//! how backupman's configuration spells it.

use std::path::PathBuf;

pub use backupman_core::{LockMode, ObjectLock};

/// How to reach a bucket and how to write into it. Built with [`S3Settings::new`], then
/// adjusted through its public fields; unset options take the drive's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct S3Settings {
    /// A descriptive name for the drive (used in reports and in error messages).
    pub label: String,
    /// The bucket name.
    pub bucket: String,
    /// The bucket's region, e.g. `us-east-1`; required for S3-compatible stores too.
    pub region: String,
    /// Custom endpoint URL (`http://` or `https://`); `None` means Amazon S3.
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket; leading and trailing `/` are ignored (may be empty).
    pub prefix: String,
    /// `true`: `endpoint/bucket/key`; `false`: `bucket.endpoint/key` (virtual-hosted).
    pub force_path_style: bool,
    /// Static credentials; `None` uses the default AWS credential chain (environment, profile,
    /// instance role).
    pub credentials: Option<S3Credentials>,
    /// Storage class of new objects (e.g. `STANDARD_IA`); `None`: the bucket's default.
    pub storage_class: Option<String>,
    /// Server-side encryption of new objects: `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// KMS key id for `aws:kms` server-side encryption.
    pub sse_kms_key_id: Option<String>,
    /// Seconds to connect and to wait for each response; `None` means
    /// [`DEFAULT_TIMEOUT_SECONDS`](crate::DEFAULT_TIMEOUT_SECONDS).
    pub timeout_seconds: Option<u64>,
    /// Attempts per request, the first included; `None` means
    /// [`DEFAULT_MAX_ATTEMPTS`](crate::DEFAULT_MAX_ATTEMPTS).
    pub max_attempts: Option<u32>,
    /// First part size of multipart uploads, in MiB; `None` means
    /// [`DEFAULT_PART_SIZE_MB`](crate::DEFAULT_PART_SIZE_MB).
    pub part_size_mb: Option<u64>,
    /// Object Lock retention put on every backup and manifest written; `None`: objects get
    /// the bucket's default retention, if it has one.
    pub object_lock: Option<ObjectLock>,
    /// A PEM file of CA certificates trusted besides the system's, for a store behind a
    /// private CA; `None`: `AWS_CA_BUNDLE` when set, else the system's alone. Only the
    /// default HTTPS client reads it (see [`S3Drive::with_http_client`](crate::S3Drive::with_http_client)).
    pub ca_file: Option<PathBuf>,
}

impl S3Settings {
    /// Settings for `bucket` in `region` on Amazon S3, with the default credential chain and
    /// every other option at its default.
    pub fn new(
        label: impl Into<String>,
        bucket: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            label: label.into(),
            bucket: bucket.into(),
            region: region.into(),
            ..Self::default()
        }
    }
}

/// A static access key pair. `Debug` shows neither key: the access key id, though not the
/// secret, names the account and is half of what a thief needs.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Credentials {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: SecretKey,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key", &"[redacted]")
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

impl S3Credentials {
    /// The pair `access_key` + `secret_key`.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: SecretKey::new(secret_key),
        }
    }
}

/// A secret access key: core's redacting [`Secret`](backupman_core::Secret), whose `Debug` and
/// `Display` never show it, so settings and drives can be logged; `expose` is the only way to
/// the text.
pub type SecretKey = backupman_core::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_key_shows_in_debug_or_display() {
        let mut settings = S3Settings::new("d", "b", "us-east-1");
        settings.credentials = Some(S3Credentials::new("AKIA-ID", "super-secret-value"));
        let shown = format!(
            "{settings:?} {}",
            settings.credentials.as_ref().unwrap().secret_key
        );
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(!shown.contains("AKIA-ID"), "{shown}");
    }
}
