//! The S3 drive: backupman's [`Drive`](backupman_core::Drive) on Amazon S3 or any
//! S3-compatible store (MinIO, DigitalOcean Spaces, Wasabi, Backblaze B2, Linode), on
//! `aws-sdk-s3`.
//!
//! - [`S3Drive::new`] builds the client from [`S3Settings`], in one place: region,
//!   endpoint, path-style or virtual-hosted URLs, static keys or the default AWS credential
//!   chain, timeouts and retries ([`S3Drive::client`] hands it out for anything else);
//! - uploads stream: a stream smaller than one part goes up as one PutObject, a larger one as
//!   a multipart upload with a few parts in flight (memory stays bounded), aborted on any
//!   failure so no partial object or orphaned part is left behind;
//! - nothing is ever replaced: `begin` refuses a key that exists (HeadObject), and the write
//!   that makes an object visible carries `If-None-Match: *`, so a store that honours it
//!   refuses a writer that came second ([`DriveErrorKind::AlreadyExists`]);
//! - multipart uploads left open by a killed process are listed under the prefix and aborted
//!   through [`Drive::incomplete_uploads`] and [`Drive::discard_incomplete`];
//! - every write carries a CRC32C of its bytes (`x-amz-checksum-crc32c`; a multipart upload
//!   per part), so a store that checks it refuses bytes altered on the way; a store that
//!   answers it with 501 gets the write without it, said once in `health`;
//! - with [`S3Settings::object_lock`], every object is written with an Object Lock retention
//!   (`health` checks the bucket allows it), and [`Drive::locked_until`] tells retention
//!   which backups it must leave;
//! - the default HTTPS client trusts the system's CAs plus those of `ca_file` or
//!   `AWS_CA_BUNDLE`, and always verifies certificates;
//! - every failure is one line with the cause and what to check (see the troubleshooting
//!   section of `docs/drives/s3.md`), never an SDK dump or a secret;
//! - [`S3Drive::health`](backupman_core::Drive::health) checks PutObject, GetObject,
//!   ListBucket, DeleteObject and multipart upload + abort one by one, then warns when the
//!   store ignores `If-None-Match` or incomplete multipart uploads are left under the prefix.
//!
//! [`DriveErrorKind::AlreadyExists`]: backupman_core::DriveErrorKind::AlreadyExists
//! [`Drive::incomplete_uploads`]: backupman_core::Drive::incomplete_uploads
//! [`Drive::discard_incomplete`]: backupman_core::Drive::discard_incomplete
//! [`Drive::locked_until`]: backupman_core::Drive::locked_until
//!
//! ```no_run
//! use backupman_core::{Drive, read_all, upload_bytes};
//! use backupman_s3::{S3Credentials, S3Drive, S3Settings};
//!
//! # async fn example() -> Result<(), backupman_core::DriveError> {
//! let mut settings = S3Settings::new("MinIO", "dev-backups", "us-east-1");
//! settings.endpoint = Some("http://localhost:9000".into());
//! settings.prefix = "dev-db-backups".into();
//! settings.force_path_style = true;
//! settings.credentials = Some(S3Credentials::new("minioadmin", "minioadmin123"));
//! let drive = S3Drive::new(settings)?;
//! upload_bytes(&drive, "hello.txt", "hi\n".into()).await?; // s3://dev-backups/dev-db-backups/hello.txt
//! assert_eq!(read_all(&drive, "hello.txt").await?, b"hi\n");
//! for check in drive.health().await {
//!     println!("{}: {:?}", check.check, check.result.map_err(|e| e.to_string()));
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod compat;
mod drive;
mod errors;
mod health;
mod lock;
mod settings;
mod shared;
mod upload;

pub use client::{DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_SECONDS};
pub use drive::{DEFAULT_PART_SIZE_MB, S3Drive};
pub use errors::S3Failure;
pub use health::HEALTH_PREFIX;
pub use settings::{LockMode, ObjectLock, S3Credentials, S3Settings, SecretKey};

/// Re-exported so callers can pass a custom HTTP client to [`S3Drive::with_http_client`].
pub use aws_sdk_s3::config::SharedHttpClient;
