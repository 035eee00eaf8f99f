//! Backups as the original backupman names them: the records its HTTP API lists
//! (`GET /api/backups`) and its webhooks send (`backup_report`). One backup of one source is
//! a [`BackupRecord`]; its copy on each drive is a [`DriveFileRecord`]. The JSON field names
//! are the original's (`Id`, `Status`, `Label`, `CreatedAt`, `UpdatedAt`, `DriveFiles`), so
//! clients and receivers written for it keep working; fields it did not have come after them.
//!
//! Ids are derived from the object key (and the drive's label), never stored: a backup has
//! the same id after a restart, and on every machine that reads the same drives.

use std::collections::HashMap;

use backupman_core::{DriveError, DriveErrorKind, SourceError};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backup::SourceReport;
use crate::catalog::Found;
use crate::wiring::Plan;

/// Where a backup, or its copy on one drive, stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RecordStatus {
    /// Being dumped and uploaded.
    Pending,
    /// Stored (on every drive, for a backup).
    Finished,
    /// The dump failed, or (for a backup) at least one drive did not store it.
    Failed,
}

/// One backup of one source.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupRecord {
    /// Stable id: see [`backup_id`].
    pub id: String,
    /// `pending`, `finished` or `failed`.
    pub status: RecordStatus,
    /// The source's label.
    pub label: String,
    /// When the dump began.
    pub created_at: DateTime<Utc>,
    /// When the backup last changed: its end, once it has ended.
    pub updated_at: DateTime<Utc>,
    /// Its copy on each drive.
    pub drive_files: Vec<DriveFileRecord>,
    /// The object key, relative to each drive's prefix (empty while unknown).
    pub key: String,
    /// Bytes of the stored object, once known.
    pub size: Option<u64>,
    /// SHA-256 of the stored object, once known.
    pub sha256: Option<String>,
    /// Why it failed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub error: Option<SourceError>,
    /// Why a stored backup is not trusted (unsigned, badly signed, unencrypted, suspect,
    /// damaged, without a manifest); left out when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
    /// The database, for a backup of a whole-server source (`globals`: its roles and
    /// tablespaces); left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Attempts a run made (`retry`), for a backup a run just made; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// One backup's copy on one drive.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriveFileRecord {
    /// Stable id: see [`drive_file_id`].
    pub id: String,
    /// The [`BackupRecord::id`] this copy belongs to.
    pub backup_id: String,
    /// The drive's provider: `local` or `s3`.
    pub provider: String,
    /// The drive's label.
    pub label: String,
    /// Where the copy is: a path or an `s3://` URL (empty when it was not stored).
    pub path: String,
    /// `pending`, `finished` or `failed`.
    pub status: RecordStatus,
    /// When the backup began.
    pub created_at: DateTime<Utc>,
    /// When this copy last changed.
    pub updated_at: DateTime<Utc>,
    /// Why this drive did not store it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub error: Option<DriveError>,
}

/// The id of the backup stored under `key`: 32 hex digits of a hash of the key, so it is
/// the same wherever and whenever the key is read, and safe in a URL path.
pub fn backup_id(key: &str) -> String {
    short_hash(&["backup", key])
}

/// The id of the copy of `key` on the drive labelled `drive`.
pub fn drive_file_id(drive: &str, key: &str) -> String {
    short_hash(&["drive-file", drive, key])
}

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // The length first, so that no two different lists of parts hash alike.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

impl BackupRecord {
    /// The records of stored backups, one per key, each with its copy on every drive it was
    /// found on; newest first, as `found` is.
    pub fn from_stored(found: &[Found]) -> Vec<BackupRecord> {
        let mut records: Vec<BackupRecord> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for f in found {
            let key = f.backup.key.as_str();
            // The key's time, never a manifest's alone: a manifest may lie about its date.
            let created_at = f.backup.taken_at;
            let updated_at = match &f.backup.manifest {
                Some(m) if f.backup.standing.is_trusted() => m.finished_at,
                _ => created_at,
            };
            let i = *index.entry(key).or_insert_with(|| {
                records.push(BackupRecord {
                    id: backup_id(key),
                    status: RecordStatus::Finished,
                    label: f.source.label().to_owned(),
                    created_at,
                    updated_at,
                    drive_files: Vec::new(),
                    key: key.to_owned(),
                    size: Some(f.backup.size),
                    sha256: f.backup.manifest.as_ref().map(|m| m.sha256.clone()),
                    error: None,
                    untrusted: f.backup.standing.reason(),
                    database: f
                        .source
                        .config
                        .part_of
                        .as_ref()
                        .map(|p| p.object.name().to_owned()),
                    attempts: None,
                });
                records.len() - 1
            });
            let drive = f.drive.label();
            let backup_id = records[i].id.clone();
            records[i].drive_files.push(DriveFileRecord {
                id: drive_file_id(drive, key),
                backup_id,
                provider: f.drive.provider().to_owned(),
                label: drive.to_owned(),
                path: f.drive.location(key),
                status: RecordStatus::Finished,
                created_at,
                updated_at,
                error: None,
            });
        }
        records
    }

    /// The record of a backup a run has begun and not finished: its key is not known yet, so
    /// its id is derived from the source's label and the run's start. Its copies are the
    /// plan's drives', all pending.
    pub fn pending(source: &str, plan: &Plan, started_at: DateTime<Utc>) -> Self {
        let started = started_at.to_rfc3339();
        let id = short_hash(&["pending", source, &started]);
        let drive_files = plan
            .drives
            .iter()
            .map(|d| DriveFileRecord {
                id: short_hash(&["pending-drive-file", d.label(), source, &started]),
                backup_id: id.clone(),
                provider: d.provider().to_owned(),
                label: d.label().to_owned(),
                path: String::new(),
                status: RecordStatus::Pending,
                created_at: started_at,
                updated_at: started_at,
                error: None,
            })
            .collect();
        BackupRecord {
            id,
            status: RecordStatus::Pending,
            label: source.to_owned(),
            created_at: started_at,
            updated_at: started_at,
            drive_files,
            key: String::new(),
            size: None,
            sha256: None,
            error: None,
            untrusted: None,
            database: None,
            attempts: None,
        }
    }

    /// The record of a backup a run just made (or failed to make), which ended at
    /// `finished_at`. Drive providers are looked up in `plan` by label.
    pub fn from_report(report: &SourceReport, plan: &Plan, finished_at: DateTime<Utc>) -> Self {
        let created_at = finished_at
            - TimeDelta::from_std(std::time::Duration::from_secs_f64(report.seconds.max(0.0)))
                .unwrap_or_default();
        let id = if report.key.is_empty() {
            // The dump never started, so there is no key: the label and the time name it.
            short_hash(&["failed", &report.source, &created_at.to_rfc3339()])
        } else {
            backup_id(&report.key)
        };
        let status = |ok| {
            if ok {
                RecordStatus::Finished
            } else {
                RecordStatus::Failed
            }
        };
        let drive_files = report
            .drives
            .iter()
            .map(|d| DriveFileRecord {
                id: drive_file_id(&d.drive, &report.key),
                backup_id: id.clone(),
                provider: plan.provider_of(&d.drive).to_owned(),
                label: d.drive.clone(),
                path: d.location.clone().unwrap_or_default(),
                status: status(d.ok),
                created_at,
                updated_at: finished_at,
                // The dump's error is the record's own: said once, not once per drive.
                error: if d.aborted {
                    Some(DriveError::new(
                        DriveErrorKind::Aborted,
                        "not stored: the dump failed",
                    ))
                } else {
                    d.error.clone()
                },
            })
            .collect();
        BackupRecord {
            id,
            status: status(report.ok),
            label: report.source.clone(),
            created_at,
            updated_at: finished_at,
            drive_files,
            key: report.key.clone(),
            size: report.compressed_size,
            sha256: report.sha256.clone(),
            error: report.error.clone(),
            untrusted: None,
            database: report.database.clone(),
            attempts: Some(report.attempts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_url_safe_and_distinct() {
        let key = "app/app-20261127T031322.123Z-7f3a9c.sql.gz";
        assert_eq!(backup_id(key), backup_id(key));
        assert_eq!(backup_id(key).len(), 32);
        assert!(backup_id(key).chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(backup_id(key), drive_file_id("local", key));
        assert_ne!(drive_file_id("a", key), drive_file_id("b", key));
        // Length-prefixed parts: moving a character from one part to the next changes the id.
        assert_ne!(drive_file_id("ab", "c"), drive_file_id("a", "bc"));
    }

    #[test]
    fn field_names_are_the_originals() {
        let now = Utc::now();
        let record = BackupRecord {
            id: "i".into(),
            status: RecordStatus::Finished,
            label: "app".into(),
            created_at: now,
            updated_at: now,
            drive_files: vec![DriveFileRecord {
                id: "d".into(),
                backup_id: "i".into(),
                provider: "local".into(),
                label: "disk".into(),
                path: "/b/app/x.sql.gz".into(),
                status: RecordStatus::Failed,
                created_at: now,
                updated_at: now,
                error: None,
            }],
            key: "app/x.sql.gz".into(),
            size: Some(1),
            sha256: None,
            error: None,
            untrusted: None,
            database: None,
            attempts: None,
        };
        let json = serde_json::to_value(&record).unwrap();
        for field in [
            "Id",
            "Status",
            "Label",
            "CreatedAt",
            "UpdatedAt",
            "DriveFiles",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(json["Status"], "finished");
        let file = &json["DriveFiles"][0];
        for field in [
            "Id",
            "BackupId",
            "Provider",
            "Label",
            "Path",
            "Status",
            "CreatedAt",
            "UpdatedAt",
        ] {
            assert!(file.get(field).is_some(), "{field} missing from {file}");
        }
        assert_eq!(file["Status"], "failed");
    }
}
