//! `backupman health` for an S3 drive: every action a backup needs, one by one, on a probe
//! object under `.backupman-health/` (never touching existing backups).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use backupman_core::{CheckResult, Drive, DriveError, DriveErrorKind, read_all, upload_bytes};
use bytes::Bytes;

use crate::drive::S3Drive;
use crate::upload::abort_multipart;

/// Where probe objects live, relative to the drive's prefix.
pub const HEALTH_PREFIX: &str = ".backupman-health/";

pub(crate) async fn check(drive: &S3Drive) -> Vec<CheckResult> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let key = format!("{HEALTH_PREFIX}probe-{stamp}-{}", std::process::id());
    let body = Bytes::from(format!("backupman health probe {stamp}\n"));
    let mut results = Vec::with_capacity(5);
    let result = |check: &str, result| CheckResult {
        check: check.to_owned(),
        result,
        required: true,
    };

    let put = upload_bytes(drive, &key, body.clone()).await.map(|_| ());
    let stored = put.is_ok();
    results.push(result("PutObject", put));

    let get = if stored {
        match read_all(drive, &key).await {
            Ok(read) if read == body => Ok(()),
            Ok(read) => Err(DriveError::new(
                DriveErrorKind::Integrity,
                format!(
                    "GetObject {}: read back {} bytes that differ from the {} written",
                    drive.shared().url(&drive.object_key(&key)),
                    read.len(),
                    body.len()
                ),
            )
            .with_hint("a proxy or the store altered the object; check the endpoint URL")),
            Err(err) => Err(err),
        }
    } else {
        Err(not_checked())
    };
    results.push(result("GetObject", get));

    let list = match drive.list(HEALTH_PREFIX).await {
        Ok(found) if !stored || found.iter().any(|o| o.key == key) => Ok(()),
        Ok(_) => Err(DriveError::new(
            DriveErrorKind::Other,
            format!("ListBucket: the probe object {key} was stored but is not listed"),
        )
        .with_hint("the store's listing is inconsistent or `prefix` is not honoured")),
        Err(err) => Err(err),
    };
    results.push(result("ListBucket", list));

    // Deleting a missing object is allowed, so this checks the permission even after a failed put.
    results.push(result("DeleteObject", drive.delete(&key).await));

    // The spec's minimal IAM policy (Put, Get, List, Delete) lacks s3:AbortMultipartUpload:
    // backups still work, only the cleanup of a failed large upload needs it, so this check
    // warns rather than fails.
    results.push(CheckResult {
        required: false,
        ..result(
            "multipart upload + abort",
            multipart_probe(drive, &format!("{key}-multipart")).await,
        )
    });
    results
}

fn not_checked() -> DriveError {
    DriveError::new(
        DriveErrorKind::Other,
        "not checked: the probe object could not be written (see PutObject)",
    )
}

/// Creates a multipart upload, sends one small part and aborts it: proves that large
/// backups can be written and that a failed one leaves nothing behind.
async fn multipart_probe(drive: &S3Drive, key: &str) -> Result<(), DriveError> {
    let s = drive.shared();
    let object_key = s.object_key(key);
    let url = s.url(&object_key);
    let created = s
        .client
        .create_multipart_upload()
        .bucket(&s.bucket)
        .key(&object_key)
        .send()
        .await
        .map_err(|e| s.errors.map("CreateMultipartUpload", &url, &e))?;
    let upload_id = created.upload_id.unwrap_or_default();
    let part = s
        .client
        .upload_part()
        .bucket(&s.bucket)
        .key(&object_key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(SdkByteStream::from_static(b"backupman multipart probe\n"))
        .send()
        .await
        .map_err(|e| s.errors.map("UploadPart", &url, &e));
    let aborted = abort_multipart(s, &object_key, &upload_id).await;
    part?;
    aborted
}
