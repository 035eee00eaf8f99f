//! Restore: stream a stored (gzipped) backup back into a database.
//!
//! ```text
//! stored object ──> SHA-256 ──> age -d ──> gunzip ──┬──> psql --single-transaction   (PostgreSQL)
//!  (any blocking Read)     (when encrypted)        ├──> mariadb / mysql client       (MySQL, MariaDB)
//!                                                   └──> temp file ─ check ─ rename   (SQLite)
//! ```
//!
//! The hash of the stored bytes is checked while they stream, and decoding stops as soon as
//! the plain bytes exceed the manifest's `size` ([`RestoreError::TooLarge`]: a decompression
//! bomb never unpacks further than the backup it claims to be). A SQL dump passes its
//! client's filter ([`filter`]) before each chunk is written to the client, so
//! a client command planted in a backup (`\!` for psql, `\!` or `system` for the `mariadb`
//! client) is refused ([`RestoreError::Refused`]) and never runs: restores apply data, never
//! commands. The client's stdin is only closed once the hash matched, so:
//!
//! - PostgreSQL: `psql` runs the whole dump in one transaction that commits only at the end
//!   of its input; on a mismatch, a truncated or corrupt object, or an SQL error the client is
//!   killed (or exits) before committing, and **nothing** is applied;
//! - SQLite: the file is written beside the target and renamed over it only when it is
//!   complete, matches and passes `PRAGMA quick_check`;
//! - MySQL/MariaDB: DDL commits implicitly, so statements executed before a failure stay
//!   applied. [`RestoreTarget::is_transactional`] says so; callers read the whole object
//!   through [`check`] first (hash, size bound and filter, applying nothing), or restore into
//!   a scratch database. The client runs with `--sandbox` as well.
//!
//! Also here: creating and dropping scratch databases (`verify --restore`) and counting the
//! tables and rows of a database (the report after a restore). This module holds what every
//! engine shares and hands each target to its engine (`postgres`, `mysql`, `sqlite`).

pub(crate) mod client;
pub mod filter;
pub(crate) mod pump;
mod space;
mod target;

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;

use backupman_core::{
    ByteStream, Identities, Manifest, Mismatch, OpenError, StoredCheck, StreamReader,
};

use crate::mysql::restore::MysqlClient;
use crate::postgres::restore::Psql;
use crate::sqlite;
use client::{SqlClient, ensure_empty, restore_through};
use filter::{Filter, Refusal};
use pump::{PumpError, check_read, pump};

pub(crate) use space::ensure_space;
pub use target::RestoreTarget;

/// What to check and allow while restoring.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The backup's manifest: what is read must pass [`Manifest::check`] (SHA-256 and both
    /// sizes), or the restore fails before anything is committed.
    pub expected: Option<Manifest>,
    /// Restore over a database that already has tables (or over an existing SQLite file).
    pub force: bool,
    /// The age identities that decrypt an encrypted backup; without them an encrypted
    /// backup fails with [`RestoreError::Decrypt`] before anything is applied.
    pub identities: Option<Identities>,
}

/// What a successful restore read: the stored object's size and SHA-256, and the size of the
/// plain dump fed to the database.
pub type RestoreOutcome = StoredCheck;

/// Why a restore failed, phrased for a person, saying whether anything was applied.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A client tool is missing or cannot be started.
    #[error("{0}")]
    Tool(String),
    /// The client rejected the dump (its stderr is in `message`).
    #[error("restoring into {target} failed: {message}; {}", applied_note(!*transactional))]
    Client {
        /// The target, without its password.
        target: String,
        /// What the client said.
        message: String,
        /// True when the failure applied nothing.
        transactional: bool,
    },
    /// The object read back is not the one the manifest describes.
    #[error("the backup is damaged: {mismatch}; {}", applied_note(*partially_applied))]
    Damaged {
        /// How it differs from the manifest.
        mismatch: Mismatch,
        /// True when statements before the damage stay applied (MySQL/MariaDB).
        partially_applied: bool,
    },
    /// The object could not be read or decompressed to its end (truncated, corrupt).
    #[error(
        "the backup is damaged: it cannot be read to its end ({cause}); {}",
        applied_note(*partially_applied)
    )]
    Corrupt {
        /// Why reading stopped.
        #[source]
        cause: io::Error,
        /// True when statements before the failure stay applied (MySQL/MariaDB).
        partially_applied: bool,
    },
    /// The dump holds what its client would run as a command (or could read as one): it is
    /// refused before that part reaches the client, so the command never runs.
    #[error(
        "refusing the backup: {refusal}; a restore applies data, never commands; {}",
        applied_note(*partially_applied)
    )]
    Refused {
        /// Where, and what was found.
        refusal: Refusal,
        /// True when statements before it stay applied (MySQL/MariaDB streaming without the
        /// check first).
        partially_applied: bool,
    },
    /// The dump unpacks to more bytes than its manifest's `size`: decoding stopped at the
    /// first byte beyond it (a decompression bomb, or a damaged backup).
    #[error(
        "the backup unpacks to more than the {limit} bytes its manifest says (a decompression bomb or a damaged backup), so decoding stopped there; {}",
        applied_note(*partially_applied)
    )]
    TooLarge {
        /// The manifest's `size`.
        limit: u64,
        /// True when statements before it stay applied (MySQL/MariaDB).
        partially_applied: bool,
    },
    /// The folder a restore writes its file in has less free space than the manifest's
    /// `size`: checked before anything is written.
    #[error(
        "not enough free space in {}: restoring needs {needed} bytes (the backup's size) and {available} are available; nothing was written",
        folder.display()
    )]
    NoSpace {
        /// The folder.
        folder: PathBuf,
        /// The manifest's `size`.
        needed: u64,
        /// What the file system says is available to this process.
        available: u64,
    },
    /// The backup is age-encrypted and cannot be decrypted: no identity given, none matching,
    /// or a damaged header. Detected before the first byte reaches the database.
    #[error("cannot decrypt the backup: {0}; nothing was applied")]
    Decrypt(OpenError),
    /// The target already holds data and `force` was not given.
    #[error("{target} is not empty ({detail}); use --force to restore over it")]
    NotEmpty {
        /// The target, without its password.
        target: String,
        /// What it holds.
        detail: String,
    },
    /// The target database does not exist: a restore fills a database, it does not make one.
    #[error(
        "{target}: database {database:?} does not exist (hint: create it first, e.g. `createdb {database}`, then restore into it)"
    )]
    NoDatabase {
        /// The target, without its password.
        target: String,
        /// The missing database.
        database: String,
    },
    /// `restore --to` (or a scratch database name) cannot be used.
    #[error("invalid restore target {spec:?}: {reason}")]
    InvalidTarget {
        /// What was given.
        spec: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The system's error.
        #[source]
        cause: io::Error,
    },
}

fn applied_note(partially_applied: bool) -> &'static str {
    if partially_applied {
        "statements executed before the failure remain applied (MySQL/MariaDB cannot roll back DDL): restore again from a good backup"
    } else {
        "nothing was applied"
    }
}

/// Streams a gzipped backup from `reader` into `target`. Blocking: call it from a blocking
/// thread (`tokio::task::spawn_blocking`) in async code.
pub fn restore<R: Read>(
    reader: R,
    target: &RestoreTarget,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    match target {
        RestoreTarget::Postgres(c) => restore_through(reader, &Psql::find(c)?, options),
        RestoreTarget::Mysql(c) => restore_through(reader, &MysqlClient::find(c)?, options),
        RestoreTarget::Sqlite { path, staging_dir } => {
            sqlite::restore::restore(reader, path, staging_dir.as_deref(), options)
        }
    }
}

/// Restores a backup read from a drive ([`backupman_core::Drive::read`]): the blocking
/// [`restore`] runs on a blocking thread, fed through a small bounded channel, so memory stays
/// flat whatever the object size. A drive read error ends the restore as
/// [`RestoreError::Corrupt`] (nothing applied, except on MySQL/MariaDB).
pub async fn restore_stream(
    stream: ByteStream,
    target: RestoreTarget,
    options: RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let reader = StreamReader::new(stream);
    tokio::task::spawn_blocking(move || restore(reader, &target, &options))
        .await
        .unwrap_or_else(|e| {
            Err(RestoreError::Io {
                context: "the restore task failed".into(),
                cause: io::Error::other(e.to_string()),
            })
        })
}

/// What [`restore`] checks of `target` before it reads anything: that the database is
/// empty unless `options.force`. A caller about to read a whole backup first (the check of
/// a MySQL/MariaDB restore) calls it before, so a refusal comes at once. Blocking.
pub fn check_target(target: &RestoreTarget, options: &RestoreOptions) -> Result<(), RestoreError> {
    match target {
        RestoreTarget::Postgres(c) => ensure_empty(&Psql::find(c)?, options.force),
        RestoreTarget::Mysql(c) => ensure_empty(&MysqlClient::find(c)?, options.force),
        // The file is replaced only at the end, after its own checks.
        RestoreTarget::Sqlite { .. } => Ok(()),
    }
}

/// Reads a backup the way [`restore`] into `target` would, through the same size bound and
/// the same filter of its client, but applies nothing: the check a MySQL/MariaDB restore
/// runs before it starts, since those engines cannot roll back. Finds the client tool (a
/// `mariadb` client without `--sandbox` fails here, before anything is applied).
pub fn check<R: Read>(
    reader: R,
    target: &RestoreTarget,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let mut filter: Option<Box<dyn Filter>> = match target {
        RestoreTarget::Postgres(c) => Some(Psql::find(c)?.filter()?),
        RestoreTarget::Mysql(c) => Some(MysqlClient::find(c)?.filter()?),
        RestoreTarget::Sqlite { .. } => None,
    };
    let filter = filter.as_mut().map(|f| f.as_mut() as &mut dyn Filter);
    let read = pump(reader, options, filter, &mut io::sink()).map_err(|e| match e {
        PumpError::Read(cause) | PumpError::Write(cause) => RestoreError::Corrupt {
            cause,
            partially_applied: false,
        },
        PumpError::Decrypt(cause) => RestoreError::Decrypt(cause),
        PumpError::Refused(refusal) => RestoreError::Refused {
            refusal,
            partially_applied: false,
        },
        PumpError::TooLarge { limit } => RestoreError::TooLarge {
            limit,
            partially_applied: false,
        },
    })?;
    check_read(options, &read).map_err(|mismatch| RestoreError::Damaged {
        mismatch,
        partially_applied: false,
    })?;
    Ok(read)
}

/// [`check`] over a backup read from a drive, on a blocking thread.
pub async fn check_stream(
    stream: ByteStream,
    target: RestoreTarget,
    options: RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let reader = StreamReader::new(stream);
    tokio::task::spawn_blocking(move || check(reader, &target, &options))
        .await
        .unwrap_or_else(|e| {
            Err(RestoreError::Io {
                context: "the check task failed".into(),
                cause: io::Error::other(e.to_string()),
            })
        })
}

/// One table and its exact row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// `schema.table` (PostgreSQL) or `table`.
    pub name: String,
    /// Its rows, counted with `count(*)`.
    pub rows: u64,
}

/// The tables of a database and their row counts, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseSummary {
    /// Every table, sorted by name.
    pub tables: Vec<TableCount>,
}

impl DatabaseSummary {
    /// The rows of all tables together.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The rows of `table`, when the database has it.
    pub fn rows_of(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }
}

/// Counts the tables of `target` and their rows (exactly: `count(*)` per table).
pub fn summarize(target: &RestoreTarget) -> Result<DatabaseSummary, RestoreError> {
    match target {
        RestoreTarget::Postgres(c) => Psql::find(c)?.summarize(),
        RestoreTarget::Mysql(c) => MysqlClient::find(c)?.summarize(),
        RestoreTarget::Sqlite { path, .. } => sqlite::restore::summarize(path),
    }
}

/// Creates an empty database `name` on `base`'s server (for `verify --restore`) and returns
/// the target for it. For SQLite, `name` is the path of a file that must not exist yet.
pub fn create_database(base: &RestoreTarget, name: &str) -> Result<RestoreTarget, RestoreError> {
    let target = base.with_database(name);
    let why = "database names may hold letters, digits, `_` and `-` only";
    match &target {
        RestoreTarget::Postgres(c) => Psql::find(c)?.create_database(PlainName::new(name, why)?)?,
        RestoreTarget::Mysql(c) => {
            MysqlClient::find(c)?.create_database(PlainName::new(name, why)?)?
        }
        RestoreTarget::Sqlite { path, .. } if path.exists() => {
            return Err(RestoreError::NotEmpty {
                target: target.to_string(),
                detail: "the file exists".into(),
            });
        }
        RestoreTarget::Sqlite { .. } => {}
    }
    Ok(target)
}

/// Drops the database of `target` if it exists (for SQLite, deletes the file). Meant for the
/// scratch databases made by [`create_database`].
pub fn drop_database(target: &RestoreTarget) -> Result<(), RestoreError> {
    let why = "refusing to drop a database with an unusual name";
    match target {
        RestoreTarget::Postgres(c) => {
            Psql::find(c)?.drop_database(PlainName::new(&c.server.database, why)?)
        }
        RestoreTarget::Mysql(c) => {
            MysqlClient::find(c)?.drop_database(PlainName::new(&c.server.database, why)?)
        }
        RestoreTarget::Sqlite { path, .. } => sqlite::restore::delete(path),
    }
}

/// A database name that can be written into SQL as it is: letters, digits, `_` and `-`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlainName<'a>(&'a str);

impl<'a> PlainName<'a> {
    /// `name`, or [`RestoreError::InvalidTarget`] saying `why` it cannot be used.
    pub(crate) fn new(name: &'a str, why: &str) -> Result<Self, RestoreError> {
        if valid_db_name(name) {
            Ok(Self(name))
        } else {
            Err(RestoreError::InvalidTarget {
                spec: name.to_owned(),
                reason: why.to_owned(),
            })
        }
    }
}

impl fmt::Display for PlainName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A name for a scratch database: `{prefix}_{pid}_{unix-nanos}`.
pub fn scratch_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// True for names that need no quoting rules: the only ones created or dropped, since they
/// are written into SQL, and the only ones `restore --to` takes as a plain name.
fn valid_db_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
