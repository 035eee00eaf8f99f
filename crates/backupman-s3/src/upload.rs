//! Streamed uploads: one PutObject for a stream smaller than a part, otherwise a multipart
//! upload with a few parts in flight, aborted on any failure (or when dropped unfinished).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use backupman_core::backoff::Backoff;
use backupman_core::{DriveError, DriveErrorKind, StoredObject, Upload};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use crate::drive::Shared;
use crate::errors::{is_no_such_upload, is_not_implemented};

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

/// One PutObject of `data` that never replaces an object: sent with `If-None-Match: *`, so a
/// store that honours it refuses when the key exists (a [`DriveErrorKind::AlreadyExists`]
/// error), and with its CRC32C, so a store that checks it refuses bytes altered on the way.
pub(crate) async fn put_new(s: &Shared, object_key: &str, data: Bytes) -> Result<(), DriveError> {
    let checksum = crc32c(&data);
    let request = |extras: Extras| {
        let mut req = s
            .client
            .put_object()
            .bucket(&s.bucket)
            .key(object_key)
            .content_length(data.len() as i64)
            .body(SdkByteStream::from(data.clone()));
        req = with_object_options!(req, s, object_key);
        if extras.conditional {
            req = req.if_none_match("*");
        }
        if extras.checksum {
            // Some stores look for the algorithm header, not the value's (Object Lock
            // requires a checksum), so both are sent.
            req = req
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .checksum_crc32_c(checksum.clone());
        }
        req.send()
    };
    let url = s.url(object_key);
    let sent = write_retry(s)
        .retry(
            || send_write(s, "PutObject", &url, Extras::BOTH, &request),
            DriveError::is_transient,
            |err, n, pause| log_retry("PutObject", err, n, pause),
        )
        .await;
    match sent {
        Ok(_) => Ok(()),
        // After a round that failed on the way, an attempt whose answer was lost may have
        // stored it already: the very same bytes under the key are this write done, not a
        // clash (nothing was replaced). On a first round a clash is a clash.
        Err(gave_up)
            if gave_up.attempts > 1
                && gave_up.error.kind == DriveErrorKind::AlreadyExists
                && holds(s, object_key, &data).await =>
        {
            Ok(())
        }
        Err(gave_up) => Err(gave_up.error),
    }
}

/// Whether `object_key` holds exactly `data` (a small object: read whole, and no further
/// than one byte past `data`).
async fn holds(s: &Shared, object_key: &str, data: &[u8]) -> bool {
    let Ok(out) = s
        .client
        .get_object()
        .bucket(&s.bucket)
        .key(object_key)
        .send()
        .await
    else {
        return false;
    };
    let mut body = out.body;
    let mut stored = Vec::with_capacity(data.len());
    while let Some(Ok(chunk)) = body.next().await {
        stored.extend_from_slice(&chunk);
        if stored.len() > data.len() {
            return false;
        }
    }
    stored == data
}

/// The size of `object_key` on the store, `None` when it is not there (or cannot be asked).
async fn stored_size(s: &Shared, object_key: &str) -> Option<u64> {
    let head = s
        .client
        .head_object()
        .bucket(&s.bucket)
        .key(object_key)
        .send()
        .await
        .ok()?;
    head.content_length().and_then(|n| u64::try_from(n).ok())
}

/// The base64 CRC32C of `data`, as `x-amz-checksum-crc32c` carries it.
pub(crate) fn crc32c(data: &[u8]) -> String {
    let mut checksum = aws_smithy_checksums::ChecksumAlgorithm::Crc32c.into_impl();
    checksum.update(data);
    aws_smithy_types::base64::encode(checksum.finalize())
}

/// What a write may carry that some S3-compatible stores answer with 501 NotImplemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extras {
    /// `If-None-Match: *`.
    pub conditional: bool,
    /// A CRC32C of the body (`x-amz-checksum-crc32c`, or the algorithm of a multipart upload).
    pub checksum: bool,
}

impl Extras {
    const CONDITIONAL: Self = Self {
        conditional: true,
        checksum: false,
    };
    const CHECKSUM: Self = Self {
        conditional: false,
        checksum: true,
    };
    const BOTH: Self = Self {
        conditional: true,
        checksum: true,
    };
}

/// Sends a write of `target` (an `s3://` URL) with the extras of `wanted` the store is not yet
/// known to refuse; `request(extras)` builds and sends it. A store that answers 501
/// NotImplemented gets the request again without If-None-Match, then without the checksum,
/// then without both, and the first that goes through is remembered for the drive. Returns
/// the output and the extras it was sent with.
async fn send_write<T, E, Fut>(
    s: &Shared,
    op: &'static str,
    target: &str,
    wanted: Extras,
    request: impl Fn(Extras) -> Fut,
) -> Result<(T, Extras), DriveError>
where
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let first = Extras {
        conditional: wanted.conditional && s.conditional_writes(),
        checksum: wanted.checksum && s.checksums(),
    };
    let fallbacks = [
        first,
        Extras {
            conditional: false,
            ..first
        },
        Extras {
            checksum: false,
            ..first
        },
        Extras {
            conditional: false,
            checksum: false,
        },
    ];
    let mut extras = first;
    let mut tried = Vec::with_capacity(fallbacks.len());
    loop {
        tried.push(extras);
        match request(extras).await {
            // Noted only once a plainer request went through: a 501 about something else (an
            // unsupported storage class, say) fails every time and says so.
            Ok(out) => {
                if first.conditional && !extras.conditional {
                    s.note_conditional_writes_unsupported(op);
                }
                if first.checksum && !extras.checksum {
                    s.note_checksums_unsupported(op);
                }
                return Ok((out, extras));
            }
            Err(e) if is_not_implemented(&e) => {
                match fallbacks.iter().find(|f| !tried.contains(f)) {
                    Some(next) => extras = *next,
                    None => return Err(s.errors.map(op, target, &e)),
                }
            }
            Err(e) => return Err(s.errors.map(op, target, &e)),
        }
    }
}

/// Rounds of the client's own attempts for an abort when the store cannot be reached (about
/// 15 s of pauses in all): a store that restarts right after failing a part still gets the
/// abort, so its parts are not left behind.
const ABORT_RETRY: Backoff = Backoff {
    first_pause: Duration::from_secs(1),
    max_pause: Duration::from_secs(8),
    give_up_after: Duration::from_secs(30),
    max_attempts: 5,
};

/// Rounds of the client's own attempts (`max_attempts` each) for a write whose bytes are
/// still in memory (a part, a small object, the completion): worth far more tries than the
/// whole backup a failure would cost. A store failing every request makes the write give up
/// after about 90 s of pauses and attempts. A drive with `max_attempts: 1` asked for no
/// retries at all, and gets one round, as do `health`'s probes ([`PROBING`]).
pub(crate) fn write_retry(s: &Shared) -> Backoff {
    let probing = PROBING.try_with(|p| *p).unwrap_or(false);
    Backoff {
        first_pause: Duration::from_millis(500),
        max_pause: Duration::from_secs(8),
        give_up_after: Duration::from_secs(90),
        max_attempts: if probing || s.errors.max_attempts <= 1 {
            1
        } else {
            8
        },
    }
}

tokio::task_local! {
    /// Set while `health` probes the drive: it must say at once what the store does, so its
    /// writes get the client's attempts only (its own deadline bounds it).
    pub(crate) static PROBING: bool;
}

/// Logs one retried failure of `op`, for `--debug`.
fn log_retry(op: &str, err: &DriveError, attempt: u32, pause: Duration) {
    tracing::debug!(
        "{op}: round {attempt} of the client's attempts failed ({err}); trying again in {pause:.1?}"
    );
}

/// Aborts a multipart upload so its parts are deleted. An upload the store no longer knows
/// (completed or aborted meanwhile, or aborted by an attempt whose answer was lost) leaves no
/// parts either, so that is success too.
pub(crate) async fn abort_multipart(
    shared: &Shared,
    object_key: &str,
    upload_id: &str,
) -> Result<(), DriveError> {
    let sent = ABORT_RETRY
        .retry(
            || async {
                match shared
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
                    Err(e) => {
                        Err(shared
                            .errors
                            .map("AbortMultipartUpload", &shared.url(object_key), &e))
                    }
                }
            },
            DriveError::is_transient,
            |err, n, pause| log_retry("AbortMultipartUpload", err, n, pause),
        )
        .await;
    sent.map_err(|gave_up| gave_up.error)
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
