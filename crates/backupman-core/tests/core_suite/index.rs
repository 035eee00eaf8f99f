//! The folder index on a real local folder listed with MD5 entity tags, as an S3 store lists
//! objects written in one PutObject: how many objects a listing reads, and that whatever the
//! index holds (nothing, garbage, too much, forged copies) the backups come out as reading
//! every manifest makes them.

use std::path::{Path, PathBuf};

use backupman_core::index::{MAX_INDEX_BYTES, list_inspected};
use backupman_core::listing::{Standing, StoredBackup, TrustPolicy};
use backupman_core::{Drive, Signer};
use chrono::{Duration, Utc};

use crate::stored::{Counting, counting, signer, store};

/// A drive listing MD5 entity tags, holding `n` backups six hours apart (signed by `signer`).
async fn history(dir: &Path, n: i64, signer: Option<&Signer>) -> Counting {
    let (mut drive, _) = counting(dir);
    drive.md5_etags = true;
    let now = Utc::now();
    for i in 0..n {
        store(&drive, now - Duration::hours(6 * i + 1), signer).await;
    }
    drive.take_reads();
    drive
}

/// The index objects in the folder, oldest first.
fn indexes(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("s/.index")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    found.sort();
    found
}

async fn list(drive: &Counting, trust: &TrustPolicy) -> Vec<StoredBackup> {
    list_inspected(drive, "s", trust, |_| None)
        .await
        .expect("the listing")
}

#[tokio::test]
async fn a_listing_reads_one_index_and_survives_its_loss_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let drive = history(dir.path(), 100, None).await;
    let trust = TrustPolicy::unsigned(Utc::now());

    let first = list(&drive, &trust).await;
    assert_eq!(first.len(), 100);
    assert!(first.iter().all(|b| b.standing.is_trusted()));
    assert_eq!(drive.take_reads(), 100, "every manifest");
    let written = indexes(dir.path());
    assert_eq!(written.len(), 1, "{written:?}");

    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 1, "the index alone");
    assert_eq!(indexes(dir.path()), written, "nothing new to write");

    // Lost: read again from the manifests, and written anew.
    std::fs::remove_file(&written[0]).unwrap();
    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 100);
    let written = indexes(dir.path());
    assert_eq!(written.len(), 1, "{written:?}");

    // Garbage: ignored, replaced, deleted.
    std::fs::write(&written[0], b"{\"format\": 1, \"folder\": ").unwrap();
    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 1 + 100);
    let replaced = indexes(dir.path());
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_ne!(replaced, written);

    // Over the size limit, and newer than the good one: not even read.
    let huge = dir.path().join("s/.index/99991231T235959.999Z-ffffff.json");
    std::fs::write(&huge, vec![b' '; MAX_INDEX_BYTES as usize + 1]).unwrap();
    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 100);
    let after = indexes(dir.path());
    assert_eq!(after.len(), 1, "both superseded: {after:?}");
    assert!(!after.contains(&huge) && !after.contains(&replaced[0]));

    // A backup written after the index: its manifest is read, the rest come from the index.
    store(&drive, Utc::now(), None).await;
    let with_new = list(&drive, &trust).await;
    assert_eq!(with_new.len(), 101);
    assert!(with_new[0].standing.is_trusted());
    assert_eq!(with_new[1..], first[..]);
    assert_eq!(drive.take_reads(), 1 + 1);
    assert_eq!(indexes(dir.path()), after, "one read is no reason to write");
}

#[tokio::test]
async fn a_forged_copy_in_the_index_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let drive = history(dir.path(), 70, None).await;
    let trust = TrustPolicy::unsigned(Utc::now());
    let first = list(&drive, &trust).await;
    drive.take_reads();
    let path = indexes(dir.path()).remove(0);
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    // Two forgeries of the newest manifest: a copy with another checksum under its own MD5,
    // and the same copy under the real manifest's tag.
    let entries = index["entries"].as_array_mut().unwrap();
    let real = entries[0]["text"].as_str().unwrap().to_owned();
    let forged = real.replace(&"00".repeat(32), &"ff".repeat(32));
    assert_ne!(forged, real);
    entries[0]["text"] = forged.clone().into();
    entries[0]["etag"] = hex::encode(md5_digest(forged.as_bytes())).into();
    entries[1]["text"] = entries[1]["text"]
        .as_str()
        .unwrap()
        .replace(&"00".repeat(32), &"ff".repeat(32))
        .into();
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();

    let again = list(&drive, &trust).await;
    assert_eq!(again, first, "the real manifests' values");
    assert_eq!(again[0].manifest.as_ref().unwrap().sha256, "00".repeat(32));
    assert_eq!(
        drive.take_reads(),
        1 + 2,
        "the index and the two real manifests"
    );
}

fn md5_digest(bytes: &[u8]) -> impl AsRef<[u8]> {
    use md5::Digest;
    md5::Md5::digest(bytes)
}

#[tokio::test]
async fn signatures_come_from_the_index_and_are_checked_as_read_ones_are() {
    let dir = tempfile::tempdir().unwrap();
    let key = signer();
    let drive = history(dir.path(), 70, Some(&key)).await;
    let trust = TrustPolicy {
        verifier: Some(key.verifier()),
        require_encryption: false,
        now: Utc::now(),
    };
    let first = list(&drive, &trust).await;
    assert!(
        first
            .iter()
            .all(|b| b.standing == Standing::Trusted { signed: true })
    );
    assert_eq!(drive.take_reads(), 70 * 2);
    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 1);

    // Another key: the copies are judged against it, as the objects themselves would be.
    let stranger = TrustPolicy {
        verifier: Some(signer().verifier()),
        ..trust
    };
    let judged = list(&drive, &stranger).await;
    assert!(
        judged
            .iter()
            .all(|b| matches!(b.standing, Standing::BadSignature(_))),
        "{:?}",
        judged[0].standing
    );
    assert_eq!(drive.take_reads(), 1);
}

#[tokio::test]
async fn a_store_that_refuses_writes_is_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut drive = history(dir.path(), 70, None).await;
    drive.read_only = true;
    let trust = TrustPolicy::unsigned(Utc::now());
    let first = list(&drive, &trust).await;
    assert_eq!(first.len(), 70);
    assert!(first.iter().all(|b| b.standing.is_trusted()));
    assert_eq!(indexes(dir.path()), Vec::<PathBuf>::new());
    assert_eq!(list(&drive, &trust).await, first);
    assert_eq!(drive.take_reads(), 2 * 70);
}

#[tokio::test]
async fn no_index_without_entity_tags_or_with_few_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut drive = history(dir.path(), 70, None).await;
    drive.md5_etags = false;
    let trust = TrustPolicy::unsigned(Utc::now());
    list(&drive, &trust).await;
    assert_eq!(drive.take_reads(), 70);
    assert_eq!(indexes(dir.path()), Vec::<PathBuf>::new(), "a local folder");

    let dir = tempfile::tempdir().unwrap();
    let drive = history(dir.path(), 63, None).await;
    list(&drive, &trust).await;
    assert_eq!(indexes(dir.path()), Vec::<PathBuf>::new(), "63 reads");
    assert_eq!(drive.list("s/").await.unwrap().len(), 63 * 2);
}
