//! Writes that never replace an object: PutObject with `If-None-Match: *` and a CRC32C, and
//! the fallback for stores that answer either with 501 NotImplemented.

use std::future::Future;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use backupman_core::{DriveError, DriveErrorKind};
use bytes::Bytes;

use super::retry::{log_retry, write_retry};
use crate::errors::is_not_implemented;
use crate::shared::Shared;

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
pub(super) async fn holds(s: &Shared, object_key: &str, data: &[u8]) -> bool {
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
pub(super) async fn stored_size(s: &Shared, object_key: &str) -> Option<u64> {
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
    pub(super) const CONDITIONAL: Self = Self {
        conditional: true,
        checksum: false,
    };
    pub(super) const CHECKSUM: Self = Self {
        conditional: false,
        checksum: true,
    };
    pub(super) const BOTH: Self = Self {
        conditional: true,
        checksum: true,
    };
}

/// Sends a write of `target` (an `s3://` URL) with the extras of `wanted` the store is not yet
/// known to refuse; `request(extras)` builds and sends it. A store that answers 501
/// NotImplemented gets the request again without If-None-Match, then without the checksum,
/// then without both, and the first that goes through is remembered for the drive. Returns
/// the output and the extras it was sent with.
pub(super) async fn send_write<T, E, Fut>(
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
