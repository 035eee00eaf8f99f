//! Retention against a real local folder holding many backups: what it decides, and how
//! many objects it reads to decide it (a store's latency is paid per read).

use std::sync::atomic::Ordering;

use backupman_core::Drive;
use backupman_core::listing::TrustPolicy;
use backupman_core::retention::{Policy, apply};
use chrono::{Duration, Utc};

use crate::stored::{counting, signer, store};

#[tokio::test]
async fn without_signatures_retention_reads_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (drive, reads) = counting(dir.path());
    let now = Utc::now();
    let mut keys = Vec::new();
    for i in 0..60 {
        keys.push(store(&drive, now - Duration::hours(6 * i), None).await);
    }
    let trust = TrustPolicy::unsigned(now);
    let applied = apply(&drive, "s", Policy::Count { keep: 5 }, &trust, false).await;
    assert!(applied.error.is_none(), "{:?}", applied.error);
    assert_eq!(reads.load(Ordering::SeqCst), 0);
    assert_eq!(applied.deleted, keys[5..].to_vec());
    let left = drive.list("s/").await.unwrap();
    assert_eq!(left.len(), 5 * 2, "{left:?}");
}

#[tokio::test]
async fn with_signatures_retention_reads_only_what_it_keeps_and_counts_only_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (drive, reads) = counting(dir.path());
    let signer = signer();
    let now = Utc::now();
    let mut signed = Vec::new();
    for i in 1..=40 {
        signed.push(store(&drive, now - Duration::hours(6 * i), Some(&signer)).await);
    }
    // Planted, newest of all: unsigned, and one with a signature from another key.
    let unsigned = store(&drive, now - Duration::minutes(1), None).await;
    let stranger = store(&drive, now - Duration::minutes(2), Some(&self::signer())).await;
    let trust = TrustPolicy {
        verifier: Some(signer.verifier()),
        require_encryption: false,
        now,
    };
    let applied = apply(&drive, "s", Policy::Count { keep: 3 }, &trust, false).await;
    assert!(applied.error.is_none(), "{:?}", applied.error);
    // The three newest signed backups are kept: the planted ones took no place of theirs.
    let kept: Vec<&str> = applied
        .plan
        .keep
        .iter()
        .map(|(b, _)| b.key.as_str())
        .collect();
    for key in &signed[..3] {
        assert!(kept.contains(&key.as_str()), "{kept:?}");
    }
    assert_eq!(applied.deleted, signed[3..].to_vec());
    // Read: the planted one with a signature (manifest and signature) and the three kept
    // ones (manifest and signature each); the unsigned one is judged by the listing alone.
    assert_eq!(reads.load(Ordering::SeqCst), 2 + 3 * 2);
    assert!(kept.contains(&unsigned.as_str()) && kept.contains(&stranger.as_str()));
}
