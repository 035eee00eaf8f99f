//! Bridges a drive's async [`ByteStream`] to the blocking [`Read`] that decoding,
//! hashing and database clients want, through a small bounded channel: memory stays flat
//! whatever the object size.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::compress::{Oversized, StoredCheck, check_stored_within};
use crate::drive::{ByteStream, Drive, DriveError, DriveErrorKind};
use crate::encryption::{Identities, OpenError};
use crate::manifest::{Manifest, Mismatch};

/// A blocking reader over a drive stream. Read it from a blocking thread only.
#[derive(Debug)]
pub struct StreamReader {
    rx: mpsc::Receiver<Result<Bytes, DriveError>>,
    current: Bytes,
    pump: JoinHandle<()>,
}

impl StreamReader {
    /// Starts pumping `stream` on the current tokio runtime.
    pub fn new(mut stream: ByteStream) -> Self {
        let (tx, rx) = mpsc::channel(4);
        let pump = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                // The reader is gone (it stopped early): stop downloading.
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Self {
            rx,
            current: Bytes::new(),
            pump,
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(err)) => return Err(io::Error::other(err.to_string())),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Why a stored object failed its check.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// It could not be read, or its compressed stream is truncated or corrupt
    /// ([`DriveErrorKind::Integrity`]).
    #[error("{0}")]
    Read(#[from] DriveError),
    /// It reads to its end but is not what its manifest describes.
    #[error("damaged: {0}")]
    Mismatch(#[from] Mismatch),
    /// It unpacks to more than its manifest's `size`: decoding stopped at the first byte
    /// beyond it (a decompression bomb, or a damaged backup).
    #[error("damaged: {key}: {oversized}")]
    Oversized {
        /// The object.
        key: String,
        /// The size it went beyond.
        oversized: Oversized,
    },
    /// It is age-encrypted and cannot be decrypted with the identities given (none match,
    /// or its header is unreadable).
    #[error("cannot decrypt {key}: {error}")]
    Decrypt {
        /// The object.
        key: String,
        /// Why.
        error: Arc<OpenError>,
    },
}

/// A failed check as a drive's failure: a read error as it came, anything else the stored
/// object's own fault ([`DriveErrorKind::Integrity`]), the check's error kept as its cause.
impl From<CheckError> for DriveError {
    fn from(err: CheckError) -> Self {
        match err {
            CheckError::Read(err) => err,
            other => {
                DriveError::new(DriveErrorKind::Integrity, other.to_string()).with_cause(other)
            }
        }
    }
}

/// Reads an object back end to end and checks it against its manifest: what `run
/// --test-mode` and `verify` do. An encrypted object is decrypted with `identities`; without
/// them only its stored bytes are checked ([`StoredCheck::plain_size`] is then `None`).
/// Decoding stops as soon as the object unpacks to more than the manifest's `size`
/// ([`CheckError::Oversized`]), so a decompression bomb is not decoded to its end.
pub async fn check_against_manifest(
    drive: &dyn Drive,
    key: &str,
    manifest: &Manifest,
    identities: Option<&Identities>,
) -> Result<StoredCheck, CheckError> {
    let read = check_object_within(drive, key, identities, Some(manifest.size)).await?;
    manifest.check(&read)?;
    Ok(read)
}

/// Reads an object back from a drive, hashing it and decoding it (any codec, decrypted with
/// `identities` when it is encrypted) to the end.
pub async fn check_object(
    drive: &dyn Drive,
    key: &str,
    identities: Option<&Identities>,
) -> Result<StoredCheck, CheckError> {
    check_object_within(drive, key, identities, None).await
}

/// [`check_object`], stopping with [`CheckError::Oversized`] as soon as the plain bytes
/// exceed `limit`.
pub async fn check_object_within(
    drive: &dyn Drive,
    key: &str,
    identities: Option<&Identities>,
    limit: Option<u64>,
) -> Result<StoredCheck, CheckError> {
    let reader = StreamReader::new(drive.read(key).await?);
    let identities = identities.cloned();
    let checked = tokio::task::spawn_blocking(move || {
        check_stored_within(reader, identities.as_ref(), limit)
    })
    .await
    .map_err(|e| DriveError::new(DriveErrorKind::Other, format!("check task failed: {e}")))?;
    checked.map_err(|error| match error {
        OpenError::Io(e) => match Oversized::find(&e) {
            Some(oversized) => CheckError::Oversized {
                key: key.to_owned(),
                oversized,
            },
            None => CheckError::Read(DriveError::new(
                DriveErrorKind::Integrity,
                format!("damaged: {key} does not decode to its end: {e}"),
            )),
        },
        error => CheckError::Decrypt {
            key: key.to_owned(),
            error: Arc::new(error),
        },
    })
}
