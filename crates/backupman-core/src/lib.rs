//! The backupman model and its run engine.
//!
//! `backupman-core` knows what a backup *is* and how one flows, and nothing about any
//! particular database or object store:
//!
//! - [`Source`]: something that produces a plain dump as a byte stream (implemented for
//!   PostgreSQL, MySQL/MariaDB and SQLite in `backupman-dump`);
//! - [`Drive`]: somewhere backups are stored, with streamed uploads that must end in
//!   [`Upload::complete`] or [`Upload::abort`] (the [`LocalDrive`] lives here, the S3 drive in
//!   `backupman-s3`);
//! - [`BackupKey`] and [`Manifest`]: how objects are named and described;
//! - [`Engine`]: one dump stream, compressed ([`Compression`]: gzip on every core, zstd or
//!   none), encrypted with age when given [`Recipients`], and hashed off the async threads,
//!   fanned out to every drive at once through bounded channels, so memory stays flat
//!   whatever the database size; [`open`] reads a stored object back ([`Identities`] for an
//!   encrypted one);
//! - `conformance` (with the `conformance` feature): the one suite every [`Drive`] must pass,
//!   for the tests of a drive of one's own.
//!
//! ```no_run
//! use std::sync::Arc;
//! use backupman_core::{Codec, Compression, Drive, Engine, LocalDrive, Source};
//!
//! # async fn example(source: Arc<dyn Source>) {
//! let drive: Arc<dyn Drive> = Arc::new(LocalDrive::new("local", "/var/backups/db"));
//! let zstd = Compression::new(Codec::Zstd, 3, 2);
//! let report = Engine::new(zstd).backup(source, &[drive]).await;
//! for outcome in &report.drives {
//!     println!("{}: {:?}", outcome.drive, outcome.result.as_ref().map(|o| &o.key));
//! }
//! # }
//! ```
//!
//! The library never prints; it logs through `tracing` and returns typed results that the
//! command-line front end turns into messages. Failures are [`DriveError`] and
//! [`SourceError`]: a kind to decide on, one line with a hint, and the error they were made
//! from (their `source()`); reports carry them as they are, and serialise them as that line.

#![warn(missing_docs)]

pub mod backoff;
mod codec;
mod compress;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod drive;
mod encryption;
mod engine;
pub mod index;
pub mod listing;
mod local;
mod manifest;
mod naming;
pub mod retention;
mod secret;
mod signing;
mod source;
pub mod stale;
mod stream_reader;
mod units;

pub use codec::{Codec, Compression, available_threads};
pub use compress::{
    HashingReader, Oversized, StoredCheck, check_stored, check_stored_within, decoder, open,
};
pub use drive::{
    ByteStream, Cause, CheckResult, Drive, DriveError, DriveErrorKind, IncompleteUpload, LockMode,
    ObjectInfo, ObjectLock, StoredObject, Upload, read_all, upload_bytes,
};
pub use encryption::{
    AGE_ENCRYPTION, AGE_KEY_SUFFIX, Identities, IdentityError, OpenError, RecipientError,
    Recipients, is_encrypted, readable_by_others,
};
pub use engine::{
    BackupReport, DriveOutcome, Engine, ProgressEvent, ProgressObserver, SourceFailure,
};
pub use local::LocalDrive;
pub use manifest::{Manifest, Mismatch};
pub use naming::{BackupKey, GLOBALS_DATABASE, random_hex, slugify};
pub use secret::Secret;
pub use signing::{
    BadSignature, SIGNATURE_SUFFIX, Signer, SigningKeyError, Verifier, signature_key,
};
pub use source::{Dump, DumpStatus, Source, SourceError, SourceErrorKind};
pub use stream_reader::{
    CheckError, StreamReader, check_against_manifest, check_object, check_object_within,
};
pub use tokio_util::sync::CancellationToken;
pub use units::{human_bytes, human_duration};
