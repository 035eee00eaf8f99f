//! Incomplete uploads left by a process that was killed mid-backup: found under a drive's own
//! prefix and discarded once they are older than a configured age, so an upload that another
//! process is still writing is left alone.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::drive::{CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload};

/// What one sweep of a drive found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StaleSweep {
    /// Keys of the incomplete uploads that were discarded.
    pub discarded: Vec<String>,
    /// Incomplete uploads left in place: younger than the age limit, or their discard failed.
    pub remaining: usize,
    /// Why listing or discarding failed, if it did (what was discarded before that still is).
    pub error: Option<DriveError>,
}

/// Whether an incomplete upload is old enough to be someone's leftover. One with no known
/// start time is only stale when any age is (`max_age` zero).
pub fn is_stale(upload: &IncompleteUpload, max_age: Duration, now: DateTime<Utc>) -> bool {
    match upload.started_at {
        Some(at) => now - at >= max_age,
        None => max_age <= Duration::zero(),
    }
}

/// Discards every incomplete upload on `drive` older than `max_age`.
pub async fn sweep(drive: &dyn Drive, max_age: Duration, now: DateTime<Utc>) -> StaleSweep {
    let mut out = StaleSweep::default();
    let found = match drive.incomplete_uploads().await {
        Ok(found) => found,
        Err(err) => {
            out.error = Some(err);
            return out;
        }
    };
    for upload in found {
        if !is_stale(&upload, max_age, now) || out.error.is_some() {
            out.remaining += 1;
            continue;
        }
        match drive.discard_incomplete(&upload).await {
            Ok(()) => {
                tracing::info!(drive = drive.label(), key = %upload.key, "discarded an incomplete upload");
                out.discarded.push(upload.key);
            }
            Err(err) => {
                out.remaining += 1;
                out.error = Some(err);
            }
        }
    }
    out
}

/// The advisory `health` line about incomplete uploads, the same on every drive: a warning
/// naming how many there are under `location` and the oldest, never a failure (backups
/// still work; on S3 their parts are billed until aborted).
pub fn health_check(
    found: Result<Vec<IncompleteUpload>, DriveError>,
    location: &str,
) -> CheckResult {
    let result = found.and_then(|found| {
        if found.is_empty() {
            return Ok(());
        }
        let oldest = found
            .iter()
            .filter_map(|u| u.started_at)
            .min()
            .map(|at| format!(", the oldest begun {}", at.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        Err(DriveError::new(
            DriveErrorKind::Other,
            format!(
                "{} incomplete upload(s) under {location} left by an interrupted run{oldest}",
                found.len()
            ),
        )
        .with_hint(
            "the next `backupman run` or `backupman prune` discards those older than `incomplete_uploads.abort_after_hours` (24 by default)",
        ))
    });
    CheckResult {
        check: "incomplete uploads".into(),
        result,
        required: false,
    }
}
