//! Streamed uploads: one PutObject for a stream smaller than a part, otherwise a multipart
//! upload with a few parts in flight, aborted on any failure (or when dropped unfinished).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use backupman_core::{DriveError, DriveErrorKind, StoredObject, Upload};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use crate::drive::Shared;
use crate::errors::{is_no_such_upload, is_not_implemented};

/// The drive's object settings (storage class, server-side encryption) on a request that
/// creates an object: PutObject and CreateMultipartUpload are different SDK builder types
/// with the same setters, so one macro keeps the two requests alike.
macro_rules! with_object_options {
    ($req:expr, $s:expr) => {{
        let mut req = $req;
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

/// Parts uploaded concurrently at most (with the default 8 MiB parts).
pub(crate) const MAX_IN_FLIGHT: usize = 4;
/// Bytes of parts in flight at most, once parts have grown: bigger parts mean fewer of them
/// in flight, so a very large backup does not multiply its memory by `MAX_IN_FLIGHT`.
pub(crate) const IN_FLIGHT_BYTES: usize = 32 * 1024 * 1024;

/// How many parts of `part_size` bytes may be in flight: at least one, at most
/// [`MAX_IN_FLIGHT`], and no more than [`IN_FLIGHT_BYTES`] together.
pub(crate) fn parts_in_flight(part_size: usize) -> usize {
    (IN_FLIGHT_BYTES / part_size.max(1)).clamp(1, MAX_IN_FLIGHT)
}

/// Bytes of parts in flight across every upload of the process, beyond each upload's first
/// part: a backup to three S3 drives, fed the same stream, then holds about what one drive
/// alone may (its first part plus this), not three times as much. The first part in flight
/// is each upload's own, so one drive's big parts never stall another drive.
pub(crate) const SHARED_IN_FLIGHT_BYTES: usize = 24 * 1024 * 1024;

static PROCESS_BUDGET: InFlightBudget = InFlightBudget::new(SHARED_IN_FLIGHT_BYTES as u32);

/// A byte budget that parts take from before they are sent and give back once their request
/// has ended. A part larger than the whole budget takes all of it, so every upload makes
/// progress; permits are held only by parts on their way to the store, which end by
/// themselves (answered, failed or timed out), so waiting for the budget cannot deadlock.
pub(crate) struct InFlightBudget {
    free: tokio::sync::Semaphore,
    whole: u32,
}

impl InFlightBudget {
    /// A budget of `bytes` (at most 4 GiB).
    pub(crate) const fn new(bytes: u32) -> Self {
        Self {
            free: tokio::sync::Semaphore::const_new(bytes as usize),
            whole: bytes,
        }
    }

    /// Waits until `len` bytes (at most the whole budget) are free and takes them.
    pub(crate) async fn reserve(&self, len: usize) -> tokio::sync::SemaphorePermit<'_> {
        let want = u32::try_from(len).unwrap_or(u32::MAX).clamp(1, self.whole);
        self.free
            .acquire_many(want)
            .await
            .expect("the budget's semaphore is never closed")
    }
}
/// S3's smallest part (all but the last).
pub(crate) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;
/// Parts per size step: the part size doubles every this many parts, so 10,000 parts starting
/// at 5 MiB reach well over S3's 5 TiB object limit.
const PARTS_PER_STEP: u32 = 900;

/// The size of part number `part` (1-based) when the first part is `base` bytes.
pub(crate) fn part_size(base: usize, part: u32) -> usize {
    let doublings = (part.saturating_sub(1) / PARTS_PER_STEP).min(12);
    base.max(MIN_PART_SIZE)
        .saturating_mul(1 << doublings)
        .min(MAX_PART_SIZE)
}

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
        req = with_object_options!(req, s);
        let out = req
            .send()
            .await
            .map_err(|e| s.errors.map("CreateMultipartUpload", &self.target(), &e))?;
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
        self.in_flight.spawn(async move {
            // Given back when the request has ended, however it ended.
            let _reserved = reserved;
            let buffer = data.clone();
            let out = shared
                .client
                .upload_part()
                .bucket(&shared.bucket)
                .key(&object_key)
                .upload_id(upload_id)
                .part_number(part_number)
                .content_length(data.len() as i64)
                .body(SdkByteStream::from(data))
                .send()
                .await
                .map_err(|e| {
                    shared.errors.map(
                        "UploadPart",
                        &format!("{} (part {part_number})", shared.url(&object_key)),
                        &e,
                    )
                })?;
            Ok(SentPart {
                part: CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(out.e_tag)
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
        let request = |conditional: bool| {
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
            if conditional {
                req.if_none_match("*").send()
            } else {
                req.send()
            }
        };
        send_no_clobber(s, "CompleteMultipartUpload", &self.target(), request).await
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

/// One PutObject of `data` that never replaces an object: sent with `If-None-Match: *`, so a
/// store that honours it refuses when the key exists (a [`DriveErrorKind::AlreadyExists`]
/// error). A store that answers the header with 501 NotImplemented gets the request once more
/// without it (`begin` already checked the key with HeadObject) and is remembered as such.
pub(crate) async fn put_new(s: &Shared, object_key: &str, data: Bytes) -> Result<(), DriveError> {
    let request = |conditional: bool| {
        let mut req = s
            .client
            .put_object()
            .bucket(&s.bucket)
            .key(object_key)
            .content_length(data.len() as i64)
            .body(SdkByteStream::from(data.clone()));
        req = with_object_options!(req, s);
        if conditional {
            req = req.if_none_match("*");
        }
        req.send()
    };
    send_no_clobber(s, "PutObject", &s.url(object_key), request).await
}

/// Sends a write that creates `target` (an `s3://` URL) with `If-None-Match: *` where the
/// store honours it; `request(conditional)` builds and sends it. A store that answers the
/// header with 501 NotImplemented gets the request once more without it and is remembered as
/// such.
async fn send_no_clobber<T, E, Fut>(
    s: &Shared,
    op: &'static str,
    target: &str,
    request: impl Fn(bool) -> Fut,
) -> Result<(), DriveError>
where
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let conditional = s.conditional_writes();
    match request(conditional).await {
        Ok(_) => Ok(()),
        // Noted only once the plain request went through: a 501 about something else
        // (an unsupported storage class, say) fails again and says so.
        Err(e) if conditional && is_not_implemented(&e) => {
            request(false)
                .await
                .map_err(|e| s.errors.map(op, target, &e))?;
            s.note_conditional_writes_unsupported(op);
            Ok(())
        }
        Err(e) => Err(s.errors.map(op, target, &e)),
    }
}

/// Pauses between attempts to abort when the store cannot be reached (about 15 s in all, on
/// top of the client's own retries): a store that restarts right after failing a part still
/// gets the abort, so its parts are not left behind.
const ABORT_UNREACHABLE_RETRIES: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// Aborts a multipart upload so its parts are deleted. An upload the store no longer knows
/// (completed or aborted meanwhile, or aborted by an attempt whose answer was lost) leaves no
/// parts either, so that is success too.
pub(crate) async fn abort_multipart(
    shared: &Shared,
    object_key: &str,
    upload_id: &str,
) -> Result<(), DriveError> {
    let mut pauses = ABORT_UNREACHABLE_RETRIES.iter();
    loop {
        let result = match shared
            .client
            .abort_multipart_upload()
            .bucket(&shared.bucket)
            .key(object_key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_upload(&e) => Ok(()),
            Err(e) => Err(shared
                .errors
                .map("AbortMultipartUpload", &shared.url(object_key), &e)),
        };
        match (result, pauses.next()) {
            (Err(err), Some(pause)) if err.kind == DriveErrorKind::Connection => {
                tracing::debug!(error = %err, "the store is unreachable; trying the abort again in {pause:?}");
                tokio::time::sleep(*pause).await;
            }
            (result, _) => return result,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_to_reach_five_tebibytes() {
        const MIB: usize = 1024 * 1024;
        assert_eq!(part_size(8 * MIB, 1), 8 * MIB);
        assert_eq!(part_size(8 * MIB, 900), 8 * MIB);
        assert_eq!(part_size(8 * MIB, 901), 16 * MIB);
        assert_eq!(part_size(MIB, 1), 5 * MIB, "never below S3's minimum");
        let total: u128 = (1..=10_000).map(|n| part_size(5 * MIB, n) as u128).sum();
        assert!(total >= 5 * 1024 * 1024 * MIB as u128, "{total}");
        assert!(part_size(5 * MIB, 10_000) <= MAX_PART_SIZE);
    }

    #[test]
    fn bigger_parts_mean_fewer_in_flight() {
        const MIB: usize = 1024 * 1024;
        assert_eq!(parts_in_flight(5 * MIB), 4);
        assert_eq!(parts_in_flight(8 * MIB), 4);
        assert_eq!(parts_in_flight(16 * MIB), 2);
        assert_eq!(parts_in_flight(64 * MIB), 1);
        assert_eq!(parts_in_flight(5 * 1024 * MIB), 1);
    }

    #[tokio::test]
    async fn the_budget_holds_back_parts_until_others_end() {
        use std::time::Duration;
        let budget = InFlightBudget::new(10);
        let first = budget.reserve(6).await;
        let second = budget.reserve(4).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(1)).await;
        assert!(
            waiting.is_err(),
            "the budget is spent: a third part must wait"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), budget.reserve(6)).await;
        assert!(third.is_ok(), "6 bytes were given back");
        drop(second);
        drop(third);
        // A part bigger than the whole budget takes all of it rather than waiting forever.
        let whole = tokio::time::timeout(Duration::from_secs(5), budget.reserve(1 << 20)).await;
        assert_eq!(whole.map(|p| p.num_permits()).ok(), Some(10));
    }
}
