//! [`S3Drive`]: the [`Drive`] on a bucket, keys relative to the drive's prefix.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::SharedHttpClient;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::presigning::PresigningConfig;
use backupman_core::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload, ObjectInfo,
    Upload,
};
use futures::StreamExt;

use crate::S3Settings;
use crate::client::{DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_SECONDS, build_client};
use crate::errors::{ErrorContext, already_exists, is_no_such_key};
use crate::shared::Shared;
use crate::upload::{MIN_PART_SIZE, S3Upload, abort_multipart};

/// First part size when `part_size_mb` is not set.
pub const DEFAULT_PART_SIZE_MB: u64 = 8;

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

/// Keys asked for in the first page of a ranged listing: a run's retention by age usually
/// needs only the oldest few keys of a folder that may hold thousands.
const RANGE_FIRST_PAGE: i32 = 100;

impl S3Drive {
    /// One listing page's objects, keys made relative to the drive's prefix.
    fn page_objects(&self, page: &ListObjectsV2Output) -> Vec<ObjectInfo> {
        let root = self.shared.root();
        page.contents()
            .iter()
            .filter_map(|object| {
                let rel = object.key()?.strip_prefix(&root)?;
                Some(ObjectInfo {
                    key: rel.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object
                        .e_tag()
                        .map(|t| t.trim().trim_matches('"').to_ascii_lowercase()),
                })
            })
            .collect()
    }

    /// A drive for `settings`, with the default HTTPS client. Fails only on settings the
    /// client cannot be built from (no region, an endpoint that is no URL); nothing is sent
    /// until the drive is used.
    pub fn new(settings: S3Settings) -> Result<Self, DriveError> {
        Self::build(&settings, None)
    }

    /// A drive for `settings` sending its requests through `http_client` (a custom DNS resolver,
    /// proxy or TLS setup).
    pub fn with_http_client(
        settings: S3Settings,
        http_client: SharedHttpClient,
    ) -> Result<Self, DriveError> {
        Self::build(&settings, Some(http_client))
    }

    fn build(cfg: &S3Settings, http: Option<SharedHttpClient>) -> Result<Self, DriveError> {
        let (client, credentials) = build_client(cfg, http)?;
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
            credentials,
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
            conditional_writes_unsupported: AtomicBool::new(false),
            object_lock: cfg.object_lock,
            checksums_unsupported: AtomicBool::new(false),
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

    /// The bucket the drive stores its objects in.
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

    /// Whether writes are still sent with `If-None-Match: *`: false once the store answered it
    /// with 501 NotImplemented, after which only the HeadObject check in
    /// [`begin`](Drive::begin) keeps an existing object from being replaced.
    pub fn sends_conditional_writes(&self) -> bool {
        self.shared.conditional_writes()
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

    fn provider(&self) -> &str {
        "s3"
    }

    fn location(&self, key: &str) -> String {
        let s = &self.shared;
        s.url(&s.object_key(key))
    }

    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        if key.trim_matches('/').is_empty() {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                "an object key must not be empty",
            ));
        }
        let s = &self.shared;
        let object_key = s.object_key(key);
        // Some stores ignore `If-None-Match`; asking first keeps them from replacing a backup
        // too (all but a write racing this one). Only an answer that the object exists stops
        // the upload: a refused or failed HEAD leaves the conditional write to protect it.
        match s
            .client
            .head_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .send()
            .await
        {
            Ok(_) => return Err(already_exists(&s.url(&object_key))),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => {
                let err = s.errors.map("HeadObject", &s.url(&object_key), &e);
                tracing::debug!(error = %err, "cannot check whether the key exists; uploading with If-None-Match alone");
            }
        }
        Ok(Box::new(S3Upload::new(
            s.clone(),
            key.to_owned(),
            object_key,
        )))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        let s = &self.shared;
        let full_prefix = s.list_prefix(prefix);
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
            found.extend(self.page_objects(&page));
        }
        Ok(found)
    }

    async fn list_range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        far_enough: &(dyn for<'k> Fn(&'k str) -> bool + Send + Sync),
    ) -> Result<Vec<ObjectInfo>, DriveError> {
        let s = &self.shared;
        let full_prefix = s.list_prefix(prefix);
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        // A small first page: the caller usually needs only a few keys from the start.
        let mut max_keys = RANGE_FIRST_PAGE;
        loop {
            let page = s
                .client
                .list_objects_v2()
                .bucket(&s.bucket)
                .prefix(&full_prefix)
                .set_start_after(start_after.map(|k| s.object_key(k)))
                .set_continuation_token(token.clone())
                .max_keys(max_keys)
                .send()
                .await
                .map_err(|e| s.errors.map("ListObjectsV2", &s.url(&full_prefix), &e))?;
            let objects = self.page_objects(&page);
            let enough = objects.iter().any(|o| far_enough(&o.key));
            found.extend(objects);
            let next = page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true));
            match next {
                Some(next) if !enough => {
                    // A store that hands back the token it was given would page forever.
                    if token.as_deref() == Some(next) {
                        return Err(DriveError::new(
                            DriveErrorKind::Other,
                            format!(
                                "ListObjectsV2 {}: the store returned the same continuation token twice",
                                s.url(&full_prefix)
                            ),
                        ));
                    }
                    token = Some(next.to_owned());
                    max_keys = 1000;
                }
                _ => return Ok(found),
            }
        }
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
            Err(e) if is_no_such_key(&e) => Ok(()),
            Err(e) => Err(s.errors.map("DeleteObject", &s.url(&object_key), &e)),
        }
    }

    async fn locked_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, DriveError> {
        let s = &self.shared;
        let object_key = s.object_key(key);
        match s
            .client
            .head_object()
            .bucket(&s.bucket)
            .key(&object_key)
            .send()
            .await
        {
            Ok(out) => Ok(out.object_lock_retain_until_date().and_then(|until| {
                chrono::DateTime::from_timestamp(until.secs(), until.subsec_nanos())
            })),
            Err(e) if is_no_such_key(&e) => Ok(None),
            Err(e) => Err(s.errors.map("HeadObject", &s.url(&object_key), &e)),
        }
    }

    async fn health(&self) -> Vec<CheckResult> {
        // A probe reports what the store does now: no rounds of retries beyond the client's.
        crate::upload::PROBING
            .scope(true, crate::health::check(self))
            .await
    }

    async fn presigned_read(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Option<Result<String, DriveError>> {
        let s = &self.shared;
        let object_key = s.object_key(key);
        let signed = match PresigningConfig::expires_in(expires_in) {
            Ok(config) => s
                .client
                .get_object()
                .bucket(&s.bucket)
                .key(&object_key)
                .presigned(config)
                .await
                .map(|request| request.uri().to_owned())
                .map_err(|e| s.errors.map("presign GetObject", &s.url(&object_key), &e)),
            Err(err) => Err(DriveError::new(
                DriveErrorKind::Other,
                format!("cannot presign GetObject {}: {err}", s.url(&object_key)),
            )),
        };
        Some(signed)
    }

    async fn incomplete_uploads(&self) -> Result<Vec<IncompleteUpload>, DriveError> {
        let s = &self.shared;
        let root = s.root();
        let url = s.url(&root);
        let mut found = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = s
                .client
                .list_multipart_uploads()
                .bucket(&s.bucket)
                .prefix(&root)
                .set_key_marker(markers.0.clone())
                .set_upload_id_marker(markers.1.clone())
                .send()
                .await
                .map_err(|e| s.errors.map("ListMultipartUploads", &url, &e))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                // A store that ignores `prefix` must not make another drive's uploads ours.
                let Some(rel) = key.strip_prefix(&root) else {
                    continue;
                };
                found.push(IncompleteUpload {
                    key: rel.to_owned(),
                    id: id.to_owned(),
                    started_at: upload.initiated().and_then(|at| {
                        chrono::DateTime::from_timestamp(at.secs(), at.subsec_nanos())
                    }),
                });
            }
            let next = (
                page.next_key_marker()
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
                page.next_upload_id_marker()
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            );
            // Markers that do not move on would list the same page forever.
            if page.is_truncated() != Some(true) || next == (None, None) || next == markers {
                return Ok(found);
            }
            markers = next;
        }
    }

    async fn discard_incomplete(&self, upload: &IncompleteUpload) -> Result<(), DriveError> {
        let s = &self.shared;
        abort_multipart(s, &s.object_key(&upload.key), &upload.id).await
    }
}
