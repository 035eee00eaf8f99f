//! Backups an attacker can neither erase nor silently corrupt, on moto: Object Lock retention
//! on every object written (read back with the aws CLI, enforced by the store), the health
//! check of the bucket's Object Lock, and CRC32C checksums that make the store refuse a part
//! altered in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backupman_core::{Drive, read_all, upload_bytes};
use backupman_s3::S3Drive;
use backupman_testkit::conformance::{MIB, data, write_chunked};
use backupman_testkit::lock::locked_drive;
use backupman_testkit::s3::{RequestHook, S3Server, Style, http_client_with_hook};
use bytes::Bytes;

/// Both write paths (one PutObject, a multipart upload) put the drive's retention on the
/// object; the store then refuses to delete the version before the date, and the drive
/// reports the date retention asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn every_object_carries_the_retention_and_the_store_enforces_it() {
    let server = S3Server::moto(Style::Path, None);
    backupman_testkit::lock::retention_is_kept_and_enforced(&server, "locked").await;
}

/// `object_lock` on a bucket without Object Lock: health fails, in one line that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn health_fails_on_a_bucket_without_object_lock() {
    let server = S3Server::moto(Style::Path, None);
    server.create_bucket("plain").await;
    let checks = locked_drive(&server, "plain", 3).health().await;
    let lock = checks.iter().find(|c| c.check == "Object Lock").unwrap();
    assert!(lock.required);
    let err = lock.result.as_ref().unwrap_err();
    assert!(
        err.message
            .starts_with("bucket `plain` does not have Object Lock enabled"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("object-lock-enabled-for-bucket")
    );
    // Without `object_lock` the bucket is not asked.
    let plain = server.drive("plain", "p").health().await;
    assert!(plain.iter().all(|c| c.check != "Object Lock"));
}

/// A hook that flips one byte of the body of every request `matches` picks, after the
/// request was signed and its checksum header computed: corruption in flight, on every
/// attempt (a single corrupted attempt is retried with the intact body and goes through).
fn corrupting(matches: fn(&str, &str) -> bool) -> (RequestHook, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let hook: RequestHook = Arc::new(move |request| {
        if !matches(request.method(), request.uri()) {
            return Ok(());
        }
        flag.store(true, Ordering::SeqCst);
        let mut body = request
            .body()
            .bytes()
            .ok_or("the body is not in memory")?
            .to_vec();
        let middle = body.len() / 2;
        body[middle] ^= 0x01;
        *request.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        Ok(())
    });
    (hook, done)
}

/// A body altered in flight, on every attempt, is refused by a store that checks what the
/// request says of it (s3s-fs checks the signed SHA-256 of the payload, then the CRC32C): the
/// write fails and nothing is stored. Untouched, the same write stores exactly the bytes sent,
/// with its CRC32C kept beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn the_store_refuses_a_body_corrupted_in_flight() {
    let server = S3Server::s3s_fs(Style::Path);
    server.create_bucket("crc").await;
    let cfg = server.drive_settings("crc", "p");
    let body = Bytes::from(data(100_000, 2));

    let (hook, hit) = corrupting(|method, uri| method == "PUT" && !uri.contains("uploadId"));
    let drive = S3Drive::with_http_client(cfg, http_client_with_hook(hook)).unwrap();
    let err = upload_bytes(&drive, "small.bin", body.clone())
        .await
        .expect_err("the PutObject body was corrupted");
    assert!(hit.load(Ordering::SeqCst));
    assert!(
        err.message.contains("PutObject s3://crc/p/small.bin"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");
    assert_eq!(drive.list("").await.unwrap(), vec![]);

    let drive = server.drive("crc", "p");
    upload_bytes(&drive, "small.bin", body.clone())
        .await
        .unwrap();
    assert_eq!(read_all(&drive, "small.bin").await.unwrap(), body);
    let head = tokio::task::block_in_place(|| {
        server.s3api(&[
            "head-object",
            "--bucket",
            "crc",
            "--key",
            "p/small.bin",
            "--checksum-mode",
            "ENABLED",
        ])
    });
    assert_eq!(
        head["ChecksumCRC32C"].as_str(),
        Some(crc32c(&body).as_str()),
        "{head}"
    );
}

/// A part altered in flight, on every attempt, is refused (s3s-fs checks each part's signed
/// payload SHA-256): the upload fails naming the part, the multipart upload is aborted and
/// nothing is left in the bucket, neither an object nor an open upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn a_part_corrupted_in_flight_fails_the_upload_and_leaves_nothing() {
    let server = S3Server::s3s_fs(Style::Path);
    server.create_bucket("parts").await;
    let (hook, hit) = corrupting(|method, uri| method == "PUT" && uri.contains("partNumber=2"));
    let cfg = server.drive_settings("parts", "p");
    let drive = S3Drive::with_http_client(cfg, http_client_with_hook(hook)).unwrap();
    let mut upload = drive.begin("big.bin").await.unwrap();
    let mut failure = None;
    for chunk in data(12 * MIB, 8).chunks(MIB) {
        if let Err(err) = upload.write(Bytes::copy_from_slice(chunk)).await {
            failure = Some(err);
            break;
        }
    }
    let failure = match failure {
        Some(err) => err,
        None => upload.complete().await.expect_err("part 2 was corrupted"),
    };
    assert!(hit.load(Ordering::SeqCst), "the hook never saw part 2");
    assert!(
        failure
            .message
            .contains("UploadPart s3://parts/p/big.bin (part 2)"),
        "{failure}"
    );
    assert!(!failure.to_string().contains('\n'), "{failure}");
    assert_eq!(server.open_uploads("parts", "").await, Vec::<String>::new());
    assert_eq!(drive.list("").await.unwrap(), vec![]);
}

/// The base64 CRC32C of `data`, computed apart from the drive.
fn crc32c(data: &[u8]) -> String {
    let mut checksum = aws_smithy_checksums::ChecksumAlgorithm::Crc32c.into_impl();
    checksum.update(data);
    aws_smithy_types::base64::encode(checksum.finalize())
}

/// What one UploadPart carried: its `x-amz-checksum-crc32c` and `x-amz-sdk-checksum-algorithm`
/// headers, and the CRC32C of the bytes it actually sent.
type SentPart = (Option<String>, Option<String>, String);

/// Every part of a multipart upload goes out with the CRC32C of exactly its bytes (and the
/// algorithm header), so a store that checks parts (Amazon S3, MinIO) refuses one altered on
/// the way; the completed object reads back identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn every_part_carries_the_checksum_of_its_bytes() {
    let server = S3Server::moto(Style::Path, None);
    server.create_bucket("parts").await;
    let seen: Arc<std::sync::Mutex<Vec<SentPart>>> = Arc::default();
    let log = seen.clone();
    let hook: RequestHook = Arc::new(move |request| {
        if request.method() == "PUT" && request.uri().contains("partNumber=") {
            let header = |name: &str| request.headers().get(name).map(str::to_owned);
            let body = request.body().bytes().ok_or("the part is not in memory")?;
            log.lock().unwrap().push((
                header("x-amz-checksum-crc32c"),
                header("x-amz-sdk-checksum-algorithm"),
                crc32c(body),
            ));
        }
        Ok(())
    });
    let cfg = server.drive_settings("parts", "p");
    let drive = S3Drive::with_http_client(cfg, http_client_with_hook(hook)).unwrap();
    let bytes = data(12 * MIB + 1, 8);
    let mut upload = drive.begin("big.bin").await.unwrap();
    write_chunked(&mut upload, &bytes).await;
    upload.complete().await.unwrap();
    assert!(read_all(&drive, "big.bin").await.unwrap() == bytes);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "12 MiB in 5 MiB parts");
    for (header, algorithm, actual) in seen {
        assert_eq!(header.as_deref(), Some(actual.as_str()));
        assert_eq!(algorithm.as_deref(), Some("CRC32C"));
    }
}
