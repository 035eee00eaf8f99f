//! A real local folder seen as a store: the objects read from it counted (a store's
//! latency is paid per read), and, where a test asks, each object listed with its bytes' MD5
//! as its entity tag (as S3 lists an object written in one PutObject) or every write refused
//! (read-only credentials). Backups are stored into it as the engine writes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use backupman_core::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, LocalDrive, Manifest, ObjectInfo,
    Signer, Upload, upload_bytes,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};

/// A local drive that counts the objects read from it; everything else is the drive's own,
/// but for entity tags and refused writes when asked for.
#[derive(Debug)]
pub struct Counting {
    inner: LocalDrive,
    dir: PathBuf,
    pub reads: Arc<AtomicUsize>,
    /// List each object's MD5 as its entity tag.
    pub md5_etags: bool,
    /// Refuse every write and delete as a store refuses read-only credentials.
    pub read_only: bool,
}

impl Counting {
    /// Objects read since the last call.
    pub fn take_reads(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }

    fn refuse(&self, action: &str, key: &str) -> Result<(), DriveError> {
        if self.read_only {
            return Err(DriveError::new(
                DriveErrorKind::Auth,
                format!("Access Denied: {action} {key}"),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Drive for Counting {
    fn label(&self) -> &str {
        self.inner.label()
    }
    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        self.refuse("PutObject", key)?;
        self.inner.begin(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        let mut objects = self.inner.list(prefix).await?;
        if self.md5_etags {
            for o in &mut objects {
                let bytes = std::fs::read(self.dir.join(&o.key)).unwrap();
                o.etag = Some(hex::encode(Md5::digest(&bytes)));
            }
        }
        Ok(objects)
    }
    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        self.refuse("DeleteObject", key)?;
        self.inner.delete(key).await
    }
    async fn health(&self) -> Vec<CheckResult> {
        self.inner.health().await
    }
}

/// Stores a backup of source `s` taken at `at`, its manifest, and (with `signer`) its
/// signature, as the engine writes them.
pub async fn store(drive: &dyn Drive, at: DateTime<Utc>, signer: Option<&Signer>) -> String {
    let key = format!("s/s-{}-0a1b2c.sql.gz", at.format("%Y%m%dT%H%M%S%.3fZ"));
    upload_bytes(drive, &key, Bytes::from_static(b"dump"))
        .await
        .unwrap();
    let json = manifest(&key, at).to_json();
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

/// The manifest the engine would write for `key`, taken at `at`.
pub fn manifest(key: &str, at: DateTime<Utc>) -> Manifest {
    Manifest {
        version: 1,
        source: "s".into(),
        provider: "sqlite".into(),
        database: "d".into(),
        key: key.to_owned(),
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
    }
}

pub fn signer() -> Signer {
    let minisign::KeyPair { sk, .. } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let text = sk.to_box(None).unwrap().to_string();
    Signer::parse(&text, std::path::Path::new("test.key")).unwrap()
}

/// A plain counting drive on `dir`, and its read counter.
pub fn counting(dir: &Path) -> (Counting, Arc<AtomicUsize>) {
    let drive = Counting {
        inner: LocalDrive::new("disk", dir),
        dir: dir.to_owned(),
        reads: Arc::new(AtomicUsize::new(0)),
        md5_etags: false,
        read_only: false,
    };
    let reads = drive.reads.clone();
    (drive, reads)
}
