//! Ceph's RADOS Gateway, the engine behind DigitalOcean Spaces and Linode Object Storage, on a
//! throw-away single-node cluster (`backupman_testkit::ceph`): the drive conformance suite
//! (writes small and multipart, no-clobber with `If-None-Match`, racing writers, aborted and
//! leaked uploads, health), a multipart object read back by the aws CLI, and Object Lock
//! enforced by the store. One test, so the cluster starts once (about 15 seconds).

use backupman_core::Drive;
use backupman_testkit::conformance::{MIB, data, s3_server_kept, write_chunked};
use backupman_testkit::lock::retention_is_kept_and_enforced;
use backupman_testkit::s3::S3Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn ceph_rgw_passes_the_suite_and_enforces_object_lock() {
    let server = tokio::task::block_in_place(S3Server::ceph_rgw);
    s3_server_kept(&server).await;

    // A multipart object (three 5 MiB parts), read back by an independent client: RGW's
    // ETag for it says how many parts it was assembled from.
    server.create_bucket("readback").await;
    let drive = server.drive("readback", "nightly");
    let bytes = data(11 * MIB + 5, 9);
    let mut upload = drive.begin("app/app-1.sql.gz").await.unwrap();
    write_chunked(&mut upload, &bytes).await;
    upload.complete().await.unwrap();
    let head = tokio::task::block_in_place(|| {
        server.s3api(&[
            "head-object",
            "--bucket",
            "readback",
            "--key",
            "nightly/app/app-1.sql.gz",
        ])
    });
    let etag = head["ETag"].as_str().unwrap_or_default();
    assert!(etag.ends_with("-3\""), "11 MiB in 5 MiB parts: {head}");
    let out = tokio::task::block_in_place(|| {
        server
            .aws_cli()
            .args(["s3", "cp", "s3://readback/nightly/app/app-1.sql.gz", "-"])
            .output()
            .expect("run aws")
    });
    assert!(
        out.status.success(),
        "aws s3 cp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == bytes, "the aws CLI read different bytes");
    assert_eq!(drive.list("app").await.unwrap().len(), 1);

    retention_is_kept_and_enforced(&server, "locked").await;
}
