//! The storage seam: a [`Drive`] stores objects under keys relative to its own prefix.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// A stream of object bytes read back from a drive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, DriveError>> + Send>>;

/// What kind of failure a drive met, so callers can decide (retry, report, hint) without
/// parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveErrorKind {
    /// Credentials rejected or an action not permitted.
    Auth,
    /// The bucket or folder does not exist.
    NotFound,
    /// The server could not be reached, or did not answer in time.
    Connection,
    /// The store's TLS certificate is not trusted here: another attempt will not change
    /// that, a trusted CA will.
    Certificate,
    /// The store is busy or failed on its side (HTTP 500, 503 SlowDown): another attempt a
    /// little later may succeed.
    Busy,
    /// The data itself is wrong (checksum, truncated stream).
    Integrity,
    /// The write was cancelled because the source failed.
    Aborted,
    /// Something already exists under the key: a write never replaces it.
    AlreadyExists,
    /// The drive ran out of space.
    NoSpace,
    /// A path under a local drive's folder is a symbolic link: writing through it could land
    /// outside the drive, so it is refused, never followed.
    Symlink,
    /// Anything else.
    Other,
}

/// A drive failure, already phrased for a person: one line with the cause and, where we know
/// one, what to check. The lower-level error it came from (an I/O error, a store's client
/// error) stays reachable through [`std::error::Error::source`] for whoever wants the chain;
/// the line a person reads already says what it meant.
#[derive(Debug, Clone)]
pub struct DriveError {
    /// What kind of failure it is: what callers decide on.
    pub kind: DriveErrorKind,
    /// The cause, one line, naming the action and the object or place.
    pub message: String,
    /// What to check or change, when there is a known fix.
    pub hint: Option<String>,
    /// The error this one was made from. Shared, so a report holding the error stays
    /// cloneable.
    pub cause: Option<Cause>,
}

/// The lower-level error a [`DriveError`] or [`SourceError`](crate::SourceError) was made
/// from.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

impl DriveError {
    /// Another attempt may succeed: the store could not be reached, did not answer in time,
    /// or was busy.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DriveErrorKind::Connection | DriveErrorKind::Busy)
    }

    /// An error of `kind`, with no hint.
    pub fn new(kind: DriveErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            cause: None,
        }
    }

    /// The same failure, its message prefixed with what was being done
    /// (`could not delete the test object: ...`); kind, hint and cause kept.
    pub fn context(mut self, doing: impl fmt::Display) -> Self {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    /// An I/O failure while `context` (`cannot write /backups/x`), its kind taken from the
    /// I/O error's: not found, permission denied, already exists, no space.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => DriveErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => DriveErrorKind::Auth,
            std::io::ErrorKind::AlreadyExists => DriveErrorKind::AlreadyExists,
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                DriveErrorKind::NoSpace
            }
            _ => DriveErrorKind::Other,
        };
        Self::new(kind, format!("{context}: {err}")).with_cause(err)
    }
}

/// The shape [`DriveError`] and [`SourceError`](crate::SourceError) share: shown as one line,
/// `message (hint: hint)`, serialised as that line (what reports carry), built up with a hint
/// and the error it was made from.
macro_rules! one_line_error {
    ($error:ty) => {
        impl $error {
            /// Adds what to check or change.
            pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
                self.hint = Some(hint.into());
                self
            }

            /// Keeps the error this one was made from, as its
            /// [`source`](std::error::Error::source).
            pub fn with_cause(
                mut self,
                cause: impl std::error::Error + Send + Sync + 'static,
            ) -> Self {
                self.cause = Some(std::sync::Arc::new(cause));
                self
            }
        }

        impl std::fmt::Display for $error {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.message)?;
                if let Some(hint) = &self.hint {
                    write!(f, " (hint: {hint})")?;
                }
                Ok(())
            }
        }

        /// The error it was made from is its source, itself (not its shared handle), so a
        /// caller can downcast it.
        impl std::error::Error for $error {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.cause
                    .as_deref()
                    .map(|cause| cause as &(dyn std::error::Error + 'static))
            }
        }

        /// Reports carry errors as the one line a person reads.
        impl serde::Serialize for $error {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}
pub(crate) use one_line_error;

one_line_error!(DriveError);

/// An object listed on a drive. `key` is relative to the drive's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the drive's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag for the object's bytes as the listing gave it, without its
    /// quotes and lower-cased; `None` where the store gives none (a local folder). On S3 an
    /// object written in one PutObject without SSE-KMS or SSE-C has its bytes' MD5 here,
    /// which lets a folder index stand in for reading it (see [`crate::index`]).
    pub etag: Option<String>,
}

impl ObjectInfo {
    /// An object known by its key and size, with no entity tag.
    pub fn new(key: impl Into<String>, size: u64) -> Self {
        Self {
            key: key.into(),
            size,
            etag: None,
        }
    }
}

/// Retention a store holds new objects under (S3 Object Lock): until `days` after each
/// write, in `mode`. The configuration, the S3 drive and retention's skipping of locked
/// backups share this one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    /// Who may shorten the retention or delete before the date.
    pub mode: LockMode,
    /// Days each object is retained after it was written (at least 1).
    pub days: u32,
}

/// The Object Lock retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// `GOVERNANCE`: users with `s3:BypassGovernanceRetention` may still delete or shorten it.
    Governance,
    /// `COMPLIANCE`: nobody, not even the account's root user, can delete the object before
    /// the date.
    Compliance,
}

impl LockMode {
    /// The mode as S3 spells it: `GOVERNANCE` or `COMPLIANCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// What a completed upload left on the drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Key relative to the drive's prefix.
    pub key: String,
    /// Where a person would find it: a path or an `s3://` URL.
    pub location: String,
    /// Bytes stored.
    pub size: u64,
}

/// An upload that was begun and never completed nor aborted: what a process killed in the
/// middle of a backup (SIGKILL, power loss) leaves behind. On S3 its parts cost money until
/// it is aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteUpload {
    /// The key it would have completed to, relative to the drive's prefix.
    pub key: String,
    /// The drive's own handle for it (an S3 upload id, a temp file's path).
    pub id: String,
    /// When it was begun or last written, where the drive knows.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One line of a drive's health probe.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The action checked, in the store's own words (`PutObject`, `write file`).
    pub check: String,
    /// Whether the action worked, and why not.
    pub result: Result<(), DriveError>,
    /// A failing required check makes the drive unusable for backups; a failing advisory
    /// one is a warning (for example a permission that only cleanup after failures needs).
    pub required: bool,
}

/// Somewhere backups are stored.
#[async_trait]
pub trait Drive: Send + Sync + fmt::Debug {
    /// The drive's label from the configuration.
    fn label(&self) -> &str;

    /// The kind of store, as `provider:` names it in the configuration (`local`, `s3`).
    fn provider(&self) -> &str {
        "custom"
    }

    /// Where a person would find `key` on this drive: a path or an `s3://` URL, as
    /// [`StoredObject::location`] gives it once written.
    fn location(&self, key: &str) -> String {
        key.to_owned()
    }

    /// Starts a streamed write of `key`. Nothing is visible under `key` until
    /// [`Upload::complete`] succeeds, and a write never replaces anything: when `key` already
    /// exists, `begin` or `complete` fails with [`DriveErrorKind::AlreadyExists`].
    async fn begin(&self, key: &str) -> Result<Box<dyn Upload>, DriveError>;

    /// Every object whose key starts with `prefix` (relative to the drive's own prefix).
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, DriveError>;

    /// The objects under `prefix` whose keys sort after `start_after`, in key order, read
    /// only as far as needed: the listing ends with the page that holds the first key
    /// `far_enough` accepts (a store lists a page at a time, so what follows that key on its
    /// page comes too). Lets a caller that wants only the oldest or newest keys of a large
    /// folder (keys carry their time) pay for a page, not the folder.
    async fn list_range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        far_enough: &(dyn for<'k> Fn(&'k str) -> bool + Send + Sync),
    ) -> Result<Vec<ObjectInfo>, DriveError> {
        let mut objects = self.list(prefix).await?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.retain(|o| start_after.is_none_or(|after| o.key.as_str() > after));
        if let Some(end) = objects.iter().position(|o| far_enough(&o.key)) {
            objects.truncate(end + 1);
        }
        Ok(objects)
    }

    /// Streams an object back.
    async fn read(&self, key: &str) -> Result<ByteStream, DriveError>;

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), DriveError>;

    /// Until when the store refuses to delete `key` (an S3 Object Lock retention date),
    /// `None` when nothing holds it (or it does not exist). Retention asks before deleting,
    /// so a locked backup is skipped and said to be, not failed on. A drive without such
    /// locks leaves this at its default, `None`.
    async fn locked_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, DriveError> {
        let _ = key;
        Ok(None)
    }

    /// Checks, one by one, every action a backup needs, without touching existing backups.
    async fn health(&self) -> Vec<CheckResult>;

    /// Uploads under this drive's own prefix that were begun and never ended (see
    /// [`IncompleteUpload`]). A drive that cannot leave any, or cannot list them, has none.
    async fn incomplete_uploads(&self) -> Result<Vec<IncompleteUpload>, DriveError> {
        Ok(Vec::new())
    }

    /// Discards one incomplete upload (aborts it, removes its temp file).
    async fn discard_incomplete(&self, upload: &IncompleteUpload) -> Result<(), DriveError> {
        let _ = upload;
        Ok(())
    }

    /// A URL that lets whoever holds it download `key` with a plain GET, no credentials,
    /// until `expires_in` has passed (an S3 presigned GetObject). `None` for a drive that
    /// cannot sign one (a local folder): its caller serves the object itself instead.
    async fn presigned_read(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Option<Result<String, DriveError>> {
        let _ = (key, expires_in);
        None
    }
}

/// A streamed write in progress. It must end in exactly one of [`Upload::complete`] or
/// [`Upload::abort`]; an implementation also cleans up when dropped without either, so an
/// early return or a panic cannot leave a half-written object behind.
#[async_trait]
pub trait Upload: Send {
    /// Appends `chunk`. After a failed write the upload can only be aborted.
    async fn write(&mut self, chunk: Bytes) -> Result<(), DriveError>;
    /// Makes the object visible under its key, never replacing one that exists
    /// ([`DriveErrorKind::AlreadyExists`]); on failure nothing is left behind.
    async fn complete(self: Box<Self>) -> Result<StoredObject, DriveError>;
    /// Discards everything written; nothing appears under the key.
    async fn abort(self: Box<Self>) -> Result<(), DriveError>;
}

/// Writes a small object in one go (manifests, health probes).
pub async fn upload_bytes(
    drive: &dyn Drive,
    key: &str,
    data: Bytes,
) -> Result<StoredObject, DriveError> {
    let mut upload = drive.begin(key).await?;
    if let Err(err) = upload.write(data).await {
        let _ = upload.abort().await;
        return Err(err);
    }
    upload.complete().await
}

/// Reads a whole (small) object into memory: manifests and health probes only.
pub async fn read_all(drive: &dyn Drive, key: &str) -> Result<Vec<u8>, DriveError> {
    let mut stream = drive.read(key).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}
