//! Incomplete uploads left by a process that was killed mid-backup: found under a drive's own
//! prefix and discarded once they are older than a configured age, so an upload that another
//! process is still writing is left alone. The same goes for a backup object whose manifest
//! never landed (a process killed between the two writes): it cannot be checked, so it is no
//! backup, and it is removed at the same age.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use std::collections::HashSet;

use crate::drive::{CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload};
use crate::listing::StoredBackup;

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

/// A source's folder as listed once for a run: its backups as the listing judged them, or
/// why the listing failed. The sweep and retention share it, so a run lists each folder once.
pub type Listed = Result<Vec<StoredBackup>, DriveError>;

/// Discards every incomplete upload `uploads` found on `drive` (its
/// [`Drive::incomplete_uploads`], asked beside the folder listings so that the sweep adds no
/// round trip after them) older than `max_age`, and every backup object in `listed` left
/// without its manifest for as long; those are taken out of `listed`.
///
/// An object without its manifest is only counted as left behind when its key's time is a
/// second or more before `now`: the listing may be made while this very run is writing, and
/// its own object is listed before its manifest lands.
pub async fn sweep(
    drive: &dyn Drive,
    uploads: Result<Vec<IncompleteUpload>, DriveError>,
    max_age: Duration,
    now: DateTime<Utc>,
    listed: &mut [Listed],
) -> StaleSweep {
    let mut out = StaleSweep::default();
    // A store that cannot list its uploads (s3s-fs, an IAM policy without the permission)
    // still gets its objects without a manifest swept: they are found by the listing.
    let (found, unlisted) = match uploads {
        Ok(found) => (found, None),
        Err(err) => (Vec::new(), Some(err)),
    };
    for upload in found {
        out.discard(drive, &upload, max_age, now).await;
    }
    for backups in listed.iter_mut().flatten() {
        let mut gone = HashSet::new();
        for backup in backups.iter() {
            if backup.has_manifest() || backup.taken_at > now - OWN_WRITES {
                continue;
            }
            let orphan = IncompleteUpload {
                key: backup.key.clone(),
                id: ORPHAN.to_owned(),
                started_at: Some(backup.taken_at),
            };
            if out.discard(drive, &orphan, max_age, now).await {
                gone.insert(backup.key.clone());
            }
        }
        backups.retain(|b| !gone.contains(&b.key));
    }
    if let Some(err) = unlisted {
        out.error.get_or_insert(err);
    }
    out
}

impl StaleSweep {
    /// Discards one leftover if it is stale and nothing failed before it; whether it did.
    async fn discard(
        &mut self,
        drive: &dyn Drive,
        upload: &IncompleteUpload,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> bool {
        if !is_stale(upload, max_age, now) || self.error.is_some() {
            self.remaining += 1;
            return false;
        }
        let discarded = if upload.id == ORPHAN {
            drive.delete(&upload.key).await
        } else {
            drive.discard_incomplete(upload).await
        };
        match discarded {
            Ok(()) => {
                tracing::info!(drive = drive.label(), key = %upload.key, what = %upload.id, "discarded an incomplete upload");
                self.discarded.push(upload.key.clone());
                true
            }
            Err(err) => {
                self.remaining += 1;
                self.error = Some(err);
                false
            }
        }
    }
}

/// How recent an object's key may be and still be this run's own, being written now.
const OWN_WRITES: Duration = Duration::seconds(1);

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
    use crate::listing::{TrustPolicy, list_source};

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

        let trust = TrustPolicy::unsigned(now);
        let mut listed = [list_source(&drive, "S", &trust).await];
        let swept = sweep(
            &drive,
            drive.incomplete_uploads().await,
            Duration::hours(24),
            now,
            &mut listed,
        )
        .await;
        assert!(swept.error.is_none(), "{:?}", swept.error);
        assert_eq!(swept.discarded, vec![orphan]);
        assert_eq!(swept.remaining, 1);
        // The listing the run goes on with no longer holds what was discarded.
        let still: Vec<&str> = listed[0]
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| b.key.as_str())
            .collect();
        assert_eq!(still, vec![young.as_str(), whole.as_str()]);
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

    #[tokio::test]
    async fn an_object_this_run_is_writing_is_never_an_orphan_even_at_age_zero() {
        let dir = tempfile::tempdir().unwrap();
        let drive = LocalDrive::new("disk", dir.path());
        let now = Utc::now();
        let own = format!("s/s-{}-0a1b2c.sql.gz", now.format("%Y%m%dT%H%M%S%.3fZ"));
        upload_bytes(&drive, &own, "dump, manifest not yet written".into())
            .await
            .unwrap();
        let mut listed = [list_source(&drive, "S", &TrustPolicy::unsigned(now)).await];
        let swept = sweep(
            &drive,
            drive.incomplete_uploads().await,
            Duration::zero(),
            now,
            &mut listed,
        )
        .await;
        assert!(swept.discarded.is_empty(), "{:?}", swept.discarded);
        assert_eq!(drive.list("s/").await.unwrap().len(), 1);
    }
}
