//! A [`Drive`] of one's own: objects in a map in memory. It keeps the trait's contract (an
//! upload is invisible until it completes, nothing is ever replaced, an upload a killed
//! process would leave is listed by `incomplete_uploads` and reported by `health`), and
//! proves it by passing the drive conformance suite, as every drive of backupman's own does.
//!
//! ```text
//! cargo run -p backupman-ops --example memory_drive
//! ```
//!
//! The suite comes with `backupman-core`'s `conformance` feature (a dev-dependency:
//! `backupman-core = { version = "0.1", features = ["conformance"] }`). `backupman-ops`'s
//! tests run [`check_conformance`] too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use backupman_core::conformance::{Capabilities, Inspector, Known, Whose, conformance};
use backupman_core::{
    ByteStream, CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload, ObjectInfo,
    StoredObject, Upload, read_all, stale, upload_bytes,
};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};

/// What a [`MemoryDrive`] holds: the objects, and the uploads begun and not yet ended.
#[derive(Debug, Default)]
struct Store {
    objects: BTreeMap<String, Bytes>,
    open: BTreeMap<u64, (String, DateTime<Utc>)>,
    next_id: u64,
}

/// Objects in memory, shared by every clone of the drive.
#[derive(Debug, Clone)]
pub struct MemoryDrive {
    label: String,
    store: Arc<Mutex<Store>>,
}

impl MemoryDrive {
    /// An empty drive labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            store: Arc::default(),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn already_exists(&self, key: &str) -> DriveError {
        DriveError::new(
            DriveErrorKind::AlreadyExists,
            format!(
                "{} already exists and is never replaced",
                self.location(key)
            ),
        )
    }
}

// A panic while the lock was held leaves the map as it was (every change is one insert or
// remove), so a poisoned lock is still safe to use.
fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Drive for MemoryDrive {
    fn label(&self) -> &str {
        &self.label
    }

    fn provider(&self) -> &str {
        "memory"
    }

    fn location(&self, key: &str) -> String {
        format!("memory://{}/{key}", self.label)
    }

    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError> {
        let mut store = self.store();
        if store.objects.contains_key(key) {
            return Err(self.already_exists(key));
        }
        let id = store.next_id;
        store.next_id += 1;
        store.open.insert(id, (key.to_owned(), Utc::now()));
        Ok(Box::new(MemoryUpload {
            drive: self.clone(),
            id,
            key: key.to_owned(),
            buffer: BytesMut::new(),
            ended: false,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError> {
        Ok(self
            .store()
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, bytes)| ObjectInfo::new(key.clone(), bytes.len() as u64))
            .collect())
    }

    async fn read(&self, key: &str) -> Result<ByteStream, DriveError> {
        let bytes = self.store().objects.get(key).cloned().ok_or_else(|| {
            DriveError::new(
                DriveErrorKind::NotFound,
                format!("{} does not exist", self.location(key)),
            )
        })?;
        // In chunks, as a store streams them.
        let chunks: Vec<Result<Bytes, DriveError>> = (0..bytes.len())
            .step_by(256 * 1024)
            .map(|at| Ok(bytes.slice(at..bytes.len().min(at + 256 * 1024))))
            .collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        self.store().objects.remove(key);
        Ok(())
    }

    async fn health(&self) -> Vec<CheckResult> {
        let key = ".backupman-health/probe";
        let payload = Bytes::from_static(b"backupman health probe\n");
        let write = upload_bytes(self, key, payload.clone()).await.map(|_| ());
        let read = match read_all(self, key).await {
            Ok(got) if got == payload => Ok(()),
            Ok(_) => Err(DriveError::new(
                DriveErrorKind::Integrity,
                "the probe read back differs from what was written",
            )),
            Err(err) => Err(err),
        };
        let list = self.list(".backupman-health/").await.map(|_| ());
        let delete = self.delete(key).await;
        let check = |check: &str, result| CheckResult {
            check: check.into(),
            result,
            required: true,
        };
        vec![
            check("write", write),
            check("read", read),
            check("list", list),
            check("delete", delete),
            // The same warning every drive gives for uploads a killed run left.
            stale::health_check(self.incomplete_uploads().await, &self.location("")),
        ]
    }

    async fn incomplete_uploads(&self) -> Result<Vec<IncompleteUpload>, DriveError> {
        Ok(self
            .store()
            .open
            .iter()
            .map(|(id, (key, started_at))| IncompleteUpload {
                key: key.clone(),
                id: id.to_string(),
                started_at: Some(*started_at),
            })
            .collect())
    }

    async fn discard_incomplete(&self, upload: &IncompleteUpload) -> Result<(), DriveError> {
        let id: u64 = upload.id.parse().map_err(|_| {
            DriveError::new(
                DriveErrorKind::Other,
                format!("{:?} is not an upload id of {}", upload.id, self.label),
            )
        })?;
        // Already gone is fine: another sweep was first.
        self.store().open.remove(&id);
        Ok(())
    }
}

/// An upload: bytes gather in a buffer and become the object at once on `complete`.
struct MemoryUpload {
    drive: MemoryDrive,
    id: u64,
    key: String,
    buffer: BytesMut,
    ended: bool,
}

impl MemoryUpload {
    /// No longer open, whichever way it ended.
    fn end(&mut self) {
        self.ended = true;
        self.drive.store().open.remove(&self.id);
    }
}

#[async_trait]
impl Upload for MemoryUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError> {
        self.buffer.extend_from_slice(&chunk);
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<StoredObject, DriveError> {
        let bytes = std::mem::take(&mut self.buffer).freeze();
        let key = self.key.clone();
        let location = self.drive.location(&key);
        let refused = self.drive.already_exists(&key);
        self.end();
        let mut store = self.drive.store();
        // Checked again here: another upload of the key may have completed meanwhile.
        if store.objects.contains_key(&key) {
            return Err(refused);
        }
        let size = bytes.len() as u64;
        store.objects.insert(key.clone(), bytes);
        Ok(StoredObject {
            key,
            location,
            size,
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<(), DriveError> {
        self.end();
        Ok(())
    }
}

impl Drop for MemoryUpload {
    fn drop(&mut self) {
        if !self.ended {
            self.end();
        }
    }
}

/// The map itself, seen from outside the drive.
#[derive(Debug)]
struct MapInspector {
    store: Arc<Mutex<Store>>,
}

#[async_trait]
impl Inspector for MapInspector {
    async fn open_uploads(&self) -> Vec<String> {
        lock(&self.store)
            .open
            .values()
            .map(|(key, _)| key.clone())
            .collect()
    }

    async fn open_uploads_seen_independently(&self, whose: Whose) -> Vec<String> {
        match whose {
            Whose::Drive => self.open_uploads().await,
            // No sibling is offered (`Inspector::sibling` is `None`), so none is asked for.
            Whose::Sibling => Vec::new(),
        }
    }
}

/// Runs the conformance suite against a fresh [`MemoryDrive`]; panics on the first check
/// that fails, as a test does.
pub async fn check_conformance() {
    let drive = MemoryDrive::new("memory");
    let inspector = MapInspector {
        store: drive.store.clone(),
    };
    let caps = Capabilities {
        known: Known::STRICT,
        health_checks: Some(&["write", "read", "list", "delete", "incomplete uploads"]),
        inspector: Some(&inspector),
    };
    conformance(&drive, &caps).await;
}

#[tokio::main]
async fn main() {
    check_conformance().await;
    println!("MemoryDrive passes the drive conformance suite");
}
