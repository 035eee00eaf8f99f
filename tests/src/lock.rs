//! S3 Object Lock as a store enforces it: the one check every server with Object Lock (moto,
//! Ceph's RADOS Gateway) is run through.

use backupman_core::{Drive, read_all, upload_bytes};
use backupman_s3::{LockMode, ObjectLock, S3Drive};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use crate::conformance::{MIB, data, write_chunked};
use crate::s3::{S3Server, drive_for};

/// A drive on `server`'s `bucket` (prefix `p`) that locks every object it writes in
/// governance mode for `days`.
pub fn locked_drive(server: &S3Server, bucket: &str, days: u32) -> S3Drive {
    let mut cfg = server.drive_settings(bucket, "p");
    cfg.object_lock = Some(ObjectLock {
        mode: LockMode::Governance,
        days,
    });
    drive_for(&cfg)
}

/// The retain-until date `aws s3api head-object` reports for `key`, and the mode.
fn retention(server: &S3Server, bucket: &str, key: &str) -> (String, DateTime<Utc>) {
    let head = server.s3api(&["head-object", "--bucket", bucket, "--key", key]);
    let mode = head["ObjectLockMode"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let until = head["ObjectLockRetainUntilDate"]
        .as_str()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .unwrap_or_else(|| panic!("{key} has no retain-until date: {head}"))
        .with_timezone(&Utc);
    (mode, until)
}

/// On a new `bucket` of `server` created with Object Lock: both write paths (one PutObject,
/// a multipart upload) put the drive's retention on the object, read back with the aws CLI;
/// the store refuses (AccessDenied) to delete the version before the date; the drive reports
/// the date retention asks for; and `health` passes, its Object Lock check included.
pub async fn retention_is_kept_and_enforced(server: &S3Server, bucket: &str) {
    const DAYS: u32 = 3;
    let name = server.name();
    server.create_locked_bucket(bucket).await;
    let drive = locked_drive(server, bucket, DAYS);
    let small = Bytes::from_static(b"a small backup\n");
    upload_bytes(&drive, "s/s-1.sql.gz", small.clone())
        .await
        .unwrap();
    let large = data(11 * MIB + 3, 4);
    let mut upload = drive.begin("s/s-2.sql.gz").await.unwrap();
    write_chunked(&mut upload, &large).await;
    upload.complete().await.unwrap();
    assert_eq!(read_all(&drive, "s/s-1.sql.gz").await.unwrap(), small);
    assert!(read_all(&drive, "s/s-2.sql.gz").await.unwrap() == large);

    let expected = Utc::now() + Duration::days(i64::from(DAYS));
    for key in ["s/s-1.sql.gz", "s/s-2.sql.gz"] {
        let full = format!("p/{key}");
        let (mode, until) = tokio::task::block_in_place(|| retention(server, bucket, &full));
        assert_eq!(mode, "GOVERNANCE", "{name}: {key}");
        assert!(
            (until - expected).num_minutes().abs() < 5,
            "{name}: {key}: retained until {until}, expected about {expected}"
        );
        let seen = drive.locked_until(key).await.unwrap();
        assert_eq!(
            seen,
            Some(until),
            "{name}: {key}: the drive reads the same date"
        );

        // A delete of the version itself, before the date, is refused by the store.
        let versions = tokio::task::block_in_place(|| {
            server.s3api(&[
                "list-object-versions",
                "--bucket",
                bucket,
                "--prefix",
                &full,
            ])
        });
        let version = versions["Versions"][0]["VersionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no version of {full}: {versions}"))
            .to_owned();
        let out = tokio::task::block_in_place(|| {
            server.s3api_output(&[
                "delete-object",
                "--bucket",
                bucket,
                "--key",
                &full,
                "--version-id",
                &version,
            ])
        });
        assert!(
            !out.status.success(),
            "{name}: {key}: a locked version was deleted"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("AccessDenied"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(drive.locked_until("s/missing").await.unwrap(), None);

    // A folder index is a copy that the next one replaces and deletes: never locked.
    let index = "s/.index/20261206T180000.000Z-1a2b3c.json";
    upload_bytes(&drive, index, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(drive.locked_until(index).await.unwrap(), None, "{name}");
    drive.delete(index).await.unwrap();

    // Health passes, and its probe is not locked (it is deleted right after).
    let checks = drive.health().await;
    let lock = checks.iter().find(|c| c.check == "Object Lock").unwrap();
    assert!(lock.required);
    assert!(lock.result.is_ok(), "{name}: {:?}", lock.result);
    for check in checks.iter().filter(|c| c.required) {
        assert!(
            check.result.is_ok(),
            "{name}: {}: {:?}",
            check.check,
            check.result
        );
    }
}
