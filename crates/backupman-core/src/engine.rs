//! The run engine: one dump stream → gzip, zstd or nothing → age (when configured) → SHA-256
//! → every drive at once.
//!
//! Reading the dump, encrypting, hashing and fanning out run on a blocking thread, the
//! compressing on worker threads beside it (`encode`, `pgzip`); the age stage holds one 64 KiB
//! chunk at most; chunks reach each drive through its own
//! bounded channel, so memory is bounded by `chunk_size × (queue_depth + 1) × drives` plus
//! what each drive buffers, whatever the database size. A failing drive is dropped from the
//! fan-out and the others go on; a failing source aborts every upload.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::codec::Compression;
use crate::drive::{Drive, DriveError, DriveErrorKind, StoredObject, Upload, upload_bytes};
use crate::encryption::{AGE_ENCRYPTION, Recipients, Sealer};
use crate::manifest::Manifest;
use crate::naming::BackupKey;
use crate::signing::{Signer, signature_key};
use crate::source::{Dump, DumpStatus, Source, SourceError, SourceErrorKind};
use encode::Encoder;

/// How one drive fared with one source.
#[derive(Debug)]
pub struct DriveOutcome {
    /// The drive's label.
    pub drive: String,
    /// What was stored, or why nothing was.
    pub result: Result<StoredObject, DriveError>,
}

/// Why a source produced no backup.
pub type SourceFailure = SourceError;

/// The result of backing up one source to a set of drives.
#[derive(Debug)]
pub struct BackupReport {
    /// The source's label.
    pub source: String,
    /// The object key (relative to each drive's prefix).
    pub key: String,
    /// When the backup began; the key's time.
    pub started_at: DateTime<Utc>,
    /// How long the whole backup took, uploads and manifests included.
    pub elapsed: Duration,
    /// Set when the dump itself failed: nothing was stored anywhere.
    pub failure: Option<SourceFailure>,
    /// What the dump tool printed on stderr although it succeeded.
    pub warnings: Option<String>,
    /// Present when at least the dump succeeded.
    pub manifest: Option<Manifest>,
    /// One outcome per drive, in the order the drives were given.
    pub drives: Vec<DriveOutcome>,
}

impl BackupReport {
    /// The dump succeeded and every drive stored it.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && self.drives.iter().all(|d| d.result.is_ok())
    }
}

/// How far a running backup has come. Counts are totals so far, never deltas, so an
/// observer may drop events and still show the right numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A backup of `source` begins; `drives` are the labels that [`ProgressEvent::Uploaded`]'s
    /// `drive` indexes into.
    Started {
        /// The source's label.
        source: String,
        /// The drives' labels, in the order of the backup's drives.
        drives: Vec<String>,
    },
    /// Plain dump bytes read so far, and compressed bytes produced from them so far.
    Dumped {
        /// Bytes of the plain dump.
        plain: u64,
        /// Bytes of compressed output.
        compressed: u64,
    },
    /// Compressed bytes drive number `drive` has accepted so far.
    Uploaded {
        /// Index into [`ProgressEvent::Started`]'s `drives`.
        drive: usize,
        /// Compressed bytes accepted.
        bytes: u64,
    },
}

/// Receives [`ProgressEvent`]s, from the compression thread and from each drive's upload
/// task: it must be cheap and must not block.
#[derive(Clone)]
pub struct ProgressObserver(Arc<dyn Fn(ProgressEvent) + Send + Sync>);

impl ProgressObserver {
    /// An observer calling `f` for every event.
    pub fn new(f: impl Fn(ProgressEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    fn emit(&self, event: ProgressEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for ProgressObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressObserver")
    }
}

/// Runs backups.
#[derive(Debug, Clone)]
pub struct Engine {
    compression: Compression,
    chunk_size: usize,
    queue_depth: usize,
    key_prefix: String,
    encryption: Option<Recipients>,
    signer: Option<Signer>,
    progress: Option<ProgressObserver>,
    cancel: CancellationToken,
}

impl Engine {
    /// An engine compressing as `compression` says.
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            chunk_size: 1024 * 1024,
            queue_depth: 4,
            key_prefix: String::new(),
            encryption: None,
            signer: None,
            progress: None,
            cancel: CancellationToken::new(),
        }
    }

    /// Cancelling `token` (from a Ctrl-C handler, say) stops the running backup: the dump
    /// tool is killed even while it is blocked, and every upload aborted, as for a failing
    /// source.
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Reports progress to `observer` while backups run.
    pub fn with_progress(mut self, observer: ProgressObserver) -> Self {
        self.progress = Some(observer);
        self
    }

    /// Stores every object under this extra key prefix (test mode writes beside, never over,
    /// the real backup set).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Encrypts every object with age to `recipients` (after compressing, before hashing:
    /// the manifest's SHA-256 is the ciphertext's); `None` stores it unencrypted.
    pub fn with_encryption(mut self, recipients: Option<Recipients>) -> Self {
        self.encryption = recipients;
        self
    }

    /// Whether every manifest it stores is signed.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Signs every manifest with `signer`, storing the signature beside it
    /// (`KEY.json.minisig`); `None` leaves manifests unsigned.
    pub fn with_signer(mut self, signer: Option<Signer>) -> Self {
        self.signer = signer;
        self
    }

    /// Size of the chunks handed to drives.
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(4096);
        self
    }

    /// Backs `source` up to every drive in `drives` concurrently.
    pub async fn backup(&self, source: Arc<dyn Source>, drives: &[Arc<dyn Drive>]) -> BackupReport {
        let started_at = Utc::now();
        let clock = Instant::now();
        let backup_key = BackupKey::new(
            source.label(),
            started_at,
            source.extension(),
            self.compression.codec(),
        )
        .encrypted(self.encryption.is_some());
        let key = format!("{}{}", self.key_prefix, backup_key.object());
        let mut report = BackupReport {
            source: source.label().to_owned(),
            key: key.clone(),
            started_at,
            elapsed: Duration::ZERO,
            failure: None,
            warnings: None,
            manifest: None,
            drives: Vec::new(),
        };

        tracing::info!(source = source.label(), %key, "starting dump");
        if let Some(progress) = &self.progress {
            progress.emit(ProgressEvent::Started {
                source: source.label().to_owned(),
                drives: drives.iter().map(|d| d.label().to_owned()).collect(),
            });
        }
        let dump = match source.start(self.cancel.clone()).await {
            Ok(dump) => dump,
            Err(err) => {
                report.drives = not_stored(drives, &err);
                report.failure = Some(err);
                report.elapsed = clock.elapsed();
                return report;
            }
        };

        let mut senders = Vec::with_capacity(drives.len());
        let mut feeders = Vec::with_capacity(drives.len());
        for (index, drive) in drives.iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Bytes>(self.queue_depth);
            senders.push(tx);
            let progress = self.progress.clone().map(|p| (index, p));
            feeders.push(tokio::spawn(feed(
                drive.clone(),
                key.clone(),
                rx,
                progress,
                self.cancel.clone(),
            )));
        }
        let stages = Stages {
            compression: self.compression,
            encryption: self.encryption.clone(),
            chunk_size: self.chunk_size,
        };
        let (progress, cancel) = (self.progress.clone(), self.cancel.clone());
        let compressed =
            tokio::task::spawn_blocking(move || compress(dump, senders, stages, progress, &cancel))
                .await
                .unwrap_or_else(|err| {
                    Err(SourceError::new(format!("compression stage failed: {err}")))
                });
        let uploads: Vec<Result<Box<dyn Upload>, DriveError>> = join_all(feeders)
            .await
            .into_iter()
            .map(|joined| {
                joined.unwrap_or_else(|err| {
                    Err(DriveError::new(
                        DriveErrorKind::Other,
                        format!("upload task failed: {err}"),
                    ))
                })
            })
            .collect();

        let stats = match compressed {
            Ok(stats) => {
                tracing::debug!(
                    plain = stats.plain_size,
                    compressed = stats.compressed_size,
                    sha256 = %stats.sha256,
                    "dump complete"
                );
                stats
            }
            Err(err) => {
                let every_drive_failed = uploads.iter().all(Result::is_err);
                let mut outcomes = Vec::new();
                for (drive, upload) in drives.iter().zip(uploads) {
                    let result = match upload {
                        Ok(upload) => {
                            let mut not_stored = aborted(&err);
                            if let Err(abort_err) = upload.abort().await {
                                not_stored.message.push_str(&cleanup_failed(&abort_err));
                            }
                            Err(not_stored)
                        }
                        Err(drive_err) => Err(drive_err),
                    };
                    outcomes.push(DriveOutcome {
                        drive: drive.label().to_owned(),
                        result,
                    });
                }
                report.drives = outcomes;
                // When every drive had already failed, the dump was only stopped for lack of
                // anywhere to go: the drives' errors are the cause, not the source.
                if !(every_drive_failed && err.kind == SourceErrorKind::NoDriveLeft) {
                    report.failure = Some(err);
                }
                report.elapsed = clock.elapsed();
                return report;
            }
        };

        let manifest = Manifest {
            version: 1,
            source: source.label().to_owned(),
            provider: source.provider().to_owned(),
            database: source.database(),
            key: key.clone(),
            started_at,
            finished_at: Utc::now(),
            size: stats.plain_size,
            compressed_size: stats.compressed_size,
            sha256: stats.sha256.clone(),
            compression: self.compression.label(),
            encryption: self.encryption.as_ref().map(|_| AGE_ENCRYPTION.to_owned()),
            recipients: self
                .encryption
                .as_ref()
                .map(Recipients::keys)
                .unwrap_or_default(),
            tool_version: stats.status.tool_version.clone(),
            backupman_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let manifest_json = Bytes::from(manifest.to_json());
        let signature = self
            .signer
            .as_ref()
            .map(|signer| Bytes::from(signer.sign(&key, &manifest_json)));
        let completions = drives.iter().zip(uploads).map(|(drive, upload)| {
            let records = Records {
                manifest: manifest_json.clone(),
                signature: signature.clone(),
            };
            let key = key.clone();
            async move {
                let result = match upload {
                    Ok(upload) => finish(drive.as_ref(), upload, &key, records).await,
                    Err(err) => Err(err),
                };
                DriveOutcome {
                    drive: drive.label().to_owned(),
                    result,
                }
            }
        });
        report.drives = join_all(completions).await;
        report.warnings = stats.status.warnings;
        report.manifest = Some(manifest);
        report.elapsed = clock.elapsed();
        report
    }
}

fn no_drive_left() -> SourceError {
    SourceError::of_kind(
        SourceErrorKind::NoDriveLeft,
        "dump stopped: every drive failed",
    )
}

/// Said on the drive's own result line, not only in a log: the operator has something to
/// clean up (or a lifecycle rule to rely on).
fn cleanup_failed(abort_err: &DriveError) -> String {
    format!("; the incomplete upload could not be removed and may remain: {abort_err}")
}

fn aborted(err: &SourceError) -> DriveError {
    DriveError::new(
        DriveErrorKind::Aborted,
        format!("not stored, the dump failed: {err}"),
    )
}

fn not_stored(drives: &[Arc<dyn Drive>], err: &SourceError) -> Vec<DriveOutcome> {
    drives
        .iter()
        .map(|d| DriveOutcome {
            drive: d.label().to_owned(),
            result: Err(aborted(err)),
        })
        .collect()
}

/// What is written beside a stored object.
struct Records {
    manifest: Bytes,
    signature: Option<Bytes>,
}

/// Completes the upload, then writes its records beside it. An object and its records land
/// together or not at all: a backup without its manifest (or, when signing, its signature)
/// cannot be checked, so when one cannot be written the object is deleted again (the object
/// first: listings start from objects, so a record left behind is ignored).
async fn finish(
    drive: &dyn Drive,
    upload: Box<dyn Upload>,
    key: &str,
    records: Records,
) -> Result<StoredObject, DriveError> {
    let stored = upload.complete().await?;
    let manifest_key = format!("{key}.json");
    let mut writes = vec![("manifest", manifest_key.clone(), records.manifest)];
    if let Some(signature) = records.signature {
        writes.push(("signature", signature_key(&manifest_key), signature));
    }
    let mut written: Vec<String> = Vec::new();
    for (what, record_key, bytes) in writes {
        if let Err(err) = upload_bytes(drive, &record_key, bytes).await {
            let removed = match drive.delete(key).await {
                Ok(()) => {
                    for record in &written {
                        let _ = drive.delete(record).await;
                    }
                    "the object was removed again, so nothing is left half-stored".to_owned()
                }
                Err(delete_err) => format!(
                    "the object could not be removed ({delete_err}) and stays without its {what}: delete it, it cannot be restored without one"
                ),
            };
            return Err(DriveError {
                message: format!(
                    "not stored: the {what} of {} could not be written ({}); {removed}",
                    stored.location, err.message
                ),
                ..err
            });
        }
        written.push(record_key);
    }
    Ok(stored)
}

/// Streams chunks from the channel into one drive. Returns the still-open upload once the
/// channel closes: completing or aborting it is the engine's call, made once the dump's exit
/// status is known.
async fn feed(
    drive: Arc<dyn Drive>,
    key: String,
    mut rx: mpsc::Receiver<Bytes>,
    progress: Option<(usize, ProgressObserver)>,
    cancel: CancellationToken,
) -> Result<Box<dyn Upload>, DriveError> {
    let mut upload = drive.begin(&key).await?;
    tracing::debug!(drive = drive.label(), %key, "upload started");
    let mut accepted = 0u64;
    while let Some(chunk) = rx.recv().await {
        tracing::trace!(drive = drive.label(), bytes = chunk.len(), "chunk");
        let len = chunk.len() as u64;
        // A write stuck on a slow or dead store must not hold up a cancelled run: the engine
        // aborts this upload once the channel closes.
        let written = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            written = upload.write(chunk) => written,
        };
        if written.is_ok() {
            accepted += len;
            if let Some((index, progress)) = &progress {
                progress.emit(ProgressEvent::Uploaded {
                    drive: *index,
                    bytes: accepted,
                });
            }
        }
        if let Err(err) = written {
            tracing::warn!(drive = drive.label(), error = %err, "drive failed, aborting its upload");
            drop(rx);
            let mut err = err;
            if let Err(abort_err) = upload.abort().await {
                err.message.push_str(&cleanup_failed(&abort_err));
            }
            return Err(err);
        }
    }
    Ok(upload)
}

struct Stats {
    plain_size: u64,
    compressed_size: u64,
    sha256: String,
    status: DumpStatus,
}

struct FanOut {
    senders: Vec<Option<mpsc::Sender<Bytes>>>,
    hasher: Sha256,
    compressed_size: u64,
}

impl FanOut {
    /// Hands a chunk to every drive still accepting; false once none is.
    fn send(&mut self, chunk: Vec<u8>) -> bool {
        if chunk.is_empty() {
            return self.senders.iter().any(Option::is_some);
        }
        self.hasher.update(&chunk);
        self.compressed_size += chunk.len() as u64;
        let chunk = Bytes::from(chunk);
        for slot in &mut self.senders {
            if let Some(tx) = slot
                && tx.blocking_send(chunk.clone()).is_err()
            {
                *slot = None;
            }
        }
        self.senders.iter().any(Option::is_some)
    }
}

/// What the blocking thread does to the dump before fanning it out.
struct Stages {
    compression: Compression,
    encryption: Option<Recipients>,
    chunk_size: usize,
}

/// The encrypting stage when there is one; compressed bytes pass through it unchanged
/// otherwise.
fn seal(sealer: &mut Option<Sealer>, compressed: Vec<u8>) -> io::Result<Vec<u8>> {
    match sealer {
        Some(sealer) => sealer.seal(&compressed),
        None => Ok(compressed),
    }
}

fn compress(
    dump: Dump,
    senders: Vec<mpsc::Sender<Bytes>>,
    stages: Stages,
    progress: Option<ProgressObserver>,
    cancel: &CancellationToken,
) -> Result<Stats, SourceError> {
    let Dump { mut reader, finish } = dump;
    let chunk_size = stages.chunk_size;
    let mut fan = FanOut {
        senders: senders.into_iter().map(Some).collect(),
        hasher: Sha256::new(),
        compressed_size: 0,
    };
    let mut encoder = Encoder::new(stages.compression).map_err(compression_failed)?;
    let mut sealer = stages
        .encryption
        .as_ref()
        .map(Sealer::new)
        .transpose()
        .map_err(encryption_failed)?;
    let mut chunk = Vec::with_capacity(chunk_size + 64 * 1024);
    let mut buf = vec![0u8; 128 * 1024];
    let mut plain_size = 0u64;
    let read_failure = loop {
        if cancel.is_cancelled() {
            break None;
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(SourceError::new(format!("reading the dump failed: {e}"))),
        };
        plain_size += n as u64;
        let ready = match encoder.write(&buf[..n]).and_then(|()| encoder.take()) {
            Ok(ready) => seal(&mut sealer, ready).map_err(encryption_failed),
            Err(e) => Err(compression_failed(e)),
        };
        match ready {
            Ok(ready) => chunk.extend_from_slice(&ready),
            Err(e) => break Some(e),
        }
        if chunk.len() >= chunk_size && !fan.send(std::mem::take(&mut chunk)) {
            break Some(no_drive_left());
        }
        if let Some(progress) = &progress {
            progress.emit(ProgressEvent::Dumped {
                plain: plain_size,
                compressed: fan.compressed_size + chunk.len() as u64,
            });
        }
    };
    // Closing our end first lets a dump tool blocked on a full pipe see EPIPE and exit.
    drop(reader);
    let status = finish();
    // Checked after the loop too: a source stops on cancel by ending its stream early, which
    // reads like a normal end. The tool, cut off, would only report that it was killed.
    if cancel.is_cancelled() {
        return Err(SourceError::cancelled());
    }
    if let Some(failure) = read_failure {
        // The tool's own error explains more than our read error does (an exception: every
        // drive failing is the cause, whatever the tool says about its broken pipe).
        return Err(match status {
            Err(tool) if failure.kind != SourceErrorKind::NoDriveLeft => tool,
            _ => failure,
        });
    }
    let status = status?;
    let last = encoder.finish().map_err(compression_failed)?;
    let last = match sealer {
        Some(sealer) => sealer.finish(&last).map_err(encryption_failed)?,
        None => last,
    };
    chunk.extend_from_slice(&last);
    if !fan.send(chunk) {
        return Err(no_drive_left());
    }
    if let Some(progress) = &progress {
        progress.emit(ProgressEvent::Dumped {
            plain: plain_size,
            compressed: fan.compressed_size,
        });
    }
    Ok(Stats {
        plain_size,
        compressed_size: fan.compressed_size,
        sha256: hex::encode(fan.hasher.finalize()),
        status,
    })
}

fn compression_failed(err: io::Error) -> SourceError {
    SourceError::new(format!("compressing the dump failed: {err}")).with_cause(err)
}

fn encryption_failed(err: io::Error) -> SourceError {
    SourceError::new(format!("encrypting the dump failed: {err}")).with_cause(err)
}

mod encode;
mod pgzip;
#[cfg(test)]
mod tests;
