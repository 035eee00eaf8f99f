//! Database sources for backupman, and restoring backups into databases.
//!
//! Each source implements [`backupman_core::Source`]: it produces the plain dump as a byte
//! stream that the engine compresses and stores.
//!
//! - [`SqliteSource`]: a consistent copy of a live SQLite database (online backup API);
//! - `postgres`: `pg_dump` plain SQL, streamed;
//! - `mysql`: `mariadb-dump` / `mysqldump` with a consistent snapshot, streamed.
//!
//! ```no_run
//! use backupman_core::Source;
//! use backupman_dump::SqliteSource;
//!
//! # async fn example() -> Result<(), backupman_core::SourceError> {
//! let source = SqliteSource::new("App", "/var/lib/app/app.db");
//! source.check().await?;
//! # Ok(()) }
//! ```

pub mod mysql;
pub mod postgres;
mod process;
pub mod restore;
mod sqlite;
mod tool_source;

pub use sqlite::SqliteSource;
