//! The dump seam: a [`Source`] produces a plain dump of one database as a byte stream.

use std::fmt;
use std::io::Read;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::drive::{Cause, one_line_error};

/// Why a source produced no dump, so callers can tell a cancelled run from a broken database
/// without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// The run was cancelled (Ctrl-C, SIGTERM, a server shutting down).
    Cancelled,
    /// Every drive failed, so the dump was stopped for lack of anywhere to go.
    NoDriveLeft,
    /// Anything else: the tool failed, the database refused, the dump could not be read.
    Failed,
}

/// A source failure, phrased for a person (the dump tool's own stderr included), shaped as
/// [`DriveError`](crate::DriveError) is: a kind to decide on, one line, a hint where there is
/// a known fix, and the error it was made from.
#[derive(Debug, Clone)]
pub struct SourceError {
    /// What kind of failure it is: what callers decide on.
    pub kind: SourceErrorKind,
    /// The cause, with the tool's own words where it gave any.
    pub message: String,
    /// What to check or change, when there is a known fix.
    pub hint: Option<String>,
    /// The error this one was made from.
    pub cause: Option<Cause>,
}

impl SourceError {
    /// A [`SourceErrorKind::Failed`] error.
    pub fn new(message: impl Into<String>) -> Self {
        Self::of_kind(SourceErrorKind::Failed, message)
    }

    /// An error of `kind`, with no hint.
    pub fn of_kind(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            cause: None,
        }
    }

    /// The run was cancelled before the dump was complete.
    pub fn cancelled() -> Self {
        Self::of_kind(
            SourceErrorKind::Cancelled,
            "interrupted: the backup was cancelled",
        )
    }
}

one_line_error!(SourceError);

/// What the dump tool said when it finished.
#[derive(Debug, Clone, Default)]
pub struct DumpStatus {
    /// Tool name and version (`pg_dump (PostgreSQL) 15.4`), recorded in the manifest.
    pub tool_version: Option<String>,
    /// What a tool that succeeded still printed on stderr (notices, warnings): shown to the
    /// operator, never a reason to fail the backup.
    pub warnings: Option<String>,
}

/// A running dump: a blocking reader of the plain dump, and a way to learn afterwards
/// whether the tool succeeded. The stream's end only means "complete" when `finish` says so.
pub struct Dump {
    /// The plain dump, read from a blocking thread.
    pub reader: Box<dyn Read + Send>,
    /// Called once the reader is dropped: waits for the tool and says whether the dump is
    /// complete.
    pub finish: Box<dyn FnOnce() -> Result<DumpStatus, SourceError> + Send>,
}

impl fmt::Debug for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dump").finish_non_exhaustive()
    }
}

/// A database that can be dumped.
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug {
    /// The source's label from the configuration.
    fn label(&self) -> &str;
    /// `postgres`, `mysql`, `mariadb` or `sqlite`.
    fn provider(&self) -> &str;
    /// The database name (or file) for the manifest.
    fn database(&self) -> String;
    /// File extension of the plain dump, before `.gz`: `sql` or `sqlite`.
    fn extension(&self) -> &str {
        "sql"
    }
    /// Starts dumping. Called from async code; may block briefly to spawn the tool.
    ///
    /// Once `cancel` fires the source stops at once, even when its tool is blocked (waiting
    /// on a lock, say): it kills the tool or stops its copy, so the reader ends and `finish`
    /// returns. The engine then reports the run as cancelled.
    async fn start(&self, cancel: CancellationToken) -> Result<Dump, SourceError>;
    /// Connects and checks the permissions a dump needs, without dumping.
    async fn check(&self) -> Result<(), SourceError>;
}
