//! S3 Object Lock: making sure a completed multipart upload carries the drive's retention.

use backupman_core::DriveError;

use crate::shared::Shared;

/// Makes sure the object just completed under `object_key` carries its retention. Some stores
/// (moto among them) drop the Object Lock headers of CreateMultipartUpload, so the object's
/// retention is read back and, when it has none, set with PutObjectRetention. An object that
/// cannot be locked is deleted and the upload fails: a backup never claims a lock it lacks.
pub(crate) async fn ensure_retention(s: &Shared, object_key: &str) -> Result<(), DriveError> {
    let Some((mode, until)) = s.retention(object_key) else {
        return Ok(());
    };
    let url = s.url(object_key);
    let head = s
        .client
        .head_object()
        .bucket(&s.bucket)
        .key(object_key)
        .send()
        .await
        .map_err(|e| s.errors.map("HeadObject", &url, &e))?;
    if head.object_lock_retain_until_date().is_some() {
        return Ok(());
    }
    let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
        .mode(mode.as_str().into())
        .retain_until_date(until)
        .build();
    let locked = s
        .client
        .put_object_retention()
        .bucket(&s.bucket)
        .key(object_key)
        .set_version_id(head.version_id().map(str::to_owned))
        .retention(retention)
        .send()
        .await;
    let Err(e) = locked else {
        tracing::debug!(%url, "the store dropped the multipart upload's retention: set it with PutObjectRetention");
        return Ok(());
    };
    let err = s.errors.map("PutObjectRetention", &url, &e);
    let removed = s
        .client
        .delete_object()
        .bucket(&s.bucket)
        .key(object_key)
        .set_version_id(head.version_id().map(str::to_owned))
        .send()
        .await;
    if let Err(e) = removed {
        let e = s.errors.map("DeleteObject", &url, &e);
        tracing::warn!(error = %e, "an object that could not be locked could not be deleted either");
    }
    Err(DriveError::new(
        err.kind,
        format!(
            "{url} could not be given its Object Lock retention: {}",
            err.message
        ),
    )
    .with_hint(err.hint.unwrap_or_else(|| {
        "allow s3:PutObjectRetention on bucket/*; the bucket needs Object Lock enabled".into()
    })))
}
