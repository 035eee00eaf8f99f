//! The one [`Drive`] conformance suite (feature `conformance`): put small, put multipart, list
//! under a prefix, read back byte-identical, abort (and drop) leave nothing behind, delete,
//! nothing is ever replaced (also by two writers of one key at once), uploads left by a killed
//! process are found, reported by `health` and discarded. A drive is done when [`conformance`]
//! passes against it. It runs against [`LocalDrive`](crate::LocalDrive) in this crate's tests,
//! against every S3 test server in `backupman-s3`'s, and against the in-memory drive of
//! `backupman-ops`'s `examples/memory_drive.rs`.
//!
//! The suite asserts and panics, as a test does; it is meant for `#[tokio::test]`s (with the
//! multi-threaded runtime: drives may block in `spawn_blocking`). What a drive may do
//! differently is said up front in [`Capabilities`]: [`Known`] (how its store answers where
//! stores differ) and, optionally, an [`Inspector`] that looks at the store from outside the
//! drive, for the checks a drive's own answers cannot prove (no upload left open after an
//! abort, a refusal's exact message).
//!
//! ```no_run
//! # async fn example() {
//! use backupman_core::LocalDrive;
//! use backupman_core::conformance::{Capabilities, conformance};
//!
//! let dir = std::env::temp_dir().join("conformance-example");
//! let drive = LocalDrive::new("local", dir);
//! conformance(&drive, &Capabilities::default()).await;
//! # }
//! ```
//!
//! A refused write's message must end with `<key> already exists and is never replaced`
//! (the key as the drive was given it, or its whole path or URL), unless the inspector gives
//! the exact message.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{
    Drive, DriveError, DriveErrorKind, IncompleteUpload, ObjectInfo, StoredObject, Upload,
    read_all, upload_bytes,
};

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

/// How a store answers a conditional write (`If-None-Match: *` on S3) of a key that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// Refuses the write when the key exists (on S3: 412 PreconditionFailed).
    Honoured,
    /// Takes the condition and replaces the object all the same.
    Ignored,
    /// Answers 501 NotImplemented; the drive then writes without it.
    NotImplemented,
}

/// What a store does where stores differ, as found by running this suite against it. A store
/// whose behaviour changes fails the suite, so a table of these cannot silently go stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// A write of a key that exists, when the object is smaller than one part (PutObject).
    pub put: IfNoneMatch,
    /// The same when the object is larger (CompleteMultipartUpload).
    pub complete: IfNoneMatch,
    /// `Drive::incomplete_uploads` can list uploads a killed process left. When it cannot,
    /// it must fail with one line, and the [`Inspector`] finds them instead.
    pub lists_uploads: bool,
    /// The start time the store gives every incomplete upload, where it answers one fixed
    /// time instead of the real one (moto: a constant in its response template).
    pub fixed_initiated: Option<&'static str>,
}

impl Known {
    /// What the contract of [`Drive`] asks for: never replace, list what a killed process
    /// left with its real start time. The local drive and any new drive are held to it.
    pub const STRICT: Known = Known {
        put: IfNoneMatch::Honoured,
        complete: IfNoneMatch::Honoured,
        lists_uploads: true,
        fixed_initiated: None,
    };
}

impl Default for Known {
    fn default() -> Self {
        Self::STRICT
    }
}

/// Whose namespace [`Inspector::open_uploads_seen_independently`] looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The drive under test.
    Drive,
    /// [`Inspector::sibling`].
    Sibling,
}

/// The store behind a drive seen from outside the drive (another client, the server's data
/// folder, the file system), for what the drive's own answers cannot prove.
#[async_trait]
pub trait Inspector: Send + Sync + fmt::Debug {
    /// Uploads begun and not ended in the drive's namespace as the store holds them (S3:
    /// open multipart uploads; a folder: temp files), one entry each. The suite expects none
    /// after every abort, drop, refused write and health probe.
    async fn open_uploads(&self) -> Vec<String>;

    /// The handles (`IncompleteUpload::id`) of the uploads left open in the drive's
    /// namespace, for a store where `Drive::incomplete_uploads` cannot list them
    /// ([`Known::lists_uploads`] false).
    async fn leaked_upload_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// The exact message of the write of `key` refused because `key` exists, where the
    /// store's name for it is known (`s3://bucket/prefix/key already exists ...`).
    fn already_exists_message(&self, key: &str) -> Option<String> {
        let _ = key;
        None
    }

    /// Whether the drive still sends conditional writes: a drive that met
    /// [`IfNoneMatch::NotImplemented`] must remember to stop. `None` where the drive has no
    /// such switch.
    fn sends_conditional_writes(&self) -> Option<bool> {
        None
    }

    /// A second drive on the same store whose namespace's name starts with the drive's
    /// (S3: the prefix `<prefix>-other`; a folder: `<folder>-other`): nothing of its may
    /// show up as the drive's, or be discarded by it.
    fn sibling(&self) -> Option<&dyn Drive> {
        None
    }

    /// The keys (relative to that namespace) of the uploads open in the drive's or the
    /// sibling's namespace as a client independent of both drives sees them (the AWS CLI, a
    /// walk of the folder).
    async fn open_uploads_seen_independently(&self, whose: Whose) -> Vec<String>;
}

/// What the suite expects of one drive beyond the contract every drive keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities<'a> {
    /// How the store answers where stores differ.
    pub known: Known,
    /// The names of the checks `Drive::health` runs, in order, where a test pins them.
    pub health_checks: Option<&'a [&'a str]>,
    /// The store seen from outside the drive; without one, only what the drive itself
    /// answers is checked.
    pub inspector: Option<&'a dyn Inspector>,
}

/// Uploads still open in the drive's namespace, where an inspector can tell.
async fn open_uploads(caps: &Capabilities<'_>) -> Vec<String> {
    match caps.inspector {
        Some(inspector) => inspector.open_uploads().await,
        None => Vec::new(),
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

/// Keys and sizes, in key order: what every store must list alike (entity tags differ from
/// store to store and are checked on their own).
fn sorted(found: Vec<ObjectInfo>) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = found.into_iter().map(|o| (o.key, o.size)).collect();
    found.sort();
    found
}

/// The suite, on a drive whose namespace starts empty; it leaves it empty.
pub async fn conformance(drive: &dyn Drive, caps: &Capabilities<'_>) {
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

    let objects = drive.list("conf/").await.expect("list");
    // A folder index stands in for reading an object only when the listing's entity tag is
    // the MD5 of the bytes it holds: a store that lists one for a plain PutObject must list
    // exactly that.
    let small_etag = objects
        .iter()
        .find(|o| o.key == "conf/small.bin")
        .and_then(|o| o.etag.as_deref());
    if let Some(etag) = small_etag {
        assert!(
            crate::index::vouches(&small, Some(etag)),
            "{name}: conf/small.bin listed with ETag {etag:?}, not its MD5"
        );
    }
    let listed = sorted(objects);
    let expected = vec![
        ("conf/empty.bin".to_owned(), 0),
        ("conf/large.bin".to_owned(), large.len() as u64),
        ("conf/small.bin".to_owned(), 1000),
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

    // Abort after parts went up: no object, no open upload.
    let mut upload = drive.begin("conf/aborted.bin").await.expect("begin");
    write_chunked(&mut upload, &data(11 * MIB, 3)).await;
    upload
        .abort()
        .await
        .unwrap_or_else(|e| panic!("{name}: abort: {e}"));
    assert_eq!(
        open_uploads(caps).await,
        Vec::<String>::new(),
        "{name}: abort left parts"
    );

    // Dropped without complete or abort: cleaned up all the same (in the background on S3).
    let mut upload = drive.begin("conf/dropped.bin").await.expect("begin");
    write_chunked(&mut upload, &data(6 * MIB, 4)).await;
    drop(upload);
    let mut left = open_uploads(caps).await;
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = open_uploads(caps).await;
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

    ranged_listing(drive).await;
    never_replaces(drive, caps).await;
    racing_writers(drive, caps).await;
    leaked_upload(drive, caps).await;

    // Health: every required check passes, the advisory ones say what the store is known to
    // do, and nothing is left behind.
    let checks = drive.health().await;
    for check in &checks {
        let expected_ok = match check.check.as_str() {
            "no-clobber writes (If-None-Match)" => caps.known.put == IfNoneMatch::Honoured,
            "incomplete uploads" => caps.known.lists_uploads,
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
    if let Some(expected) = caps.health_checks {
        let names: Vec<_> = checks.iter().map(|c| c.check.as_str()).collect();
        assert_eq!(names, expected, "{name}");
    }
    assert_eq!(
        open_uploads(caps).await,
        Vec::<String>::new(),
        "{name}: health left parts"
    );
    assert_eq!(
        drive.list("").await.expect("list"),
        vec![],
        "{name}: health left objects"
    );
}

/// A ranged listing over more than one page (an S3 drive asks for 100 keys first, then a
/// thousand at a time): it starts after the key asked for, keeps key order, ends no earlier
/// than the first key far enough, and never strays into a sibling folder.
pub async fn ranged_listing(drive: &dyn Drive) {
    let name = drive.label();
    let keys: Vec<String> = (0..120).map(|i| format!("range/k{i:03}")).collect();
    futures::stream::iter(keys.iter().chain([&"range-other/k000".to_owned()]))
        .for_each_concurrent(16, |key| async move {
            upload_bytes(drive, key, Bytes::from_static(b"r"))
                .await
                .unwrap_or_else(|e| panic!("{name}: put {key}: {e}"));
        })
        .await;
    let listed = |start_after: Option<&'static str>, until: Option<&'static str>| async move {
        let far_enough = move |key: &str| until.is_some_and(|until| key >= until);
        let found = drive
            .list_range("range/", start_after, &far_enough)
            .await
            .unwrap_or_else(|e| panic!("{name}: ranged listing: {e}"));
        found.into_iter().map(|o| o.key).collect::<Vec<_>>()
    };
    let is_start_of = |found: &[String], from: usize| {
        found.len() <= keys.len() - from && found[..] == keys[from..from + found.len()]
    };
    for until in ["range/k050", "range/k110"] {
        let found = listed(None, Some(until)).await;
        assert!(is_start_of(&found, 0), "{name}: until {until}: {found:?}");
        assert!(found.iter().any(|k| k == until), "{name}: {found:?}");
    }
    assert_eq!(listed(Some("range/k030"), None).await, keys[31..], "{name}");
    assert_eq!(
        listed(Some("range/k119"), None).await,
        Vec::<String>::new(),
        "{name}"
    );
    futures::stream::iter(keys.iter().chain([&"range-other/k000".to_owned()]))
        .for_each_concurrent(16, |key| async move {
            drive
                .delete(key)
                .await
                .unwrap_or_else(|e| panic!("{name}: delete {key}: {e}"));
        })
        .await;
}

/// An existing object, small (one PutObject) or multipart, is never replaced by a small or
/// a multipart write: the write fails with AlreadyExists and the object reads back unchanged.
pub async fn never_replaces(drive: &dyn Drive, caps: &Capabilities<'_>) {
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
            match caps.inspector.and_then(|i| i.already_exists_message(key)) {
                Some(exact) => assert_eq!(err.to_string(), exact, "{name}"),
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
        open_uploads(caps).await,
        Vec::<String>::new(),
        "{name}: a refused write left parts"
    );
    for key in ["clobber/small.bin", "clobber/large.bin"] {
        drive.delete(key).await.expect("delete");
    }
}

/// Two writers of one key, both begun before either completes: where the store honours
/// conditional writes the first to complete wins and the second fails with AlreadyExists;
/// where it does not, the second replaces the first, and [`Known`] says so for that store.
pub async fn racing_writers(drive: &dyn Drive, caps: &Capabilities<'_>) {
    let name = drive.label().to_owned();
    let known = caps.known;
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
                    panic!("{name}: {what}: this store was known to let the second through: {e}")
                });
                assert!(
                    stored == second,
                    "{name}: {what}: this store was known to let the last writer replace the object"
                );
            }
        }
        not_implemented_seen |= expected == IfNoneMatch::NotImplemented;
        if let Some(sends) = caps.inspector.and_then(|i| i.sends_conditional_writes()) {
            assert_eq!(
                sends, !not_implemented_seen,
                "{name}: {what}: the drive must remember a store without If-None-Match"
            );
        }
        assert_eq!(
            open_uploads(caps).await,
            Vec::<String>::new(),
            "{name}: {what}: the losing upload left parts"
        );
        drive.delete(&key).await.expect("delete");
    }
}

/// An upload begun, written past one part and never ended (what SIGKILL leaves) is found by
/// `incomplete_uploads` under its key, reported by `health`, and gone after
/// `discard_incomplete`; one in the sibling's namespace is neither listed nor discarded.
pub async fn leaked_upload(drive: &dyn Drive, caps: &Capabilities<'_>) {
    let name = drive.label().to_owned();
    let key = "leak/leaked.bin";
    let begun = chrono::Utc::now();
    let mut upload = drive.begin(key).await.expect("begin");
    write_chunked(&mut upload, &data(6 * MIB, 31)).await;
    // No complete, no abort, no Drop: what a killed process leaves.
    std::mem::forget(upload);

    if !caps.known.lists_uploads {
        let inspector = caps.inspector.unwrap_or_else(|| {
            panic!("{name}: a drive that cannot list incomplete uploads needs an Inspector")
        });
        let err = drive
            .incomplete_uploads()
            .await
            .expect_err("this store cannot list incomplete uploads");
        assert_eq!(err.kind, DriveErrorKind::Other, "{name}: {err}");
        assert!(!err.to_string().contains('\n'), "{name}: {err}");
        // The inspector finds the upload's handle: discarding it still works.
        let ids = inspector.leaked_upload_ids().await;
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        let leaked = IncompleteUpload {
            key: key.to_owned(),
            id: ids[0].clone(),
            started_at: None,
        };
        drive.discard_incomplete(&leaked).await.expect("discard");
        assert_eq!(
            inspector.open_uploads().await,
            Vec::<String>::new(),
            "{name}"
        );
        return;
    }

    // The same key in the sibling's namespace belongs to another drive.
    let sibling = caps.inspector.and_then(|i| i.sibling());
    if let Some(other) = sibling {
        let mut upload = other
            .begin(key)
            .await
            .expect("begin in the sibling's namespace");
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
    if let Some(fixed) = caps.known.fixed_initiated {
        let fixed: chrono::DateTime<chrono::Utc> = fixed.parse().expect("a fixed time");
        assert_eq!(
            started, fixed,
            "{name}: this store was known to answer one fixed time"
        );
    } else {
        assert!(
            started > begun - chrono::Duration::minutes(2)
                && started < now + chrono::Duration::minutes(2),
            "{name}: started at {started}, begun at {begun}"
        );
    }

    // What `health` says of it: a warning, with the date and what will discard it.
    let health = drive.health().await;
    let check = health
        .iter()
        .find(|c| c.check == "incomplete uploads")
        .unwrap_or_else(|| panic!("{name}: health has no `incomplete uploads` check"));
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

    if let (Some(inspector), Some(other)) = (caps.inspector, sibling) {
        assert_eq!(
            inspector
                .open_uploads_seen_independently(Whose::Drive)
                .await,
            Vec::<String>::new(),
            "{name}: an independent client still sees the discarded upload"
        );
        assert_eq!(
            inspector
                .open_uploads_seen_independently(Whose::Sibling)
                .await,
            [key],
            "{name}: the other drive's upload must be left alone"
        );
        let theirs = other
            .incomplete_uploads()
            .await
            .expect("other drive's uploads");
        assert_eq!(theirs.len(), 1, "{name}: {theirs:?}");
        other.discard_incomplete(&theirs[0]).await.expect("discard");
        assert_eq!(
            inspector
                .open_uploads_seen_independently(Whose::Sibling)
                .await,
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[cfg(test)]
mod tests;
