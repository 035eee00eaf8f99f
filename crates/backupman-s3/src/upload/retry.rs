//! Retries beyond the client's own attempts: for writes whose bytes are still in memory, and
//! for the abort that deletes a failed upload's parts.

use std::time::Duration;

use backupman_core::DriveError;
use backupman_core::backoff::Backoff;

use crate::errors::is_no_such_upload;
use crate::shared::Shared;

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
pub(super) fn log_retry(op: &str, err: &DriveError, attempt: u32, pause: Duration) {
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
