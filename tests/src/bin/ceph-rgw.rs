//! `ceph-rgw BUCKET`: the test kit's Ceph RADOS Gateway as a program, for benchmarks
//! (`cargo xtask bench scale`) that measure against an engine whose listing costs the keys it
//! returns. Starts a throw-away cluster, creates `BUCKET`, prints the gateway's port, access
//! key and secret key on one line, then serves until its standard input closes, when every
//! daemon is stopped and the cluster's folder removed.

use std::io::Read;

use backupman_testkit::s3::S3Server;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(bucket) = std::env::args().nth(1) else {
        eprintln!("usage: ceph-rgw BUCKET");
        std::process::exit(2);
    };
    let server = S3Server::ceph_rgw();
    server.create_bucket(&bucket).await;
    println!(
        "{} {} {}",
        server.port, server.access_key, server.secret_key
    );
    // Whoever started it holds the pipe: when it closes (or dies), the cluster stops.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    drop(server);
}
