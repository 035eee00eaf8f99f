//! Streamed uploads: one PutObject for a stream smaller than a part, otherwise a multipart
//! upload with a few parts in flight, aborted on any failure (or when dropped unfinished).
//! This module is the upload's state machine; `budget` sizes parts and bounds the bytes in
//! flight, `write` makes the no-clobber writes (and falls back where a store answers 501),
//! `retry` retries what is still in memory and aborts what failed.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use backupman_core::{DriveError, DriveErrorKind, StoredObject, Upload};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use crate::shared::Shared;

/// The drive's object settings (storage class, server-side encryption, Object Lock retention)
/// on a request that creates `$object_key`: PutObject and CreateMultipartUpload are different
/// SDK builder types with the same setters, so one macro keeps the two requests alike.
macro_rules! with_object_options {
    ($req:expr, $s:expr, $object_key:expr) => {{
        let mut req = $req;
        if let Some((mode, until)) = $s.retention($object_key) {
            req = req
                .object_lock_mode(mode)
                .object_lock_retain_until_date(until);
        }
        if let Some(class) = &$s.storage_class {
            req = req.storage_class(class.as_str().into());
        }
        if let Some(sse) = &$s.server_side_encryption {
            req = req.server_side_encryption(sse.as_str().into());
        }
        if let Some(kms) = &$s.sse_kms_key_id {
            req = req.ssekms_key_id(kms);
        }
        req
    }};
}

mod budget;
mod retry;
mod write;

use budget::PROCESS_BUDGET;
pub(crate) use budget::{MIN_PART_SIZE, part_size, parts_in_flight};
use retry::log_retry;
pub(crate) use retry::{PROBING, abort_multipart, write_retry};
pub(crate) use write::{Extras, crc32c, put_new};
use write::{send_write, stored_size};

/// A part the store has accepted, and its buffer to fill again.
pub(crate) struct SentPart {
    part: CompletedPart,
    buffer: Bytes,
}

pub(crate) struct S3Upload {
    shared: Arc<Shared>,
    /// Key relative to the drive's prefix.
    key: String,
    /// Full object key in the bucket.
    object_key: String,
    base_part_size: usize,
    buffer: BytesMut,
    /// Set once a multipart upload was created.
    upload_id: Option<String>,
    /// Whether the multipart upload was created with CRC32C checksums, which every part
    /// then carries.
    checksum: bool,
    next_part: u32,
    in_flight: JoinSet<Result<SentPart, DriveError>>,
    done_parts: Vec<CompletedPart>,
    /// Buffers of parts that have been sent, to fill again: a backup allocates its few part
    /// buffers once instead of one per part, which glibc's malloc would otherwise keep in its
    /// heaps after the first few are freed (peak RSS half as much again).
    spare: Vec<BytesMut>,
    size: u64,
    /// Completed or aborted: nothing for `Drop` to clean up.
    finished: bool,
}

impl S3Upload {
    pub(crate) fn new(shared: Arc<Shared>, key: String, object_key: String) -> Self {
        let base_part_size = shared.part_size;
        Self {
            shared,
            key,
            object_key,
            base_part_size,
            buffer: BytesMut::new(),
            upload_id: None,
            checksum: false,
            next_part: 1,
            in_flight: JoinSet::new(),
            done_parts: Vec::new(),
            spare: Vec::new(),
            size: 0,
            finished: false,
        }
    }

    fn target(&self) -> String {
        self.shared.url(&self.object_key)
    }

    fn current_part_size(&self) -> usize {
        part_size(self.base_part_size, self.next_part)
    }

    async fn create_multipart(&mut self) -> Result<String, DriveError> {
        let s = &self.shared;
        let mut req = s
            .client
            .create_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.object_key);
        req = with_object_options!(req, s, &self.object_key);
        let request = |extras: Extras| {
            let req = req.clone();
            if extras.checksum {
                req.checksum_algorithm(ChecksumAlgorithm::Crc32C).send()
            } else {
                req.send()
            }
        };
        let target = self.target();
        // A lost answer leaves an upload nobody knows the id of: the sweep of incomplete
        // uploads removes it once it is old enough.
        let (out, extras) = write_retry(s)
            .retry(
                || {
                    send_write(
                        s,
                        "CreateMultipartUpload",
                        &target,
                        Extras::CHECKSUM,
                        &request,
                    )
                },
                DriveError::is_transient,
                |err, n, pause| log_retry("CreateMultipartUpload", err, n, pause),
            )
            .await
            .map_err(|gave_up| gave_up.error)?;
        self.checksum = extras.checksum;
        out.upload_id.ok_or_else(|| {
            DriveError::new(
                DriveErrorKind::Other,
                format!(
                    "CreateMultipartUpload {} returned no upload id",
                    self.target()
                ),
            )
        })
    }

    /// Sends one part; waits for a free slot first so at most [`parts_in_flight`] are pending,
    /// and, unless it is the upload's only part in flight, for room in the process's budget.
    async fn send_part(&mut self, data: Bytes) -> Result<(), DriveError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.create_multipart().await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= parts_in_flight(data.len()) {
            self.join_one().await?;
        }
        while let Some(joined) = self.in_flight.try_join_next() {
            self.record(joined)?;
        }
        let reserved = if self.in_flight.is_empty() {
            None
        } else {
            Some(PROCESS_BUDGET.reserve(data.len()).await)
        };
        let part_number = self.next_part as i32;
        self.next_part += 1;
        let shared = self.shared.clone();
        let object_key = self.object_key.clone();
        let checksum = self.checksum.then(|| crc32c(&data));
        self.in_flight.spawn(async move {
            // Given back when the request has ended, however it ended.
            let _reserved = reserved;
            let buffer = data.clone();
            let send = || async {
                shared
                    .client
                    .upload_part()
                    .bucket(&shared.bucket)
                    .key(&object_key)
                    .upload_id(&upload_id)
                    .part_number(part_number)
                    .content_length(data.len() as i64)
                    .set_checksum_algorithm(checksum.is_some().then_some(ChecksumAlgorithm::Crc32C))
                    .set_checksum_crc32_c(checksum.clone())
                    .body(SdkByteStream::from(data.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        shared.errors.map(
                            "UploadPart",
                            &format!("{} (part {part_number})", shared.url(&object_key)),
                            &e,
                        )
                    })
            };
            let out = write_retry(&shared)
                .retry(send, DriveError::is_transient, |err, n, pause| {
                    log_retry("UploadPart", err, n, pause)
                })
                .await
                .map_err(|gave_up| gave_up.error)?;
            Ok(SentPart {
                part: CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(out.e_tag)
                    .set_checksum_crc32_c(checksum)
                    .build(),
                buffer,
            })
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), DriveError> {
        if let Some(joined) = self.in_flight.join_next().await {
            self.record(joined)?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        joined: Result<Result<SentPart, DriveError>, tokio::task::JoinError>,
    ) -> Result<(), DriveError> {
        let sent = joined.map_err(|e| {
            DriveError::new(
                DriveErrorKind::Other,
                format!("part upload task failed: {e}"),
            )
        })??;
        self.done_parts.push(sent.part);
        // The request has ended, so this is normally the buffer's only handle left.
        if let Ok(mut buffer) = sent.buffer.try_into_mut() {
            buffer.clear();
            self.spare.push(buffer);
        }
        Ok(())
    }

    /// An empty buffer for a part of `part_size` bytes: a spare one if it is big enough.
    fn part_buffer(&mut self, part_size: usize) -> BytesMut {
        // Parts only grow: a spare too small now stays too small.
        self.spare.retain(|b| b.capacity() >= part_size);
        self.spare
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(part_size))
    }

    async fn write_inner(&mut self, mut chunk: Bytes) -> Result<(), DriveError> {
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let part_size = self.current_part_size();
            // Each part has a buffer of its own, filled and sent whole: one growing buffer
            // would double its capacity past the part, and a part split off it would keep
            // that whole allocation alive until its request ended.
            if self.buffer.capacity() == 0 {
                self.buffer = self.part_buffer(part_size);
            }
            let take = (part_size - self.buffer.len()).min(chunk.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            if self.buffer.len() == part_size {
                let part = std::mem::take(&mut self.buffer).freeze();
                self.send_part(part).await?;
            }
        }
        Ok(())
    }

    async fn complete_inner(&mut self) -> Result<(), DriveError> {
        if self.upload_id.is_none() {
            let data = std::mem::take(&mut self.buffer).freeze();
            return put_new(&self.shared, &self.object_key, data).await;
        }
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer).freeze();
            self.send_part(last).await?;
        }
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        let mut parts = std::mem::take(&mut self.done_parts);
        parts.sort_by_key(|p| p.part_number);
        let s = &self.shared;
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let request = |extras: Extras| {
            let req = s
                .client
                .complete_multipart_upload()
                .bucket(&s.bucket)
                .key(&self.object_key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                );
            if extras.conditional {
                req.if_none_match("*").send()
            } else {
                req.send()
            }
        };
        let target = self.target();
        let sent = write_retry(s)
            .retry(
                || {
                    send_write(
                        s,
                        "CompleteMultipartUpload",
                        &target,
                        Extras::CONDITIONAL,
                        &request,
                    )
                },
                DriveError::is_transient,
                |err, n, pause| log_retry("CompleteMultipartUpload", err, n, pause),
            )
            .await;
        if let Err(gave_up) = sent {
            // After a round that failed on the way, an attempt whose answer was lost may have
            // completed it: the upload is then gone (NoSuchUpload) or the key taken (412), and
            // the object is there at our size. On a first round a clash is a clash.
            let maybe_done = gave_up.attempts > 1
                && matches!(
                    gave_up.error.kind,
                    DriveErrorKind::NotFound | DriveErrorKind::AlreadyExists
                );
            if !(maybe_done && stored_size(s, &self.object_key).await == Some(self.size)) {
                return Err(gave_up.error);
            }
            tracing::debug!(
                "CompleteMultipartUpload {target}: an earlier attempt had completed it ({})",
                gave_up.error
            );
        }
        crate::lock::ensure_retention(s, &self.object_key).await
    }

    /// Stops every part in flight and aborts the multipart upload, if one was created.
    async fn abort_inner(&mut self) -> Result<(), DriveError> {
        self.finished = true;
        self.in_flight.shutdown().await;
        self.buffer = BytesMut::new();
        match self.upload_id.take() {
            Some(id) => abort_multipart(&self.shared, &self.object_key, &id).await,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError> {
        if self.finished {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                "write after the upload ended",
            ));
        }
        match self.write_inner(chunk).await {
            Ok(()) => Ok(()),
            Err(err) => {
                if let Err(abort) = self.abort_inner().await {
                    tracing::warn!(key = %self.key, error = %abort, "abort after a failed part failed too");
                }
                Err(err)
            }
        }
    }

    async fn complete(mut self: Box<Self>) -> Result<StoredObject, DriveError> {
        if self.finished {
            return Err(DriveError::new(
                DriveErrorKind::Other,
                "complete after the upload ended",
            ));
        }
        match self.complete_inner().await {
            Ok(()) => {
                self.finished = true;
                Ok(StoredObject {
                    key: self.key.clone(),
                    location: self.target(),
                    size: self.size,
                })
            }
            Err(err) => {
                if let Err(abort) = self.abort_inner().await {
                    tracing::warn!(key = %self.key, error = %abort, "abort after a failed completion failed too");
                }
                self.finished = true;
                Err(err)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), DriveError> {
        self.abort_inner().await
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.in_flight.abort_all();
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let shared = self.shared.clone();
                let object_key = self.object_key.clone();
                handle.spawn(async move {
                    if let Err(err) = abort_multipart(&shared, &object_key, &upload_id).await {
                        tracing::warn!(error = %err, "aborting a dropped upload failed");
                    }
                });
            }
            Err(_) => tracing::warn!(
                key = %self.key,
                "upload dropped outside a tokio runtime: multipart upload {upload_id} left open"
            ),
        }
    }
}

impl std::fmt::Debug for S3Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Upload")
            .field("object_key", &self.object_key)
            .field("upload_id", &self.upload_id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
