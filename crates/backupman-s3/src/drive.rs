//! [`S3Drive`]: the [`Drive`] on a bucket, keys relative to the drive's prefix.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::SharedHttpClient;
use backupman_config::S3DriveConfig;
use backupman_core::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, ObjectInfo, Upload,
};
use futures::StreamExt;

use crate::client::{DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_SECONDS, build_client};
use crate::errors::ErrorContext;
use crate::upload::{MIN_PART_SIZE, S3Upload};

/// First part size when `part_size_mb` is not set.
pub const DEFAULT_PART_SIZE_MB: u64 = 8;

/// What the drive and its uploads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub client: Client,
    pub bucket: String,
    pub prefix: String,
    pub part_size: usize,
    pub storage_class: Option<String>,
    pub server_side_encryption: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub errors: ErrorContext,
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

/// Backups in an S3 bucket (Amazon S3 or any S3-compatible store).
#[derive(Clone)]
pub struct S3Drive {
    label: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for S3Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Drive")
            .field("label", &self.label)
            .field("bucket", &self.shared.bucket)
            .field("prefix", &self.shared.prefix)
            .field("endpoint", &self.shared.errors.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Drive {
    /// A drive for `cfg`, with the default HTTPS client. Fails only on a configuration the
    /// client cannot be built from (no region, half a key pair, an endpoint that is no URL);
    /// nothing is sent until the drive is used.
    pub fn new(cfg: &S3DriveConfig) -> Result<Self, DriveError> {
        Self::build(cfg, None)
    }

    /// A drive for `cfg` sending its requests through `http_client` (a custom DNS resolver,
    /// proxy or TLS setup).
    pub fn with_http_client(
        cfg: &S3DriveConfig,
        http_client: SharedHttpClient,
    ) -> Result<Self, DriveError> {
        Self::build(cfg, Some(http_client))
    }

    fn build(cfg: &S3DriveConfig, http: Option<SharedHttpClient>) -> Result<Self, DriveError> {
        let client = build_client(cfg, http)?;
        let custom = cfg
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let endpoint = custom.map_or_else(
            || format!("https://s3.{}.amazonaws.com", cfg.region.trim()),
            |e| e.trim_end_matches('/').to_owned(),
        );
        let part_mb = cfg.part_size_mb.unwrap_or(DEFAULT_PART_SIZE_MB);
        let part_size = usize::try_from(part_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX)
            .max(MIN_PART_SIZE);
        let shared = Shared {
            client,
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.trim_matches('/').to_owned(),
            part_size,
            storage_class: cfg.storage_class.clone().filter(|s| !s.is_empty()),
            server_side_encryption: cfg.server_side_encryption.clone().filter(|s| !s.is_empty()),
            sse_kms_key_id: cfg.sse_kms_key_id.clone().filter(|s| !s.is_empty()),
            errors: ErrorContext {
                bucket: cfg.bucket.clone(),
                region: cfg.region.trim().to_owned(),
                endpoint,
                custom_endpoint: custom.is_some(),
                force_path_style: cfg.force_path_style,
                timeout_seconds: cfg
                    .timeout_seconds
                    .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
                    .max(1),
                max_attempts: cfg.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1),
            },
        };
        Ok(Self {
            label: cfg.label.clone(),
            shared: Arc::new(shared),
        })
    }

    /// The underlying SDK client, for what the [`Drive`] trait does not cover.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// The prefix every key is stored under (no leading or trailing `/`; may be empty).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The full object key in the bucket of a key relative to the prefix.
    pub fn object_key(&self, key: &str) -> String {
        self.shared.object_key(key)
    }

    /// First part size of multipart uploads, in bytes.
    pub fn part_size(&self) -> usize {
        self.shared.part_size
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

#[async_trait]
impl Drive for S3Drive {
    fn label(&self) -> &str {
        &self.label
    }

    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        if key.trim_matches('/').is_empty() {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                "an object key must not be empty",
            ));
        }
        Ok(Box::new(S3Upload::new(
            self.shared.clone(),
            key.to_owned(),
            self.shared.object_key(key),
        )))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        let s = &self.shared;
        let root = if s.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", s.prefix)
        };
        let full_prefix = format!("{root}{}", prefix.trim_start_matches('/'));
        let mut pages = s
            .client
            .list_objects_v2()
            .bucket(&s.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s.errors.map("ListObjectsV2", &s.url(&full_prefix), &e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let Some(rel) = key.strip_prefix(&root) else {
                    continue;
                };
                found.push(ObjectInfo {
                    key: rel.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(found)
    }

    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        let s = self.shared.clone();
        let object_key = s.object_key(key);
        let out = s
            .client
            .get_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .send()
            .await
            .map_err(|e| s.errors.map("GetObject", &s.url(&object_key), &e))?;
        let url = s.url(&object_key);
        let body = futures::stream::unfold(Some(out.body), move |body| {
            let url = url.clone();
            async move {
                let mut body = body?;
                match body.next().await {
                    None => None,
                    Some(Ok(bytes)) => Some((Ok(bytes), Some(body))),
                    Some(Err(err)) => Some((
                        Err(DriveError::new(
                            DriveErrorKind::Connection,
                            format!("GetObject {url}: reading the object failed: {err}"),
                        )
                        .with_hint(
                            "check network connectivity; `timeout_seconds` bounds each wait",
                        )),
                        None,
                    )),
                }
            }
        });
        Ok(body.boxed())
    }

    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        let s = &self.shared;
        let object_key = s.object_key(key);
        match s
            .client
            .delete_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = s.errors.map("DeleteObject", &s.url(&object_key), &e);
                if err.kind == DriveErrorKind::NotFound && err.message.starts_with("NoSuchKey") {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn health(&self) -> Vec<CheckResult> {
        crate::health::check(self).await
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
