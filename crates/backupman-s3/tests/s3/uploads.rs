//! What the S3 drive's multipart uploads leave on a real server, seen from outside the drive:
//! the aws CLI reads back what it wrote, storage class and encryption reach every write, a
//! part that cannot be uploaded aborts the whole upload, and uploads sharing the process's
//! budget of parts in flight all complete intact.

use backupman_core::{Drive, read_all, upload_bytes};
use backupman_s3::S3Drive;
use backupman_testkit::conformance::{MIB, data, write_chunked};
use backupman_testkit::s3::{S3Server, Style};
use bytes::Bytes;

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
    let mut cfg = server.drive_settings("classes", "p");
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
    let cfg = server.drive_settings("failing", "p");
    let hook: backupman_testkit::s3::RequestHook = Arc::new(|request| {
        if request.uri().contains("partNumber=3") {
            Err("injected network failure".to_owned())
        } else {
            Ok(())
        }
    });
    let drive =
        S3Drive::with_http_client(cfg, backupman_testkit::s3::http_client_with_hook(hook)).unwrap();
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

/// Four multipart uploads at once, as a backup to four S3 drives runs them: each wants three
/// parts in flight beyond its first, the shared budget has room for four 5 MiB parts in all,
/// so parts wait for each other's; every object still completes and reads back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn uploads_sharing_the_in_flight_budget_all_complete_intact() {
    let server = S3Server::s3s_fs(Style::Path);
    server.create_bucket("shared").await;
    let drives: Vec<S3Drive> = (0..4)
        .map(|n| {
            let mut settings = server.drive_settings("shared", &format!("drive-{n}"));
            settings.part_size_mb = Some(5);
            backupman_testkit::s3::drive_for(&settings)
        })
        .collect();
    let uploads = drives.iter().enumerate().map(|(n, drive)| async move {
        let bytes = data(26 * MIB + n, 40 + n as u64);
        let mut upload = drive.begin("app/app.sql.gz").await.unwrap();
        write_chunked(&mut upload, &bytes).await;
        upload.complete().await.unwrap();
        bytes
    });
    // Parts waiting on each other must never wait forever.
    let written = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        futures::future::join_all(uploads),
    )
    .await
    .expect("the uploads finish");
    for (drive, bytes) in drives.iter().zip(written) {
        let stored = read_all(drive, "app/app.sql.gz").await.unwrap();
        assert_eq!(stored.len(), bytes.len());
        assert!(stored == bytes, "{drive:?} read back different bytes");
    }
}
