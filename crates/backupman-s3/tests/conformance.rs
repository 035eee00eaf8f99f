//! One `Drive` conformance suite, run against the local drive and every S3 server in each
//! addressing style it supports: put small, put multipart, list under a prefix, read back
//! byte-identical, abort (and drop) leave nothing behind, delete, health.

use std::time::Duration;

use backupman_core::{
    Drive, DriveErrorKind, LocalDrive, ObjectInfo, Upload, read_all, upload_bytes,
};
use backupman_s3::S3Drive;
use backupman_testkit::s3::{S3Server, Style};
use bytes::Bytes;

const MIB: usize = 1024 * 1024;

/// Deterministic, incompressible test bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` in uneven chunks, as the engine would.
async fn write_chunked(upload: &mut Box<dyn Upload>, bytes: &[u8]) {
    for chunk in bytes.chunks(300 * 1024 + 17) {
        upload
            .write(Bytes::copy_from_slice(chunk))
            .await
            .expect("write");
    }
}

/// Multipart uploads still open under the drive's prefix (S3 only).
async fn open_uploads(s3: Option<(&S3Drive, &S3Server)>) -> Vec<String> {
    match s3 {
        Some((drive, server)) => server.open_uploads(drive.bucket(), drive.prefix()).await,
        None => Vec::new(),
    }
}

fn sorted(mut found: Vec<ObjectInfo>) -> Vec<ObjectInfo> {
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// The suite. `s3` is the same drive when it is an S3 one, for the checks only S3 has
/// (open multipart uploads).
async fn conformance(drive: &dyn Drive, s3: Option<(&S3Drive, &S3Server)>) {
    let name = drive.label().to_owned();
    let small = data(1000, 1);
    let large = data(11 * MIB + 123, 2);

    // Put a small object (one PutObject on S3).
    let stored = upload_bytes(drive, "conf/small.bin", Bytes::from(small.clone()))
        .await
        .unwrap_or_else(|e| panic!("{name}: put small: {e}"));
    assert_eq!(stored.key, "conf/small.bin", "{name}");
    assert_eq!(stored.size, 1000, "{name}");

    // Put an object larger than one part (multipart on S3: 5 MiB parts).
    let mut upload = drive.begin("conf/large.bin").await.expect("begin");
    write_chunked(&mut upload, &large).await;
    let stored = upload
        .complete()
        .await
        .unwrap_or_else(|e| panic!("{name}: complete multipart: {e}"));
    assert_eq!(stored.size, large.len() as u64, "{name}");

    // An empty object is an object too.
    upload_bytes(drive, "conf/empty.bin", Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("{name}: put empty: {e}"));

    // A sibling folder with a shared name prefix must not show up in `conf/`.
    upload_bytes(drive, "conf-other/x.bin", Bytes::from_static(b"x"))
        .await
        .unwrap_or_else(|e| panic!("{name}: put sibling: {e}"));

    let listed = sorted(drive.list("conf/").await.expect("list"));
    let expected = vec![
        ObjectInfo {
            key: "conf/empty.bin".into(),
            size: 0,
        },
        ObjectInfo {
            key: "conf/large.bin".into(),
            size: large.len() as u64,
        },
        ObjectInfo {
            key: "conf/small.bin".into(),
            size: 1000,
        },
    ];
    assert_eq!(listed, expected, "{name}: list conf/");
    let everything = sorted(drive.list("").await.expect("list all"));
    assert_eq!(everything.len(), 4, "{name}: {everything:?}");

    // Read back byte-identical.
    assert!(
        read_all(drive, "conf/small.bin").await.expect("read small") == small,
        "{name}: small differs"
    );
    assert!(
        read_all(drive, "conf/large.bin").await.expect("read large") == large,
        "{name}: large differs"
    );
    assert!(
        read_all(drive, "conf/empty.bin")
            .await
            .expect("read empty")
            .is_empty(),
        "{name}"
    );
    let missing = read_all(drive, "conf/missing.bin")
        .await
        .expect_err("missing object");
    assert_eq!(missing.kind, DriveErrorKind::NotFound, "{name}: {missing}");

    // Abort after parts went up: no object, no open multipart upload.
    let mut upload = drive.begin("conf/aborted.bin").await.expect("begin");
    write_chunked(&mut upload, &data(11 * MIB, 3)).await;
    upload
        .abort()
        .await
        .unwrap_or_else(|e| panic!("{name}: abort: {e}"));
    assert_eq!(
        open_uploads(s3).await,
        Vec::<String>::new(),
        "{name}: abort left parts"
    );

    // Dropped without complete or abort: cleaned up all the same (in the background on S3).
    let mut upload = drive.begin("conf/dropped.bin").await.expect("begin");
    write_chunked(&mut upload, &data(6 * MIB, 4)).await;
    drop(upload);
    let mut left = open_uploads(s3).await;
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = open_uploads(s3).await;
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "{name}: a dropped upload left parts"
    );
    let listed = sorted(drive.list("conf/").await.expect("list"));
    assert_eq!(
        listed, expected,
        "{name}: aborted or dropped uploads became visible"
    );

    // Delete; deleting a missing object is fine.
    for key in [
        "conf/small.bin",
        "conf/large.bin",
        "conf/empty.bin",
        "conf-other/x.bin",
    ] {
        drive
            .delete(key)
            .await
            .unwrap_or_else(|e| panic!("{name}: delete {key}: {e}"));
    }
    drive
        .delete("conf/small.bin")
        .await
        .expect("deleting a missing object");
    assert_eq!(
        drive.list("").await.expect("list"),
        vec![],
        "{name}: delete left objects"
    );

    // Health: every check passes and leaves nothing behind.
    let checks = drive.health().await;
    for check in &checks {
        assert!(
            check.result.is_ok(),
            "{name}: health {}: {:?}",
            check.check,
            check.result
        );
    }
    if s3.is_some() {
        let names: Vec<_> = checks.iter().map(|c| c.check.as_str()).collect();
        assert_eq!(
            names,
            [
                "PutObject",
                "GetObject",
                "ListBucket",
                "DeleteObject",
                "multipart upload + abort"
            ],
            "{name}"
        );
        assert_eq!(
            open_uploads(s3).await,
            Vec::<String>::new(),
            "{name}: health left parts"
        );
    }
    assert_eq!(
        drive.list("").await.expect("list"),
        vec![],
        "{name}: health left objects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_drive() {
    let dir = tempfile::tempdir().unwrap();
    let drive = LocalDrive::new("local", dir.path());
    conformance(&drive, None).await;
}

async fn s3_conformance(server: S3Server) {
    server.create_bucket("conformance").await;
    let drive = server.drive("conformance", "backups/prod");
    conformance(&drive, Some((&drive, &server))).await;

    // Keys live under the prefix, joined by exactly one `/`.
    upload_bytes(&drive, "db/one.sql.gz", Bytes::from_static(b"one"))
        .await
        .expect("put");
    let whole_bucket = server.drive("conformance", "");
    let keys: Vec<_> = whole_bucket
        .list("")
        .await
        .expect("list bucket")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["backups/prod/db/one.sql.gz"], "{}", server.name());
    assert_eq!(
        read_all(&whole_bucket, "backups/prod/db/one.sql.gz")
            .await
            .unwrap(),
        b"one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn s3s_fs_path_style() {
    s3_conformance(S3Server::s3s_fs(Style::Path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn s3s_fs_virtual_hosted() {
    s3_conformance(S3Server::s3s_fs(Style::VirtualHosted)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn rclone_path_style() {
    s3_conformance(S3Server::rclone(Style::Path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn rclone_virtual_hosted() {
    s3_conformance(S3Server::rclone(Style::VirtualHosted)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn moto_path_style() {
    s3_conformance(S3Server::moto(Style::Path, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn moto_virtual_hosted() {
    s3_conformance(S3Server::moto(Style::VirtualHosted, None)).await;
}

/// MinIO runs when `minio` is on PATH or `BACKUPMAN_TEST_S3_ENDPOINT` names one (CI's service
/// container); otherwise this test says so and passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn minio_when_available() {
    match S3Server::minio() {
        Some(server) => s3_conformance(server).await,
        None => eprintln!(
            "MinIO not checked: no `minio` on PATH and BACKUPMAN_TEST_S3_ENDPOINT is not set"
        ),
    }
}

/// An object uploaded by the drive (multipart) reads back identical through the aws CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn aws_cli_reads_what_the_drive_wrote() {
    let server = S3Server::s3s_fs(Style::VirtualHosted);
    server.create_bucket("readback").await;
    let drive = server.drive("readback", "nightly");
    let bytes = data(7 * MIB + 5, 9);
    let mut upload = drive.begin("app/app-1.sql.gz").await.unwrap();
    write_chunked(&mut upload, &bytes).await;
    upload.complete().await.unwrap();

    let out = tokio::task::spawn_blocking(move || {
        server
            .aws_cli()
            .args(["s3", "cp", "s3://readback/nightly/app/app-1.sql.gz", "-"])
            .output()
            .expect("run aws")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "aws s3 cp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), bytes.len());
    assert!(out.stdout == bytes, "aws CLI read different bytes");
}

/// storage_class and server_side_encryption reach both PutObject and multipart uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn storage_class_and_encryption_are_applied() {
    let server = S3Server::moto(Style::Path, None);
    server.create_bucket("classes").await;
    let mut cfg = server.drive_config("classes", "p");
    cfg.storage_class = Some("STANDARD_IA".into());
    cfg.server_side_encryption = Some("AES256".into());
    let drive = backupman_testkit::s3::drive_for(&cfg);
    upload_bytes(&drive, "small", Bytes::from_static(b"small"))
        .await
        .unwrap();
    let mut upload = drive.begin("large").await.unwrap();
    write_chunked(&mut upload, &data(6 * MIB, 5)).await;
    upload.complete().await.unwrap();
    for key in ["p/small", "p/large"] {
        let head = drive
            .client()
            .head_object()
            .bucket("classes")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.storage_class().map(|c| c.as_str()),
            Some("STANDARD_IA"),
            "{key}"
        );
        assert_eq!(
            head.server_side_encryption().map(|c| c.as_str()),
            Some("AES256"),
            "{key}"
        ); // moto's ETags say how the object was written: `"<md5>-<parts>"` for multipart.
        let etag = head.e_tag().unwrap_or_default();
        match key {
            "p/large" => assert!(etag.ends_with("-2\""), "6 MiB in 5 MiB parts: {etag}"),
            _ => assert!(!etag.contains('-'), "one PutObject: {etag}"),
        }
    }
}

/// A part that cannot be uploaded fails the write and aborts the multipart upload: no object,
/// no open upload, and the parts already sent are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn failed_part_aborts_the_multipart_upload() {
    use std::sync::Arc;
    let server = S3Server::moto(Style::Path, None);
    server.create_bucket("failing").await;
    let cfg = server.drive_config("failing", "p");
    let hook: backupman_testkit::s3::RequestHook = Arc::new(|request| {
        if request.uri().contains("partNumber=3") {
            Err("injected network failure".to_owned())
        } else {
            Ok(())
        }
    });
    let drive = S3Drive::with_http_client(&cfg, backupman_testkit::s3::http_client_with_hook(hook))
        .unwrap();
    let mut upload = drive.begin("big.bin").await.unwrap();
    let bytes = data(20 * MIB, 6);
    let mut failure = None;
    for chunk in bytes.chunks(MIB) {
        if let Err(err) = upload.write(Bytes::copy_from_slice(chunk)).await {
            failure = Some(err);
            break;
        }
    }
    let failure = match failure {
        Some(err) => err,
        None => upload
            .complete()
            .await
            .expect_err("part 3 cannot be uploaded"),
    };
    assert!(failure.message.contains("UploadPart"), "{failure}");
    assert!(failure.message.contains("part 3"), "{failure}");
    assert_eq!(
        server.open_uploads("failing", "p").await,
        Vec::<String>::new()
    );
    assert_eq!(drive.list("").await.unwrap(), vec![]);
}
