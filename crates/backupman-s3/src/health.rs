//! `backupman health` for an S3 drive: every action a backup needs, one by one, on a probe
//! object under `.backupman-health/` (never touching existing backups); then, as warnings
//! only, whether the store refuses to replace an object and whether incomplete multipart
//! uploads are left under the prefix.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use backupman_core::{CheckResult, Drive, DriveError, DriveErrorKind, read_all, upload_bytes};
use bytes::Bytes;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::ObjectLockEnabled;

use crate::drive::S3Drive;
use crate::settings::ObjectLock;
use crate::upload::{abort_multipart, put_new};

/// Where probe objects live, relative to the drive's prefix.
pub const HEALTH_PREFIX: &str = ".backupman-health/";

pub(crate) async fn check(drive: &S3Drive) -> Vec<CheckResult> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // A random suffix: two probes in one nanosecond (concurrent `health` runs, or a clock
    // that ticks coarsely) still never write, read or delete each other's object.
    let key = format!(
        "{HEALTH_PREFIX}probe-{stamp}-{}",
        backupman_core::random_hex(8)
    );
    let body = Bytes::from(format!("backupman health probe {stamp}\n"));
    let mut results = Vec::with_capacity(8);
    let result = |check: &str, result| CheckResult {
        check: check.to_owned(),
        result,
        required: true,
    };
    results.push(credentials(drive).await);

    let put = upload_bytes(drive, &key, body.clone()).await.map(|_| ());
    if let Err(err) = &put
        && matches!(
            err.kind,
            DriveErrorKind::Connection | DriveErrorKind::Certificate
        )
    {
        // Every other check would wait on the same unreachable store, retries and all: the
        // drive is reported at once, its one failure said once.
        results.push(result("PutObject", put));
        for check in ["GetObject", "ListBucket", "DeleteObject"] {
            results.push(result(
                check,
                Err(DriveError::new(
                    DriveErrorKind::Connection,
                    "not checked: the store could not be reached (see PutObject)",
                )),
            ));
        }
        return results;
    }
    let stored = put.is_ok();
    results.push(result("PutObject", put));
    // The same bytes again, so GetObject below reads the probe as written either way.
    let no_clobber = if stored {
        no_clobber_probe(drive, &key, body.clone()).await
    } else {
        Err(not_checked())
    };

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
    // Backups are written all the same where the store ignores the header (begin checks with
    // HeadObject first); only two writers of one key at one moment are unguarded.
    results.push(CheckResult {
        required: false,
        ..result("no-clobber writes (If-None-Match)", no_clobber)
    });
    // Listing needs s3:ListBucketMultipartUploads, which the spec's minimal policy lacks:
    // a refusal is a warning like any other finding here.
    let s = drive.shared();
    results.push(backupman_core::stale::health_check(
        drive.incomplete_uploads().await,
        &s.url(&s.root()),
    ));
    // The probe went up with a CRC32C; a store that refused it is said here, once.
    if !s.checksums() {
        results.push(CheckResult {
            required: false,
            ..result(
                "checksums (CRC32C)",
                Err(DriveError::new(
                    DriveErrorKind::Other,
                    format!(
                        "the store at {} does not implement additional checksums (HTTP 501): \
                         uploads go without x-amz-checksum-crc32c, so only TCP and TLS guard \
                         the bytes on the way",
                        s.errors.endpoint
                    ),
                )
                .with_hint("use https:// so TLS protects the bytes in flight")),
            )
        });
    }
    if let Some(lock) = s.object_lock {
        results.push(result(
            "Object Lock",
            object_lock_enabled(drive, lock).await,
        ));
    }
    results
}

/// Where the credentials come from, in the check's name (a passing check has no text of its
/// own): `credentials (environment)`, `credentials (profile NAME)`, `credentials (web
/// identity)`, `credentials (config file)`. Never the key ID or the secret.
async fn credentials(drive: &S3Drive) -> CheckResult {
    let s = drive.shared();
    match crate::client::credential_source(&s.credentials).await {
        Ok(source) => CheckResult {
            check: format!("credentials ({source})"),
            result: Ok(()),
            required: true,
        },
        Err(err) => CheckResult {
            check: "credentials".to_owned(),
            result: Err(DriveError::new(
                DriveErrorKind::Auth,
                format!(
                    "no source of the default AWS credential chain has credentials: {}",
                    one_line(&err)
                ),
            )
            .with_hint(
                "set `access_key` and `secret_key` on the drive, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a shared credentials file, or \
                 AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN",
            )),
            required: true,
        },
    }
}

/// `err` and its sources on one line: the chain's error lists each provider it tried on lines
/// of their own, and a health check is one line.
fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Whether the bucket has Object Lock enabled, which `object_lock` needs: S3 refuses
/// retention on objects in any other bucket.
async fn object_lock_enabled(drive: &S3Drive, lock: ObjectLock) -> Result<(), DriveError> {
    let s = drive.shared();
    let url = format!("s3://{}", s.bucket);
    let enabled = match s
        .client
        .get_object_lock_configuration()
        .bucket(&s.bucket)
        .send()
        .await
    {
        Ok(out) => out
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            .is_some_and(|e| *e == ObjectLockEnabled::Enabled),
        Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => false,
        Err(e) => return Err(s.errors.map("GetObjectLockConfiguration", &url, &e)),
    };
    if enabled {
        return Ok(());
    }
    Err(DriveError::new(
        DriveErrorKind::Other,
        format!(
            "bucket `{}` does not have Object Lock enabled, so `object_lock` ({} for {} days) \
             cannot be set on its objects",
            s.bucket,
            lock.mode.as_str(),
            lock.days
        ),
    )
    .with_hint(
        "use a bucket created with Object Lock (`aws s3api create-bucket \
         --object-lock-enabled-for-bucket`, or enable it on a versioned bucket), or remove \
         `object_lock` from the drive",
    ))
}

/// Writes the probe object once more with `If-None-Match: *`: a store that honours it refuses.
async fn no_clobber_probe(drive: &S3Drive, key: &str, body: Bytes) -> Result<(), DriveError> {
    let s = drive.shared();
    let object_key = drive.object_key(key);
    let why = match put_new(s, &object_key, body).await {
        Err(err) if err.kind == DriveErrorKind::AlreadyExists => return Ok(()),
        Err(err) => return Err(err),
        Ok(()) if !s.conditional_writes() => "does not implement `If-None-Match: *` (HTTP 501)",
        Ok(()) => "ignored `If-None-Match: *` and replaced the probe object",
    };
    Err(DriveError::new(
        DriveErrorKind::Other,
        format!(
            "the store at {} {why}: each upload checks with HeadObject that its key is new, \
             which does not stop two writers of one key at the same moment",
            s.errors.endpoint
        ),
    )
    .with_hint(
        "backups are still never replaced by backupman alone; do not point two installations \
         at the same bucket and `prefix`",
    ))
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
    if let (Ok(part), Err(refused)) = (&part, &aborted)
        && refused.kind == DriveErrorKind::Auth
    {
        // Without s3:AbortMultipartUpload the probe would stay open (and billed) after every
        // health run; completing it into an object deleted at once needs only PutObject and
        // DeleteObject, which a backup needs anyway.
        let parts = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .set_e_tag(part.e_tag.clone())
                    .build(),
            )
            .build();
        let completed = s
            .client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(&object_key)
            .upload_id(&upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(|e| s.errors.map("CompleteMultipartUpload", &url, &e));
        let cleaned = match completed {
            Ok(_) => drive.delete(key).await,
            Err(err) => Err(err),
        };
        if let Err(err) = cleaned {
            tracing::warn!(error = %err, "the multipart probe could be neither aborted nor completed and deleted: {url} stays open");
        }
    }
    part?;
    aborted
}
