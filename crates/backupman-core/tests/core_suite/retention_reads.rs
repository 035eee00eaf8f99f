//! Retention against a real local folder holding many backups: what it decides, and how
//! many objects it reads to decide it (a store's latency is paid per read).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use backupman_core::listing::TrustPolicy;
use backupman_core::retention::{Policy, apply};
use backupman_core::{
    ByteStream, CheckResult, Drive, DriveError, LocalDrive, Manifest, ObjectInfo, Signer, Upload,
    upload_bytes,
};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

/// A local drive that counts the objects read from it; everything else is the drive's own.
#[derive(Debug)]
struct Counting {
    inner: LocalDrive,
    reads: Arc<AtomicUsize>,
}

#[async_trait]
impl Drive for Counting {
    fn label(&self) -> &str {
        self.inner.label()
    }
    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        self.inner.begin(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        self.inner.list(prefix).await
    }
    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        self.inner.delete(key).await
    }
    async fn health(&self) -> Vec<CheckResult> {
        self.inner.health().await
    }
}

/// Stores a backup of source `s` taken at `at`, its manifest, and (with `signer`) its
/// signature, as the engine writes them.
async fn store(drive: &dyn Drive, at: DateTime<Utc>, signer: Option<&Signer>) -> String {
    let key = format!("s/s-{}-0a1b2c.sql.gz", at.format("%Y%m%dT%H%M%S%.3fZ"));
    upload_bytes(drive, &key, Bytes::from_static(b"dump"))
        .await
        .unwrap();
    let manifest = Manifest {
        version: 1,
        source: "s".into(),
        provider: "sqlite".into(),
        database: "d".into(),
        key: key.clone(),
        started_at: at,
        finished_at: at,
        size: 4,
        compressed_size: 4,
        sha256: "00".repeat(32),
        compression: "gzip-6".into(),
        encryption: None,
        recipients: Vec::new(),
        tool_version: None,
        backupman_version: "test".into(),
    };
    let json = manifest.to_json();
    let manifest_key = format!("{key}.json");
    upload_bytes(drive, &manifest_key, Bytes::from(json.clone()))
        .await
        .unwrap();
    if let Some(signer) = signer {
        let sig = signer.sign(&key, &json);
        upload_bytes(drive, &format!("{manifest_key}.minisig"), Bytes::from(sig))
            .await
            .unwrap();
    }
    key
}

fn signer() -> Signer {
    let minisign::KeyPair { sk, .. } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let text = sk.to_box(None).unwrap().to_string();
    Signer::parse(&text, std::path::Path::new("test.key")).unwrap()
}

fn counting(dir: &std::path::Path) -> (Counting, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let drive = Counting {
        inner: LocalDrive::new("disk", dir),
        reads: reads.clone(),
    };
    (drive, reads)
}

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
