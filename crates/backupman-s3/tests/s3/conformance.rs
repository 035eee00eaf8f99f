//! The `Drive` conformance suite (`backupman_core::conformance`, with each server described by
//! `backupman_testkit::conformance`), run against every S3 server in each addressing style it
//! supports. The local drive runs it in `backupman-core`'s own tests.
//!
//! MinIO runs when `minio` is on PATH or `BACKUPMAN_TEST_S3_ENDPOINT` names one (CI's service
//! container); otherwise its test fails, and `cargo xtask test`, which probes for MinIO first,
//! leaves it out and counts it as skipped.

use backupman_testkit::conformance::s3_server;
use backupman_testkit::s3::{S3Server, Style};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn s3s_fs_path_style() {
    s3_server(S3Server::s3s_fs(Style::Path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn s3s_fs_virtual_hosted() {
    s3_server(S3Server::s3s_fs(Style::VirtualHosted)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn rclone_path_style() {
    s3_server(S3Server::rclone(Style::Path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn rclone_virtual_hosted() {
    s3_server(S3Server::rclone(Style::VirtualHosted)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn moto_path_style() {
    s3_server(S3Server::moto(Style::Path, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn moto_virtual_hosted() {
    s3_server(S3Server::moto(Style::VirtualHosted, None)).await;
}

/// The name `cargo xtask test` leaves out (and counts as skipped) when MinIO is unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn minio_path_style() {
    let server = S3Server::minio().unwrap_or_else(|| {
        panic!(
            "MinIO is not available: no `minio` on PATH and BACKUPMAN_TEST_S3_ENDPOINT is not set \
             (`cargo xtask test` skips this test then, and counts it as skipped)"
        )
    });
    s3_server(server).await;
}
