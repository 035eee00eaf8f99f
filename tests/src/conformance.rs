//! The one `Drive` conformance suite: put small, put multipart, list under a prefix, read back
//! byte-identical, abort (and drop) leave nothing behind, delete, nothing is ever replaced
//! (also by two writers of one key at once), uploads left by a killed process are found and
//! discarded, health. A drive is done when [`conformance`] passes against it; S3 drives run
//! it through [`s3_server`], which adds the checks only S3 has (open multipart uploads, keys
//! under the prefix).
//!
//! Where stores differ, [`known`] says what each one is known to do; a server whose behaviour
//! changes fails the suite, so that table cannot silently go stale.
//!
//! ```no_run
//! # async fn example() {
//! use backupman_core::LocalDrive;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let drive = LocalDrive::new("local", dir.path());
//! backupman_testkit::conformance::conformance(&drive, None).await;
//! # }
//! ```

use std::time::Duration;

use backupman_core::{
    Drive, DriveError, DriveErrorKind, ObjectInfo, StoredObject, Upload, read_all, upload_bytes,
};
use backupman_s3::S3Drive;
use bytes::Bytes;

use crate::s3::{Flavor, S3Server, Style};

/// One mebibyte, for sizing test objects against S3 part sizes.
pub const MIB: usize = 1024 * 1024;

/// Deterministic, incompressible test bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
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
pub async fn write_chunked(upload: &mut Box<dyn Upload>, bytes: &[u8]) {
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

/// How a store answers `If-None-Match: *` on one kind of write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// Refuses the write when the key exists (412 PreconditionFailed).
    Honoured,
    /// Takes the header and replaces the object all the same.
    Ignored,
    /// Answers 501 NotImplemented; the drive then writes without it.
    NotImplemented,
}

/// What a store does where stores differ, as found by running this suite against it. A server
/// whose behaviour changes fails the suite, so this table cannot silently go stale.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// `If-None-Match: *` on PutObject (objects smaller than one part).
    pub put: IfNoneMatch,
    /// `If-None-Match: *` on CompleteMultipartUpload.
    pub complete: IfNoneMatch,
    /// ListMultipartUploads is implemented.
    pub lists_uploads: bool,
    /// The `Initiated` time ListMultipartUploads gives every upload, where a server answers
    /// one fixed time instead of the real one (moto: a constant in its response template).
    pub fixed_initiated: Option<&'static str>,
}

/// What `s3`'s server is known to do (or the local drive, for `None`).
pub fn known(s3: Option<(&S3Drive, &S3Server)>) -> Known {
    use IfNoneMatch::{Honoured, Ignored};
    let (put, complete, lists_uploads, fixed_initiated) = match s3.map(|(_, server)| server.flavor)
    {
        // The local drive renames its temp file only where no file is.
        None => (Honoured, Honoured, true, None),
        Some(Flavor::S3sFs) => (Honoured, Honoured, false, None),
        Some(Flavor::Rclone) => (Ignored, Ignored, true, None),
        Some(Flavor::Moto) => (Honoured, Honoured, true, Some("2010-11-10T20:48:33Z")),
        Some(Flavor::Minio) => (Honoured, Honoured, true, None),
    };
    Known {
        put,
        complete,
        lists_uploads,
        fixed_initiated,
    }
}

/// begin, write in chunks, complete: the first step that fails is the answer.
async fn try_write(drive: &dyn Drive, key: &str, bytes: &[u8]) -> Result<StoredObject, DriveError> {
    let mut upload = drive.begin(key).await?;
    for chunk in bytes.chunks(300 * 1024 + 17) {
        upload.write(Bytes::copy_from_slice(chunk)).await?;
    }
    upload.complete().await
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

fn sorted(mut found: Vec<ObjectInfo>) -> Vec<ObjectInfo> {
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// The suite. `s3` is the same drive when it is an S3 one, for the checks only S3 has
/// (open multipart uploads).
pub async fn conformance(drive: &dyn Drive, s3: Option<(&S3Drive, &S3Server)>) {
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

    never_replaces(drive, s3).await;
    racing_writers(drive, s3).await;
    leaked_upload(drive, s3).await;

    // Health: every required check passes, the advisory ones say what the store is known to
    // do, and nothing is left behind.
    let known = known(s3);
    let checks = drive.health().await;
    for check in &checks {
        let expected_ok = match check.check.as_str() {
            "no-clobber writes (If-None-Match)" => known.put == IfNoneMatch::Honoured,
            "incomplete uploads" => known.lists_uploads,
            _ => true,
        };
        assert_eq!(
            check.result.is_ok(),
            expected_ok,
            "{name}: health {}: {:?}",
            check.check,
            check.result
        );
        if !expected_ok {
            assert!(!check.required, "{name}: {} must only warn", check.check);
        }
    }
    if s3.is_some() {
        let names: Vec<_> = checks.iter().map(|c| c.check.as_str()).collect();
        assert_eq!(names, crate::s3::HEALTH_CHECKS, "{name}");
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

/// An existing object, small (one PutObject) or multipart, is never replaced by a small or
/// a multipart write: the write fails with AlreadyExists and the object reads back unchanged.
pub async fn never_replaces(drive: &dyn Drive, s3: Option<(&S3Drive, &S3Server)>) {
    let name = drive.label().to_owned();
    let small = data(1000, 11);
    let large = data(11 * MIB + 7, 12);
    for (key, original) in [("clobber/small.bin", &small), ("clobber/large.bin", &large)] {
        try_write(drive, key, original)
            .await
            .unwrap_or_else(|e| panic!("{name}: write {key}: {e}"));
    }
    for (key, original) in [("clobber/small.bin", &small), ("clobber/large.bin", &large)] {
        for attempt in [data(2000, 13), data(6 * MIB + 1, 14)] {
            let err = try_write(drive, key, &attempt)
                .await
                .expect_err("an existing key must not be written");
            assert_eq!(err.kind, DriveErrorKind::AlreadyExists, "{name}: {err}");
            match s3 {
                Some((s3, _)) => assert_eq!(
                    err.to_string(),
                    format!(
                        "s3://{}/{} already exists and is never replaced",
                        s3.bucket(),
                        s3.object_key(key)
                    ),
                    "{name}"
                ),
                None => assert!(
                    err.message
                        .ends_with(&format!("{key} already exists and is never replaced")),
                    "{name}: {err}"
                ),
            }
            assert!(
                read_all(drive, key).await.expect("read back") == *original,
                "{name}: {key} was replaced by {} bytes",
                attempt.len()
            );
        }
    }
    assert_eq!(
        open_uploads(s3).await,
        Vec::<String>::new(),
        "{name}: a refused write left parts"
    );
    for key in ["clobber/small.bin", "clobber/large.bin"] {
        drive.delete(key).await.expect("delete");
    }
}

/// Two writers of one key, both begun before either completes: where the store honours
/// `If-None-Match` the first to complete wins and the second fails with AlreadyExists; where
/// it does not, the second replaces the first, and the test says so for that server.
pub async fn racing_writers(drive: &dyn Drive, s3: Option<(&S3Drive, &S3Server)>) {
    let name = drive.label().to_owned();
    let known = known(s3);
    let mut not_implemented_seen = false;
    for (what, len, expected) in [
        ("small", 3000, known.put),
        ("multipart", 6 * MIB + 3, known.complete),
    ] {
        let key = format!("race/{what}.bin");
        let (first, second) = (data(len, 21), data(len, 22));
        let mut a = drive.begin(&key).await.expect("begin the first");
        let mut b = drive
            .begin(&key)
            .await
            .expect("begin the second while the first is open");
        write_chunked(&mut a, &first).await;
        write_chunked(&mut b, &second).await;
        a.complete()
            .await
            .unwrap_or_else(|e| panic!("{name}: {what}: the first to complete: {e}"));
        let late = b.complete().await;
        let stored = read_all(drive, &key).await.expect("read back");
        match expected {
            IfNoneMatch::Honoured => {
                let err = late.expect_err("the second must not replace the first");
                assert_eq!(
                    err.kind,
                    DriveErrorKind::AlreadyExists,
                    "{name}: {what}: {err}"
                );
                assert!(
                    stored == first,
                    "{name}: {what}: the object is not the winner's"
                );
            }
            IfNoneMatch::Ignored | IfNoneMatch::NotImplemented => {
                late.unwrap_or_else(|e| {
                    panic!("{name}: {what}: this server was known to let the second through: {e}")
                });
                assert!(
                    stored == second,
                    "{name}: {what}: this server was known to let the last writer replace the object"
                );
            }
        }
        not_implemented_seen |= expected == IfNoneMatch::NotImplemented;
        if let Some((s3, _)) = s3 {
            assert_eq!(
                s3.sends_conditional_writes(),
                !not_implemented_seen,
                "{name}: {what}: the drive must remember a store without If-None-Match"
            );
        }
        assert_eq!(
            open_uploads(s3).await,
            Vec::<String>::new(),
            "{name}: {what}: the losing upload left parts"
        );
        drive.delete(&key).await.expect("delete");
    }
}

/// An upload begun, written past one part and never ended (what SIGKILL leaves) is found by
/// `incomplete_uploads` under its key, and gone after `discard_incomplete`; one under another
/// prefix of the same bucket is not listed.
pub async fn leaked_upload(drive: &dyn Drive, s3: Option<(&S3Drive, &S3Server)>) {
    let name = drive.label().to_owned();
    let key = "leak/leaked.bin";
    let begun = chrono::Utc::now();
    let mut upload = drive.begin(key).await.expect("begin");
    write_chunked(&mut upload, &data(6 * MIB, 31)).await;
    // No complete, no abort, no Drop: what a killed process leaves.
    std::mem::forget(upload);

    if !known(s3).lists_uploads {
        let Some((s3, server)) = s3 else {
            unreachable!("every drive without ListMultipartUploads is an S3 one")
        };
        let err = drive
            .incomplete_uploads()
            .await
            .expect_err("this server does not implement ListMultipartUploads");
        assert_eq!(err.kind, DriveErrorKind::Other, "{name}: {err}");
        assert!(!err.to_string().contains('\n'), "{name}: {err}");
        // Its data folder has the upload id (`.upload-<id>.json`): discarding still works.
        let ids: Vec<String> = server
            .open_uploads(s3.bucket(), s3.prefix())
            .await
            .iter()
            .filter_map(|f| {
                f.strip_prefix(".upload-")?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        let leaked = backupman_core::IncompleteUpload {
            key: key.to_owned(),
            id: ids[0].clone(),
            started_at: None,
        };
        drive.discard_incomplete(&leaked).await.expect("discard");
        assert_eq!(
            open_uploads(Some((s3, server))).await,
            Vec::<String>::new(),
            "{name}"
        );
        return;
    }

    // The same key under a sibling prefix (`<prefix>-other`) belongs to another drive.
    let other = s3.map(|(s3, server)| server.drive(s3.bucket(), &format!("{}-other", s3.prefix())));
    if let Some(other) = &other {
        let mut upload = other
            .begin(key)
            .await
            .expect("begin under the other prefix");
        write_chunked(&mut upload, &data(6 * MIB, 32)).await;
        std::mem::forget(upload);
    }

    let found = drive
        .incomplete_uploads()
        .await
        .expect("incomplete uploads");
    let keys: Vec<_> = found.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, [key], "{name}: {found:?}");
    let started = found[0].started_at.expect("a start time");
    let now = chrono::Utc::now();
    if let Some(fixed) = known(s3).fixed_initiated {
        let fixed: chrono::DateTime<chrono::Utc> = fixed.parse().expect("a fixed time");
        assert_eq!(
            started, fixed,
            "{name}: this server was known to answer one fixed time"
        );
    } else {
        assert!(
            started > begun - chrono::Duration::minutes(2)
                && started < now + chrono::Duration::minutes(2),
            "{name}: started at {started}, begun at {begun}"
        );
    }
    if s3.is_some() {
        let health = drive.health().await;
        let check = health
            .iter()
            .find(|c| c.check == "incomplete uploads")
            .expect("the incomplete uploads check");
        let warning = check
            .result
            .as_ref()
            .expect_err("an incomplete upload is left");
        assert!(!check.required, "{name}");
        assert!(
            warning.message.starts_with("1 incomplete upload(s) under "),
            "{name}: {warning}"
        );
        assert!(
            warning
                .message
                .contains(&started.format("%Y-%m-%d").to_string()),
            "{name}: {warning}"
        );
        assert!(
            warning
                .hint
                .as_deref()
                .unwrap_or_default()
                .contains("`incomplete_uploads.abort_after_hours` (24 by default)"),
            "{name}: {warning}"
        );
    }

    drive.discard_incomplete(&found[0]).await.expect("discard");
    assert_eq!(
        drive
            .incomplete_uploads()
            .await
            .expect("incomplete uploads"),
        vec![],
        "{name}: discarded but still listed"
    );
    // Discarding what is already gone (another sweep was first) is not an error.
    drive
        .discard_incomplete(&found[0])
        .await
        .unwrap_or_else(|e| panic!("{name}: discarding twice: {e}"));

    if let (Some((s3, server)), Some(other)) = (s3, &other) {
        assert_eq!(
            open_uploads_seen_independently(server, s3.bucket(), &format!("{}/", s3.prefix()))
                .await,
            Vec::<String>::new(),
            "{name}: the AWS CLI still sees the discarded upload"
        );
        let other_prefix = format!("{}/", other.prefix());
        assert_eq!(
            open_uploads_seen_independently(server, s3.bucket(), &other_prefix).await,
            [format!("{other_prefix}{key}")],
            "{name}: the other drive's upload must be left alone"
        );
        let theirs = other
            .incomplete_uploads()
            .await
            .expect("other drive's uploads");
        assert_eq!(theirs.len(), 1, "{name}: {theirs:?}");
        other.discard_incomplete(&theirs[0]).await.expect("discard");
        assert_eq!(
            open_uploads_seen_independently(server, s3.bucket(), &other_prefix).await,
            Vec::<String>::new(),
            "{name}"
        );
    }
}

/// [`conformance`] on a fresh bucket of `server` (the drive under the prefix `backups/prod`),
/// then keys live under the prefix, joined by exactly one `/`.
pub async fn s3_server(server: S3Server) {
    server.create_bucket("conformance").await;
    let drive = server.drive("conformance", "backups/prod");
    conformance(&drive, Some((&drive, &server))).await;

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
