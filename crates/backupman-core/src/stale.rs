//! Incomplete uploads left by a process that was killed mid-backup: found under a drive's own
//! prefix and discarded once they are older than a configured age, so an upload that another
//! process is still writing is left alone. The same goes for a backup object whose manifest
//! never landed (a process killed between the two writes): it cannot be checked, so it is no
//! backup, and it is removed at the same age.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use std::collections::HashSet;

use crate::drive::{CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload};
use crate::naming::BackupKey;

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

/// Discards every incomplete upload on `drive` older than `max_age`, and every backup object
/// of the sources labelled `sources` left without its manifest for as long.
pub async fn sweep(
    drive: &dyn Drive,
    max_age: Duration,
    now: DateTime<Utc>,
    sources: &[&str],
) -> StaleSweep {
    let mut out = StaleSweep::default();
    let found = match drive.incomplete_uploads().await {
        Ok(found) => found,
        Err(err) => {
            out.error = Some(err);
            return out;
        }
    };
    for upload in found.into_iter().chain(orphans(drive, sources).await) {
        if !is_stale(&upload, max_age, now) || out.error.is_some() {
            out.remaining += 1;
            continue;
        }
        let discarded = if upload.id == ORPHAN {
            drive.delete(&upload.key).await
        } else {
            drive.discard_incomplete(&upload).await
        };
        match discarded {
            Ok(()) => {
                tracing::info!(drive = drive.label(), key = %upload.key, what = %upload.id, "discarded an incomplete upload");
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

/// The backup objects of the sources labelled `sources` with no manifest beside them, as
/// incomplete uploads (their key's time as their start) that `discard_incomplete` would not
/// know: they are deleted like objects. A listing that fails finds none (the next sweep tries
/// again).
async fn orphans(drive: &dyn Drive, sources: &[&str]) -> Vec<IncompleteUpload> {
    let mut out = Vec::new();
    for label in sources {
        let folder = BackupKey::source_folder(label);
        let Ok(objects) = drive.list(&folder).await else {
            continue;
        };
        out.extend(without_manifest(&objects, folder.trim_end_matches('/')));
    }
    out
}

/// The objects of the source whose folder is `slug` that have no manifest beside them.
fn without_manifest(objects: &[crate::drive::ObjectInfo], slug: &str) -> Vec<IncompleteUpload> {
    let keys: HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    objects
        .iter()
        .filter(|o| !keys.contains(format!("{}.json", o.key).as_str()))
        .filter_map(|o| {
            let parsed = BackupKey::parse(&o.key).filter(|k| k.source_slug == slug)?;
            Some(IncompleteUpload {
                key: o.key.clone(),
                id: ORPHAN.to_owned(),
                started_at: Some(parsed.taken_at),
            })
        })
        .collect()
}

/// The `id` of an object without its manifest, in place of an upload id.
const ORPHAN: &str = "object without manifest";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalDrive;
    use crate::drive::upload_bytes;

    #[tokio::test]
    async fn an_old_object_without_its_manifest_is_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let drive = LocalDrive::new("disk", dir.path());
        let now = Utc::now();
        let key =
            |at: DateTime<Utc>| format!("s/s-{}-0a1b2c.sql.gz", at.format("%Y%m%dT%H%M%S%.3fZ"));
        let orphan = key(now - Duration::days(2));
        let young = key(now - Duration::minutes(1));
        let whole = key(now - Duration::days(3));
        for k in [&orphan, &young, &whole] {
            upload_bytes(&drive, k, "dump".into()).await.unwrap();
        }
        upload_bytes(&drive, &format!("{whole}.json"), "{}".into())
            .await
            .unwrap();
        upload_bytes(&drive, "s/notes.txt", "not a backup".into())
            .await
            .unwrap();

        let swept = sweep(&drive, Duration::hours(24), now, &["S"]).await;
        assert!(swept.error.is_none(), "{:?}", swept.error);
        assert_eq!(swept.discarded, vec![orphan]);
        assert_eq!(swept.remaining, 1);
        let mut left: Vec<String> = drive
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        left.sort();
        let mut expected = vec![
            young,
            whole.clone(),
            format!("{whole}.json"),
            "s/notes.txt".into(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}
