//! The settings each source is built from, independent of how backupman's configuration
//! spells them: [`PostgresSettings`], [`MysqlSettings`] (MySQL and MariaDB) and
//! [`SqliteSettings`], and [`DatabaseSettings`], any one of them (what a restore target is
//! parsed against).
//!
//! Each is built with its `new`, then adjusted through its public fields; what is not set
//! keeps the default the field documents.

use std::fmt;
use std::path::PathBuf;

use crate::server::ServerSettings;

/// A PostgreSQL database dumped with `pg_dump` and restored with `psql`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PostgresSettings {
    /// The source's name, in reports, errors and its backups' folder.
    pub label: String,
    /// The server, the database and how to log in.
    pub server: ServerSettings,
    /// The `pg_dump` to run; `None` finds it on `PATH`. `psql` is looked for beside it first.
    pub dump_tool: Option<PathBuf>,
    /// Arguments added to `pg_dump`'s own.
    pub dump_options: Vec<String>,
    /// Tables left out of the dump, schema and data (`pg_dump --exclude-table`, whose
    /// patterns these are: `audit`, `public.audit`, `logs_*`).
    pub exclude_tables: Vec<String>,
    /// Tables whose definition is dumped but not their rows (`pg_dump --exclude-table-data`).
    pub exclude_table_data: Vec<String>,
    /// Dump the server's roles and tablespaces (`pg_dumpall --globals-only`, found beside
    /// `pg_dump`) instead of the database; restoring it recreates them on a server.
    pub globals: bool,
}

impl PostgresSettings {
    /// The database `server` names, backed up under `label`.
    pub fn new(label: impl Into<String>, server: ServerSettings) -> Self {
        Self {
            label: label.into(),
            server,
            ..Self::default()
        }
    }
}

/// Which server a [`MysqlSettings`] describes. Both are reached with the same tools; the
/// flavour names the source's provider in manifests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MysqlFlavor {
    /// MySQL.
    #[default]
    Mysql,
    /// MariaDB.
    Mariadb,
}

impl MysqlFlavor {
    /// `mysql` or `mariadb`, as a configuration names the provider.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
        }
    }
}

impl fmt::Display for MysqlFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MySQL or MariaDB database dumped with `mariadb-dump` / `mysqldump` and restored with the
/// `mariadb` / `mysql` client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MysqlSettings {
    /// The source's name, in reports, errors and its backups' folder.
    pub label: String,
    /// MySQL or MariaDB.
    pub flavor: MysqlFlavor,
    /// The server, the database and how to log in.
    pub server: ServerSettings,
    /// The dump tool to run; `None` finds `mariadb-dump`, else `mysqldump`, on `PATH`.
    pub dump_tool: Option<PathBuf>,
    /// Arguments added to the dump tool's own (before the database name).
    pub dump_options: Vec<String>,
    /// Tables left out of the dump, schema and data (`--ignore-table=DATABASE.TABLE`).
    pub exclude_tables: Vec<String>,
    /// Tables whose definition is dumped but not their rows (`--ignore-table-data`, which
    /// `mariadb-dump` has and MySQL's `mysqldump` has not: with it such a source fails, saying
    /// so).
    pub exclude_table_data: Vec<String>,
}

impl MysqlSettings {
    /// The database `server` names, on a `flavor` server, backed up under `label`.
    pub fn new(label: impl Into<String>, flavor: MysqlFlavor, server: ServerSettings) -> Self {
        Self {
            label: label.into(),
            flavor,
            server,
            ..Self::default()
        }
    }
}

/// An SQLite database file, copied with the online backup API and restored by renaming a
/// checked copy into place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SqliteSettings {
    /// The source's name, in reports, errors and its backups' folder.
    pub label: String,
    /// The database file.
    pub db_path: PathBuf,
    /// Where the copy a backup streams from, and the file a restore writes before it replaces
    /// the target, are staged (each in a private folder or file, removed afterwards). `None`:
    /// the system's temporary folder for backups, the target's own folder for restores.
    pub staging_dir: Option<PathBuf>,
}

impl SqliteSettings {
    /// The database file at `db_path`, backed up under `label`.
    pub fn new(label: impl Into<String>, db_path: impl Into<PathBuf>) -> Self {
        Self {
            label: label.into(),
            db_path: db_path.into(),
            ..Self::default()
        }
    }
}

/// The settings of a source of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseSettings {
    /// A PostgreSQL database.
    Postgres(PostgresSettings),
    /// A MySQL or MariaDB database.
    Mysql(MysqlSettings),
    /// An SQLite database file.
    Sqlite(SqliteSettings),
}

impl DatabaseSettings {
    /// The source's label.
    pub fn label(&self) -> &str {
        match self {
            Self::Postgres(s) => &s.label,
            Self::Mysql(s) => &s.label,
            Self::Sqlite(s) => &s.label,
        }
    }

    /// `postgres`, `mysql`, `mariadb` or `sqlite`: the provider a source of these settings
    /// reports.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Mysql(s) => s.flavor.as_str(),
            Self::Sqlite(_) => "sqlite",
        }
    }
}

impl From<PostgresSettings> for DatabaseSettings {
    fn from(settings: PostgresSettings) -> Self {
        Self::Postgres(settings)
    }
}

impl From<MysqlSettings> for DatabaseSettings {
    fn from(settings: MysqlSettings) -> Self {
        Self::Mysql(settings)
    }
}

impl From<SqliteSettings> for DatabaseSettings {
    fn from(settings: SqliteSettings) -> Self {
        Self::Sqlite(settings)
    }
}
