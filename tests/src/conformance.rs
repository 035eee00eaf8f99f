//! The `Drive` conformance suite for S3 drives. The suite itself is
//! [`backupman_core::conformance`] and takes any drive; this module describes each S3 test
//! server to it: [`known`] says what each server is known to do where stores differ (a server
//! whose behaviour changes fails the suite, so that table cannot silently go stale), and
//! [`S3Inspector`] looks at the bucket from outside the drive (open multipart uploads, the
//! AWS CLI's view). [`s3_server`] runs it on a fresh bucket.
//!
//! ```no_run
//! # async fn example() {
//! use backupman_testkit::s3::{S3Server, Style};
//!
//! backupman_testkit::conformance::s3_server(S3Server::s3s_fs(Style::Path)).await;
//! # }
//! ```

use async_trait::async_trait;
use backupman_core::Drive;
use backupman_core::conformance::{Capabilities, Inspector, Known, Whose, conformance};
use backupman_core::{read_all, upload_bytes};
use backupman_s3::S3Drive;
use bytes::Bytes;

use crate::s3::{Flavor, S3Server, Style};

pub use backupman_core::conformance::{IfNoneMatch, MIB, data, write_chunked};

/// What `server` is known to do where stores differ.
pub fn known(server: &S3Server) -> Known {
    use IfNoneMatch::{Honoured, Ignored};
    let (put, complete, lists_uploads, fixed_initiated) = match server.flavor {
        Flavor::S3sFs => (Honoured, Honoured, false, None),
        Flavor::Rclone => (Ignored, Ignored, true, None),
        Flavor::Moto => (Honoured, Honoured, true, Some("2010-11-10T20:48:33Z")),
        Flavor::Minio => (Honoured, Honoured, true, None),
        // RGW 16 refuses a PutObject of an existing key with 412, but completes a multipart
        // upload over one: the drive's HeadObject check is what stops a second backup there.
        Flavor::CephRgw => (Honoured, Ignored, true, None),
    };
    Known {
        put,
        complete,
        lists_uploads,
        fixed_initiated,
    }
}

/// An S3 drive's bucket seen from outside the drive: the test server's own listing of open
/// multipart uploads (its data folder for s3s-fs), the AWS CLI, and a second drive under the
/// sibling prefix `<prefix>-other`.
#[derive(Debug)]
pub struct S3Inspector<'a> {
    drive: &'a S3Drive,
    server: &'a S3Server,
    other: S3Drive,
}

impl<'a> S3Inspector<'a> {
    /// The inspector of `drive`, a drive on `server`.
    pub fn new(drive: &'a S3Drive, server: &'a S3Server) -> Self {
        let other = server.drive(drive.bucket(), &format!("{}-other", drive.prefix()));
        Self {
            drive,
            server,
            other,
        }
    }
}

#[async_trait]
impl Inspector for S3Inspector<'_> {
    /// Multipart uploads still open under the drive's prefix.
    async fn open_uploads(&self) -> Vec<String> {
        self.server
            .open_uploads(self.drive.bucket(), self.drive.prefix())
            .await
    }

    /// s3s-fs's data folder has each open upload's id (`.upload-<id>.json`).
    async fn leaked_upload_ids(&self) -> Vec<String> {
        self.open_uploads()
            .await
            .iter()
            .filter_map(|f| {
                f.strip_prefix(".upload-")?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect()
    }

    fn already_exists_message(&self, key: &str) -> Option<String> {
        Some(format!(
            "s3://{}/{} already exists and is never replaced",
            self.drive.bucket(),
            self.drive.object_key(key)
        ))
    }

    fn sends_conditional_writes(&self) -> Option<bool> {
        Some(self.drive.sends_conditional_writes())
    }

    fn sibling(&self) -> Option<&dyn Drive> {
        Some(&self.other)
    }

    async fn open_uploads_seen_independently(&self, whose: Whose) -> Vec<String> {
        let drive = match whose {
            Whose::Drive => self.drive,
            Whose::Sibling => &self.other,
        };
        let prefix = format!("{}/", drive.prefix());
        // Keys relative to the prefix: a key that is not under it stays whole, and fails.
        open_uploads_seen_independently(self.server, drive.bucket(), &prefix)
            .await
            .into_iter()
            .map(|key| key.strip_prefix(&prefix).map_or(key.clone(), str::to_owned))
            .collect()
    }
}

/// What the suite expects of an S3 drive on `server`, seen through `inspector`.
pub fn capabilities<'a>(server: &S3Server, inspector: &'a S3Inspector<'a>) -> Capabilities<'a> {
    Capabilities {
        known: known(server),
        health_checks: Some(&crate::s3::HEALTH_CHECKS),
        inspector: Some(inspector),
    }
}

/// Keys of the multipart uploads open under `prefix` as a client independent of the drive sees
/// them: the AWS CLI; for s3s-fs (which cannot list them) the upload files in its data folder;
/// for rclone in virtual-hosted mode, which takes only bucket host names that the CLI cannot
/// resolve here, the test kit's own ListMultipartUploads request.
async fn open_uploads_seen_independently(
    server: &S3Server,
    bucket: &str,
    prefix: &str,
) -> Vec<String> {
    if server.flavor == Flavor::S3sFs
        || (server.flavor == Flavor::Rclone && server.style == Style::VirtualHosted)
    {
        return server.open_uploads(bucket, prefix).await;
    }
    let mut cmd = server.aws_cli();
    cmd.args(["s3api", "list-multipart-uploads", "--bucket", bucket])
        .args([
            "--prefix",
            prefix,
            "--query",
            "Uploads[].Key",
            "--output",
            "text",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run aws"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "aws s3api list-multipart-uploads on {}: {}",
        server.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("aws prints UTF-8");
    text.split_whitespace()
        .filter(|key| *key != "None")
        .map(str::to_owned)
        .collect()
}

/// [`conformance`] on a fresh bucket of `server` (the drive under the prefix `backups/prod`),
/// then keys live under the prefix, joined by exactly one `/`.
pub async fn s3_server(server: S3Server) {
    s3_server_kept(&server).await;
}

/// [`s3_server`] on a server the caller goes on using (one that is slow to start).
pub async fn s3_server_kept(server: &S3Server) {
    server.create_bucket("conformance").await;
    let drive = server.drive("conformance", "backups/prod");
    let inspector = S3Inspector::new(&drive, server);
    conformance(&drive, &capabilities(server, &inspector)).await;

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
