//! Database sources for backupman, and restoring backups into databases.
//!
//! Each source implements [`backupman_core::Source`]: it produces the plain dump as a byte
//! stream that the engine compresses and stores. One module per database holds both sides,
//! the dump and the restore, over one connection type:
//!
//! - [`sqlite`](SqliteSource): a consistent copy of a live SQLite database (online backup
//!   API), restored by an atomic rename;
//! - [`postgres`]: `pg_dump` plain SQL, streamed; restored with `psql` in one transaction;
//! - [`mysql`]: `mariadb-dump` / `mysqldump` with a consistent snapshot, streamed; restored
//!   with the `mariadb` / `mysql` client.
//!
//! Each source is built from its own settings ([`PostgresSettings`], [`MysqlSettings`],
//! [`SqliteSettings`]; the two server databases share [`ServerSettings`]), whatever configuration
//! they come from. [`restore`] streams a stored backup back into any of them, checking its
//! SHA-256 on the way; its target is the source's database or one named against its settings
//! ([`RestoreTarget::parse`](restore::RestoreTarget::parse)).
//!
//! Every child process (dump tools, restore clients, and a source's hooks, which
//! `backupman-ops` runs) is run by [`supervise`]: its own process group, stderr kept up to
//! one limit, killed with everything it started on cancel, timeout or drop.
//!
//! ```no_run
//! use backupman_core::Source;
//! use backupman_dump::restore::{RestoreOptions, RestoreTarget, restore};
//! use backupman_dump::{SqliteSettings, SqliteSource};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = SqliteSettings::new("App", "/var/lib/app/app.db");
//! let source = SqliteSource::new(settings.clone());
//! source.check().await?;
//!
//! // A stored backup, restored into a new file (nothing is replaced unless `force` is set).
//! let backup = std::fs::File::open("app-20260101T030000Z.sqlite.gz")?;
//! let target = RestoreTarget::parse("/tmp/app-copy.db", &settings.into())?;
//! let outcome = restore(backup, &target, &RestoreOptions::default())?;
//! println!("restored {:?} bytes, SHA-256 {}", outcome.plain_size, outcome.sha256);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod databases;
pub mod mysql;
pub mod postgres;
mod process;
pub mod restore;
mod server;
mod settings;
mod sqlite;
pub mod supervise;
mod tool_source;

pub use databases::{ServerDatabase, list_databases};
pub use mysql::MysqlSource;
pub use postgres::PostgresSource;
pub use server::ServerSettings;
pub use settings::{
    DatabaseSettings, MysqlFlavor, MysqlSettings, PostgresSettings, SqliteSettings,
};
pub use sqlite::SqliteSource;
