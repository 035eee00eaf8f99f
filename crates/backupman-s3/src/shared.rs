//! [`Shared`]: what an S3 drive and everything acting for it (its uploads, Object Lock
//! retention, the health probes) share: the client, the bucket and prefix, the object
//! options, and what the store was found not to implement. A module of its own so those
//! depend on it, not on the drive.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::SharedCredentialsProvider;
use aws_sdk_s3::types::ObjectLockMode;

use crate::errors::ErrorContext;
use crate::settings::ObjectLock;

/// What the drive and its uploads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub client: Client,
    /// The client's credentials provider, which `health` asks where they came from.
    pub credentials: SharedCredentialsProvider,
    pub bucket: String,
    pub prefix: String,
    pub part_size: usize,
    pub storage_class: Option<String>,
    pub server_side_encryption: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub errors: ErrorContext,
    /// The store answered `If-None-Match: *` with 501 NotImplemented: writes go without it,
    /// protected only by the HeadObject check in `begin`.
    pub conditional_writes_unsupported: AtomicBool,
    /// Retention put on every object written, but for backupman's own scratch keys.
    pub object_lock: Option<ObjectLock>,
    /// The store answered a write carrying a CRC32C checksum with 501 NotImplemented: writes
    /// go without one.
    pub checksums_unsupported: AtomicBool,
}

impl Shared {
    /// `s3://bucket/key` of a full object key.
    pub fn url(&self, object_key: &str) -> String {
        format!("s3://{}/{}", self.bucket, object_key)
    }

    /// The full object key of a key relative to the prefix (never `//`).
    pub fn object_key(&self, key: &str) -> String {
        join_key(&self.prefix, key)
    }

    /// The prefix every object key of the drive starts with: `prefix/`, or empty.
    pub fn root(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The full key prefix that lists the objects under `prefix` (relative to the drive's).
    pub fn list_prefix(&self, prefix: &str) -> String {
        format!("{}{}", self.root(), prefix.trim_start_matches('/'))
    }

    /// Whether writes still send `If-None-Match: *`.
    pub fn conditional_writes(&self) -> bool {
        !self.conditional_writes_unsupported.load(Ordering::Relaxed)
    }

    /// Whether writes still carry a CRC32C checksum the store verifies.
    pub fn checksums(&self) -> bool {
        !self.checksums_unsupported.load(Ordering::Relaxed)
    }

    /// Remembers that the store refused the CRC32C checksum (on `op`), saying so once per drive.
    pub fn note_checksums_unsupported(&self, op: &str) {
        if !self.checksums_unsupported.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                bucket = %self.bucket,
                endpoint = %self.errors.endpoint,
                op,
                "the store does not implement additional checksums (501): writes go without \
                 x-amz-checksum-crc32c"
            );
        }
    }

    /// The Object Lock retention for a new object under the full `object_key`: the drive's
    /// `object_lock` from now on, except for backupman's own scratch objects (health probes,
    /// test-mode runs, under `.backupman-…/`), which are deleted right after and must not stay
    /// locked, and folder indexes, copies that the next one replaces (a locked one could not
    /// be deleted, and would only pile up).
    pub fn retention(
        &self,
        object_key: &str,
    ) -> Option<(ObjectLockMode, aws_sdk_s3::primitives::DateTime)> {
        let lock = self.object_lock?;
        let root = self.root();
        let key = object_key.strip_prefix(&root).unwrap_or(object_key);
        if key.starts_with(".backupman-") || backupman_core::index::is_index_key(key) {
            return None;
        }
        let until = chrono::Utc::now() + chrono::Duration::days(i64::from(lock.days));
        Some((
            ObjectLockMode::from(lock.mode.as_str()),
            aws_sdk_s3::primitives::DateTime::from_secs(until.timestamp()),
        ))
    }

    /// Remembers that the store refused `If-None-Match` (on `op`), saying so once per drive.
    pub fn note_conditional_writes_unsupported(&self, op: &str) {
        if !self
            .conditional_writes_unsupported
            .swap(true, Ordering::Relaxed)
        {
            tracing::debug!(
                bucket = %self.bucket,
                endpoint = %self.errors.endpoint,
                op,
                "the store does not implement If-None-Match (501): writes go without it; only \
                 the HeadObject check before each upload keeps existing objects from being replaced"
            );
        }
    }
}

/// `prefix` + `/` + `key`, with no doubled, leading or dangling `/` from either side.
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_matches('/');
    let key = key.trim_start_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_double_slashes() {
        assert_eq!(join_key("", "a/b.gz"), "a/b.gz");
        assert_eq!(join_key("backups", "a/b.gz"), "backups/a/b.gz");
        assert_eq!(join_key("backups/", "/a/b.gz"), "backups/a/b.gz");
        assert_eq!(join_key("x/y", "k"), "x/y/k");
    }
}
