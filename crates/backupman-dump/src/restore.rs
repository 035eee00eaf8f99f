//! Restore: stream a stored (gzipped) backup back into a database.
//!
//! ```text
//! stored object ──> SHA-256 ──> gunzip ──┬──> psql --single-transaction   (PostgreSQL)
//!  (any blocking Read)                   ├──> mariadb / mysql client       (MySQL, MariaDB)
//!                                        └──> temp file ─ check ─ rename   (SQLite)
//! ```
//!
//! The hash of the stored bytes is checked while they stream. The client's stdin is only
//! closed once the hash matched, so:
//!
//! - PostgreSQL: `psql` runs the whole dump in one transaction that commits only at the end
//!   of its input; on a mismatch, a truncated or corrupt object, or an SQL error the client is
//!   killed (or exits) before committing, and **nothing** is applied;
//! - SQLite: the file is written beside the target and renamed over it only when it is
//!   complete, matches and passes `PRAGMA quick_check`;
//! - MySQL/MariaDB: DDL commits implicitly, so statements executed before a failure stay
//!   applied. [`RestoreTarget::is_transactional`] says so; callers verify the object first
//!   (`verify`) when that matters, or restore into a scratch database.
//!
//! Also here: creating and dropping scratch databases (`verify --restore`) and counting the
//! tables and rows of a database (the report after a restore).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use backupman_config::{Secret, SourceConfig, SourceProvider};
use backupman_core::{
    ByteStream, GzipCheck, HashingReader, Manifest, Mismatch, StreamReader, gzip_decoder,
};

use crate::mysql::{connection_args, is_mariadb_tool};
use crate::postgres::pg_env_parts;
use crate::process::{
    self, StderrDrain, Streaming, find_companion, find_tool, run_capture, tool_name,
};

/// A database server to restore into.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerTarget {
    pub host: String,
    /// 0 means the provider's default port.
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub database: String,
    /// TLS mode as in the configuration (`disable` … `verify-full`).
    pub tls: Option<String>,
    /// The client (`psql`, `mariadb`, `mysql`) when not the one on `PATH`.
    pub client: Option<PathBuf>,
}

impl fmt::Debug for ServerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("database", &self.database)
            .field("tls", &self.tls)
            .field("client", &self.client)
            .finish()
    }
}

/// Where a backup is restored to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    Postgres(ServerTarget),
    /// MySQL or MariaDB.
    Mysql(ServerTarget),
    /// An SQLite database file.
    Sqlite(PathBuf),
}

impl fmt::Display for RestoreTarget {
    /// A URL without the password: `postgres://user@host:5432/db`, `sqlite:///path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, server, default_port) = match self {
            Self::Postgres(s) => ("postgres", s, 5432),
            Self::Mysql(s) => ("mysql", s, 3306),
            Self::Sqlite(path) => return write!(f, "sqlite://{}", path.display()),
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &server.user {
            write!(f, "{user}@")?;
        }
        let port = if server.port == 0 {
            default_port
        } else {
            server.port
        };
        if server.host.contains(':') {
            write!(f, "[{}]:{port}/{}", server.host, server.database)
        } else {
            write!(f, "{}:{port}/{}", server.host, server.database)
        }
    }
}

impl RestoreTarget {
    /// The source's own database (restore in place).
    pub fn from_source(cfg: &SourceConfig) -> Result<Self, RestoreError> {
        let server = || ServerTarget {
            host: cfg.host.clone(),
            port: cfg.port,
            user: cfg.user.clone(),
            password: cfg.password.clone(),
            database: cfg.db_name.clone().unwrap_or_default(),
            tls: cfg.tls.clone(),
            client: None,
        };
        match cfg.provider {
            SourceProvider::Postgres => {
                let mut target = server();
                target.client = cfg
                    .dump_tool
                    .as_deref()
                    .and_then(|tool| find_companion(Some(tool), "psql"));
                Ok(Self::Postgres(target))
            }
            SourceProvider::Mysql | SourceProvider::Mariadb => Ok(Self::Mysql(server())),
            SourceProvider::Sqlite => {
                cfg.db_path
                    .clone()
                    .map(Self::Sqlite)
                    .ok_or_else(|| RestoreError::InvalidTarget {
                        spec: cfg.label.clone(),
                        reason: "the source has no db_path".into(),
                    })
            }
        }
    }

    /// Parses `restore --to`: a URL (`postgres://user:pw@host:port/db?sslmode=require`,
    /// `mysql://…`, `mariadb://…`, `sqlite:///path/to/file.db`), a plain database name on the
    /// source's server, or (SQLite sources) a file path. Parts a URL leaves out come from the
    /// source; its password only when host and user are unchanged.
    pub fn parse(spec: &str, source: &SourceConfig) -> Result<Self, RestoreError> {
        let invalid = |reason: String| RestoreError::InvalidTarget {
            spec: spec.to_owned(),
            reason,
        };
        let base = Self::from_source(source)?;
        let Some((scheme, rest)) = spec.split_once("://") else {
            return match base {
                Self::Sqlite(_) => Ok(Self::Sqlite(PathBuf::from(spec))),
                Self::Postgres(mut s) | Self::Mysql(mut s) if valid_db_name(spec) => {
                    s.database = spec.to_owned();
                    Ok(match source.provider {
                        SourceProvider::Postgres => Self::Postgres(s),
                        _ => Self::Mysql(s),
                    })
                }
                _ => Err(invalid(
                    "expected a database name or a URL such as postgres://user@host:5432/db".into(),
                )),
            };
        };
        let scheme = scheme.to_ascii_lowercase();
        let wanted = match scheme.as_str() {
            "postgres" | "postgresql" => "postgres",
            "mysql" | "mariadb" => "mysql",
            "sqlite" => "sqlite",
            other => return Err(invalid(format!("unknown scheme {other}://"))),
        };
        if wanted != base.provider() {
            return Err(invalid(format!(
                "a {} backup cannot be restored into {wanted}",
                source.provider
            )));
        }
        let mut server = match base {
            Self::Sqlite(_) => return Ok(Self::Sqlite(PathBuf::from(rest))),
            Self::Postgres(s) | Self::Mysql(s) => s,
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        // `host`, `host:port`, `[v6]`, `[v6]:port`.
        let (host, port_text) = match hostport.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| invalid("unclosed [ in the host".into()))?;
                (host, after.strip_prefix(':'))
            }
            None => match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            },
        };
        let port = port_text
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| invalid(format!("invalid port {p:?}")))
            })
            .transpose()?;
        let same_server = host.is_empty() || host == server.host;
        if !host.is_empty() {
            server.host = percent_decode(host).map_err(&invalid)?;
        }
        if let Some(port) = port {
            server.port = port;
        }
        let mut password_given = false;
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let user = percent_decode(user).map_err(&invalid)?;
            if !user.is_empty() && server.user.as_deref() != Some(user.as_str()) {
                server.user = Some(user);
                server.password = None;
            }
            if let Some(password) = password {
                server.password = Some(Secret::new(percent_decode(password).map_err(&invalid)?));
                password_given = true;
            }
        }
        if !same_server && !password_given {
            server.password = None;
        }
        if !path.is_empty() {
            server.database = percent_decode(path).map_err(&invalid)?;
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode" | "tls" | "ssl-mode", mode)) => {
                    server.tls = Some(mode.to_ascii_lowercase())
                }
                _ => return Err(invalid(format!("unknown URL parameter {pair:?}"))),
            }
        }
        if server.database.is_empty() {
            return Err(invalid("no database name".into()));
        }
        Ok(match wanted {
            "postgres" => Self::Postgres(server),
            _ => Self::Mysql(server),
        })
    }

    /// `postgres`, `mysql` or `sqlite`.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Mysql(_) => "mysql",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// True when a failed restore applies nothing (PostgreSQL, SQLite); false for MySQL and
    /// MariaDB, whose DDL commits statement by statement.
    pub fn is_transactional(&self) -> bool {
        !matches!(self, Self::Mysql(_))
    }

    /// The same server with another database (or another SQLite file).
    pub fn with_database(&self, name: &str) -> Self {
        match self {
            Self::Postgres(s) => Self::Postgres(ServerTarget {
                database: name.to_owned(),
                ..s.clone()
            }),
            Self::Mysql(s) => Self::Mysql(ServerTarget {
                database: name.to_owned(),
                ..s.clone()
            }),
            Self::Sqlite(_) => Self::Sqlite(PathBuf::from(name)),
        }
    }
}

/// What to check and allow while restoring.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The backup's manifest: what is read must pass [`Manifest::check`] (SHA-256 and both
    /// sizes), or the restore fails before anything is committed.
    pub expected: Option<Manifest>,
    /// Restore over a database that already has tables (or over an existing SQLite file).
    pub force: bool,
}

/// What a successful restore read: the stored object's size and SHA-256, and the size of the
/// plain dump fed to the database.
pub type RestoreOutcome = GzipCheck;

/// Why a restore failed, phrased for a person, saying whether anything was applied.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A client tool is missing or cannot be started.
    #[error("{0}")]
    Tool(String),
    /// The client rejected the dump (its stderr is in `message`).
    #[error("restoring into {target} failed: {message}; {}", applied_note(!*transactional))]
    Client {
        target: String,
        message: String,
        transactional: bool,
    },
    /// The object read back is not the one the manifest describes.
    #[error("the backup is damaged: {mismatch}; {}", applied_note(*partially_applied))]
    Damaged {
        mismatch: Mismatch,
        partially_applied: bool,
    },
    /// The object could not be read or decompressed to its end (truncated, corrupt).
    #[error("the backup cannot be read to its end ({cause}); {}", applied_note(*partially_applied))]
    Corrupt {
        #[source]
        cause: io::Error,
        partially_applied: bool,
    },
    /// The target already holds data and `force` was not given.
    #[error("{target} is not empty ({detail}); use --force to restore over it")]
    NotEmpty { target: String, detail: String },
    #[error("invalid restore target {spec:?}: {reason}")]
    InvalidTarget { spec: String, reason: String },
    #[error("{context}: {cause}")]
    Io {
        context: String,
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
        RestoreTarget::Sqlite(path) => restore_sqlite(reader, path, options),
        RestoreTarget::Postgres(_) | RestoreTarget::Mysql(_) => {
            restore_server(reader, target, options)
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

fn restore_server<R: Read>(
    reader: R,
    target: &RestoreTarget,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let client = Client::for_target(target)?;
    if !options.force {
        let objects = client.count_objects()?;
        if objects > 0 {
            return Err(RestoreError::NotEmpty {
                target: target.to_string(),
                detail: format!("{objects} tables, views or sequences"),
            });
        }
    }
    let transactional = target.is_transactional();
    let mut cmd = client.restore_command();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RestoreError::Tool(format!("cannot run {}: {e}", client.name())))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stderr = StderrDrain::start(&mut child);
    let running = Streaming {
        name: client.name(),
        child,
        stderr,
    };
    let client_failed = |running: Streaming| {
        let message = match running.wait() {
            Err(message) => message,
            Ok(_) => "the client stopped reading its input".to_owned(),
        };
        RestoreError::Client {
            target: target.to_string(),
            message,
            transactional,
        }
    };
    let pumped = match pump(reader, &mut stdin) {
        Ok(pumped) => pumped,
        Err(PumpError::Write(_)) => {
            drop(stdin);
            return Err(client_failed(running));
        }
        Err(PumpError::Read(cause)) => {
            running.kill();
            return Err(RestoreError::Corrupt {
                cause,
                partially_applied: !transactional,
            });
        }
    };
    if let Err(mismatch) = check_read(options, &pumped) {
        // Killed before its input ends: psql never sends COMMIT.
        running.kill();
        return Err(RestoreError::Damaged {
            mismatch,
            partially_applied: !transactional,
        });
    }
    drop(stdin);
    running.wait().map_err(|message| RestoreError::Client {
        target: target.to_string(),
        message,
        transactional,
    })?;
    Ok(pumped)
}

/// Writes the SQLite file beside the target, checks it, then renames it into place.
fn restore_sqlite<R: Read>(
    reader: R,
    path: &Path,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    let io_err = |context: String| move |cause| RestoreError::Io { context, cause };
    if path.exists() && !options.force {
        return Err(RestoreError::NotEmpty {
            target: path.display().to_string(),
            detail: "the file exists".into(),
        });
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| RestoreError::InvalidTarget {
            spec: path.display().to_string(),
            reason: "not a file path".into(),
        })?
        .to_string_lossy();
    let temp = TempFile(dir.join(format!(".{name}.backupman-restore-{}", std::process::id())));
    let mut file =
        File::create(&temp.0).map_err(io_err(format!("cannot create {}", temp.0.display())))?;
    let pumped = pump(reader, &mut file).map_err(|e| match e {
        PumpError::Read(cause) => RestoreError::Corrupt {
            cause,
            partially_applied: false,
        },
        PumpError::Write(cause) => RestoreError::Io {
            context: format!("cannot write {}", temp.0.display()),
            cause,
        },
    })?;
    if let Err(mismatch) = check_read(options, &pumped) {
        return Err(RestoreError::Damaged {
            mismatch,
            partially_applied: false,
        });
    }
    file.sync_all()
        .map_err(io_err(format!("cannot write {}", temp.0.display())))?;
    drop(file);
    check_sqlite_file(&temp.0)?;
    // Journals of the replaced database would be replayed onto the new one, so they go first:
    // one that cannot be removed stops the restore before the target is touched.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        match fs::remove_file(&side) {
            Err(cause) if cause.kind() != io::ErrorKind::NotFound => {
                return Err(RestoreError::Io {
                    context: format!(
                        "cannot remove the stale journal {}, so the database was not replaced",
                        side.display()
                    ),
                    cause,
                });
            }
            _ => {}
        }
    }
    fs::rename(&temp.0, path).map_err(io_err(format!(
        "cannot move the restored database to {}",
        path.display()
    )))?;
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(pumped)
}

fn check_sqlite_file(path: &Path) -> Result<(), RestoreError> {
    let corrupt = |message: String| RestoreError::Corrupt {
        cause: io::Error::new(io::ErrorKind::InvalidData, message),
        partially_applied: false,
    };
    let mut header = [0u8; 16];
    let header_ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && &header == b"SQLite format 3\0";
    if !header_ok {
        return Err(corrupt("the backup is not an SQLite database file".into()));
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| corrupt(format!("cannot open the restored database: {e}")))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| corrupt(format!("PRAGMA quick_check failed: {e}")))?;
    if verdict != "ok" {
        return Err(corrupt(format!("PRAGMA quick_check: {verdict}")));
    }
    Ok(())
}

/// Removed on drop unless renamed away.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The manifest's check of what was read, when there is a manifest.
fn check_read(options: &RestoreOptions, read: &GzipCheck) -> Result<(), Mismatch> {
    options.expected.as_ref().map_or(Ok(()), |m| m.check(read))
}

enum PumpError {
    /// Reading or decompressing the backup failed.
    Read(io::Error),
    /// The destination stopped accepting (the client exited).
    Write(io::Error),
}

/// Hashes the stored bytes, gunzips them into `sink`, then hashes whatever trails the gzip
/// stream, so the hash covers the whole object.
fn pump<R: Read, W: Write>(reader: R, sink: &mut W) -> Result<RestoreOutcome, PumpError> {
    let mut hashing = HashingReader::new(reader);
    let mut plain_size = 0u64;
    {
        let mut decoder = gzip_decoder(&mut hashing);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PumpError::Read(e)),
            };
            sink.write_all(&buf[..n]).map_err(PumpError::Write)?;
            plain_size += n as u64;
        }
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(PumpError::Read)?;
    let (compressed_size, sha256) = hashing.finish();
    Ok(RestoreOutcome {
        compressed_size,
        plain_size,
        sha256,
    })
}

/// One table and its exact row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// `schema.table` (PostgreSQL) or `table`.
    pub name: String,
    pub rows: u64,
}

/// The tables of a database and their row counts, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseSummary {
    pub tables: Vec<TableCount>,
}

impl DatabaseSummary {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    pub fn rows_of(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }
}

/// Counts the tables of `target` and their rows (exactly: `count(*)` per table).
pub fn summarize(target: &RestoreTarget) -> Result<DatabaseSummary, RestoreError> {
    match target {
        RestoreTarget::Sqlite(path) => summarize_sqlite(path),
        _ => Client::for_target(target)?.summarize(),
    }
}

/// Creates an empty database `name` on `base`'s server (for `verify --restore`) and returns
/// the target for it. For SQLite, `name` is the path of a file that must not exist yet.
pub fn create_database(base: &RestoreTarget, name: &str) -> Result<RestoreTarget, RestoreError> {
    let target = base.with_database(name);
    match &target {
        RestoreTarget::Sqlite(path) => {
            if path.exists() {
                return Err(RestoreError::NotEmpty {
                    target: target.to_string(),
                    detail: "the file exists".into(),
                });
            }
        }
        _ => {
            if !valid_db_name(name) {
                return Err(RestoreError::InvalidTarget {
                    spec: name.to_owned(),
                    reason: "database names may hold letters, digits, `_` and `-` only".into(),
                });
            }
            let client = Client::for_target(base)?;
            let sql = match base {
                RestoreTarget::Postgres(_) => format!("CREATE DATABASE \"{name}\""),
                _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
            };
            client.admin(&sql)?;
        }
    }
    Ok(target)
}

/// Drops the database of `target` if it exists (for SQLite, deletes the file). Meant for the
/// scratch databases made by [`create_database`].
pub fn drop_database(target: &RestoreTarget) -> Result<(), RestoreError> {
    match target {
        RestoreTarget::Sqlite(path) => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RestoreError::Io {
                context: format!("cannot delete {}", path.display()),
                cause: e,
            }),
            _ => Ok(()),
        },
        RestoreTarget::Postgres(s) | RestoreTarget::Mysql(s) => {
            if !valid_db_name(&s.database) {
                return Err(RestoreError::InvalidTarget {
                    spec: s.database.clone(),
                    reason: "refusing to drop a database with an unusual name".into(),
                });
            }
            let client = Client::for_target(target)?;
            match target {
                RestoreTarget::Postgres(_) => {
                    // WITH (FORCE) (PostgreSQL 13+) ends sessions left over from a killed client.
                    let forced = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", s.database);
                    client.admin(&forced).or_else(|_| {
                        client.admin(&format!("DROP DATABASE IF EXISTS \"{}\"", s.database))
                    })
                }
                _ => client.admin(&format!("DROP DATABASE IF EXISTS `{}`", s.database)),
            }
        }
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

fn valid_db_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn summarize_sqlite(path: &Path) -> Result<DatabaseSummary, RestoreError> {
    let fail = |e: rusqlite::Error| RestoreError::Io {
        context: format!("cannot read {}", path.display()),
        cause: io::Error::other(e.to_string()),
    };
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(fail)?;
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .map_err(fail)?;
    let names: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {quoted}"), [], |row| {
                row.get(0)
            })
            .map_err(fail)?;
        tables.push(TableCount {
            name,
            rows: rows as u64,
        });
    }
    Ok(DatabaseSummary { tables })
}

/// The command-line client of a server target.
struct Client<'a> {
    target: &'a RestoreTarget,
    server: &'a ServerTarget,
    tool: PathBuf,
    mariadb: bool,
}

const MYSQL_CLIENTS: &[&str] = &["mariadb", "mysql"];

impl<'a> Client<'a> {
    fn for_target(target: &'a RestoreTarget) -> Result<Self, RestoreError> {
        let (server, names, hint) = match target {
            RestoreTarget::Postgres(s) => (s, &["psql"][..], "postgresql-client"),
            RestoreTarget::Mysql(s) => (s, MYSQL_CLIENTS, "mariadb-client"),
            RestoreTarget::Sqlite(_) => unreachable!("SQLite needs no client"),
        };
        let tool = find_tool(server.client.as_deref(), names)
            .map_err(|e| RestoreError::Tool(format!("{e}: install {hint}")))?;
        let mariadb = matches!(target, RestoreTarget::Mysql(_))
            && is_mariadb_tool(process::tool_version(&tool).as_deref());
        Ok(Self {
            target,
            server,
            tool,
            mariadb,
        })
    }

    fn name(&self) -> String {
        tool_name(&self.tool)
    }

    /// A client command connected to `database` (None: the server's maintenance database).
    fn command(&self, database: Option<&str>) -> Command {
        let s = self.server;
        let mut cmd = Command::new(&self.tool);
        match self.target {
            RestoreTarget::Postgres(_) => {
                pg_env_parts(
                    &mut cmd,
                    &s.host,
                    s.port,
                    s.user.as_deref(),
                    s.password.as_ref().map(Secret::expose),
                    Some(database.unwrap_or("postgres")),
                    s.tls.as_deref(),
                );
                cmd.args(["-X", "--no-password", "-v", "ON_ERROR_STOP=1"]);
            }
            _ => {
                cmd.args(connection_args(
                    &s.host,
                    s.port,
                    s.user.as_deref(),
                    s.tls.as_deref(),
                    self.mariadb,
                ));
                cmd.arg("--default-character-set=utf8mb4");
                if let Some(password) = &s.password {
                    cmd.env("MYSQL_PWD", password.expose());
                }
                if let Some(db) = database {
                    cmd.arg(format!("--database={db}"));
                }
            }
        }
        cmd
    }

    fn restore_command(&self) -> Command {
        let mut cmd = self.command(Some(&self.server.database));
        match self.target {
            RestoreTarget::Postgres(_) => {
                cmd.args(["--quiet", "--single-transaction", "--file=-"]);
            }
            _ => {
                cmd.arg("--batch");
            }
        }
        cmd
    }

    /// Runs one query in the target database; stdout, with fields separated by NUL (psql)
    /// or tab (mysql).
    fn query(&self, sql: &str) -> Result<String, RestoreError> {
        let mut cmd = self.command(Some(&self.server.database));
        match self.target {
            RestoreTarget::Postgres(_) => cmd.args(["-A", "-t", "-z", "-c", sql]),
            _ => cmd.args(["--batch", "--skip-column-names", "--raw", "-e", sql]),
        };
        run_capture(&mut cmd, None).map_err(|message| RestoreError::Client {
            target: self.target.to_string(),
            message,
            transactional: true,
        })
    }

    /// Runs one statement outside the target database (CREATE/DROP DATABASE).
    fn admin(&self, sql: &str) -> Result<(), RestoreError> {
        let mut cmd = self.command(None);
        match self.target {
            RestoreTarget::Postgres(_) => cmd.args(["-q", "-c", sql]),
            _ => cmd.args(["--batch", "-e", sql]),
        };
        run_capture(&mut cmd, None)
            .map(|_| ())
            .map_err(|message| RestoreError::Client {
                target: self.target.to_string(),
                message,
                transactional: true,
            })
    }

    fn count_objects(&self) -> Result<u64, RestoreError> {
        let sql = match self.target {
            RestoreTarget::Postgres(_) => {
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
            }
            _ => "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
        };
        let out = self.query(sql)?;
        out.trim().parse().map_err(|_| RestoreError::Client {
            target: self.target.to_string(),
            message: format!("unexpected answer to a table count: {:?}", out.trim()),
            transactional: true,
        })
    }

    fn summarize(&self) -> Result<DatabaseSummary, RestoreError> {
        let bad = |line: &str| RestoreError::Client {
            target: self.target.to_string(),
            message: format!("unexpected line in a row count: {line:?}"),
            transactional: true,
        };
        let mut tables = Vec::new();
        match self.target {
            RestoreTarget::Postgres(_) => {
                let out = self.query(
                    "SELECT format('%I.%I', table_schema, table_name), \
                       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
                          table_schema, table_name), false, true, '')))[1]::text \
                     FROM information_schema.tables \
                     WHERE table_type = 'BASE TABLE' \
                       AND table_schema NOT IN ('pg_catalog', 'information_schema') \
                     ORDER BY 1",
                )?;
                for line in out.lines().filter(|l| !l.is_empty()) {
                    let (name, rows) = line.split_once('\0').ok_or_else(|| bad(line))?;
                    let rows = rows.parse().map_err(|_| bad(line))?;
                    tables.push(TableCount {
                        name: name.to_owned(),
                        rows,
                    });
                }
            }
            _ => {
                let out = self.query(
                    "SELECT table_name FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
                )?;
                let names: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
                for (chunk_no, chunk) in names.chunks(200).enumerate() {
                    let sql = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, name)| {
                            format!(
                                "SELECT {}, count(*) FROM `{}`",
                                chunk_no * 200 + i,
                                name.replace('`', "``")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" UNION ALL ");
                    for line in self.query(&sql)?.lines().filter(|l| !l.is_empty()) {
                        let (index, rows) = line.split_once('\t').ok_or_else(|| bad(line))?;
                        let index: usize = index.parse().map_err(|_| bad(line))?;
                        let name = names.get(index).ok_or_else(|| bad(line))?;
                        tables.push(TableCount {
                            name: (*name).to_owned(),
                            rows: rows.parse().map_err(|_| bad(line))?,
                        });
                    }
                }
                tables.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
        Ok(DatabaseSummary { tables })
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_core::DriveError;
    use bytes::Bytes;
    use flate2::{Compression, write::GzEncoder};
    use futures::StreamExt;
    use sha2::{Digest, Sha256};

    fn source(provider: SourceProvider) -> SourceConfig {
        SourceConfig {
            label: "app".into(),
            provider,
            host: "db.internal".into(),
            port: 5432,
            db_name: Some("app".into()),
            user: Some("backup".into()),
            password: Some(Secret::new("source-pw")),
            tls: None,
            db_path: Some("/srv/app.db".into()),
            dump_tool: None,
            dump_options: vec![],
        }
    }

    fn server(target: RestoreTarget) -> ServerTarget {
        match target {
            RestoreTarget::Postgres(s) | RestoreTarget::Mysql(s) => s,
            RestoreTarget::Sqlite(p) => panic!("unexpected sqlite {p:?}"),
        }
    }

    #[test]
    fn targets_parse_from_urls_and_names() {
        let pg = source(SourceProvider::Postgres);
        let t = server(RestoreTarget::parse("scratch_1", &pg).unwrap());
        assert_eq!(
            (t.database.as_str(), t.host.as_str()),
            ("scratch_1", "db.internal")
        );
        assert_eq!(t.password, Some(Secret::new("source-pw")));

        let t = server(
            RestoreTarget::parse(
                "postgresql://other:p%40ss@10.0.0.5:6543/copy?sslmode=require",
                &pg,
            )
            .unwrap(),
        );
        assert_eq!(t.user.as_deref(), Some("other"));
        assert_eq!(t.password, Some(Secret::new("p@ss")));
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("10.0.0.5", 6543, "copy")
        );
        assert_eq!(t.tls.as_deref(), Some("require"));

        // Another host without a password: the source's password is not sent there.
        let t = server(RestoreTarget::parse("postgres://elsewhere/copy", &pg).unwrap());
        assert_eq!(t.password, None);
        assert_eq!(t.user.as_deref(), Some("backup"));

        let t = server(RestoreTarget::parse("postgres://[::1]:6000/v6", &pg).unwrap());
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("::1", 6000, "v6")
        );
        let t = server(RestoreTarget::parse("postgres://[fe80::1]/v6", &pg).unwrap());
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", 5432));
        assert_eq!(
            RestoreTarget::Postgres(t).to_string(),
            "postgres://backup@[fe80::1]:5432/v6"
        );
        assert!(RestoreTarget::parse("postgres://h:notaport/db", &pg).is_err());

        assert!(RestoreTarget::parse("mysql://h/db", &pg).is_err());
        assert!(RestoreTarget::parse("bad name; drop", &pg).is_err());

        let my = source(SourceProvider::Mariadb);
        let target = RestoreTarget::parse("mariadb://root@127.0.0.1:3307/shop", &my).unwrap();
        assert_eq!(target.to_string(), "mysql://root@127.0.0.1:3307/shop");
        assert!(!target.is_transactional());

        let lite = source(SourceProvider::Sqlite);
        assert_eq!(
            RestoreTarget::parse("/tmp/copy.db", &lite).unwrap(),
            RestoreTarget::Sqlite("/tmp/copy.db".into())
        );
        assert_eq!(
            RestoreTarget::parse("sqlite:///tmp/copy.db", &lite).unwrap(),
            RestoreTarget::Sqlite("/tmp/copy.db".into())
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let target = RestoreTarget::from_source(&source(SourceProvider::Postgres)).unwrap();
        assert!(!format!("{target:?}").contains("source-pw"));
        assert!(!target.to_string().contains("source-pw"));
    }

    /// The manifest the engine would have written beside `packed`.
    fn manifest_of(packed: &[u8]) -> Manifest {
        let read = backupman_core::check_gzip(packed).unwrap();
        Manifest {
            version: 1,
            source: "app".into(),
            provider: "sqlite".into(),
            database: "src.db".into(),
            key: "app/app-20261127T030405Z.sqlite.gz".into(),
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            size: read.plain_size,
            compressed_size: read.compressed_size,
            sha256: read.sha256,
            compression: "gzip-6".into(),
            tool_version: None,
            backupman_version: "test".into(),
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sqlite_file(dir: &Path) -> Vec<u8> {
        let path = dir.join("src.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'), ('b');",
        )
        .unwrap();
        drop(conn);
        fs::read(path).unwrap()
    }

    #[test]
    fn sqlite_restores_atomically_and_checks_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gz(&sqlite_file(dir.path()));
        let sha: String = Sha256::digest(&packed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let target = RestoreTarget::Sqlite(dir.path().join("restored.db"));

        let manifest = manifest_of(&packed);
        let wrong = RestoreOptions {
            expected: Some(Manifest {
                sha256: "00".repeat(32),
                ..manifest.clone()
            }),
            force: false,
        };
        let err = restore(&packed[..], &target, &wrong).unwrap_err();
        assert!(
            matches!(
                err,
                RestoreError::Damaged {
                    mismatch: Mismatch::Sha256 { .. },
                    partially_applied: false,
                }
            ),
            "{err}"
        );
        let shorter = RestoreOptions {
            expected: Some(Manifest {
                size: manifest.size - 1,
                ..manifest.clone()
            }),
            force: false,
        };
        let err = restore(&packed[..], &target, &shorter).unwrap_err();
        assert!(
            matches!(
                err,
                RestoreError::Damaged {
                    mismatch: Mismatch::PlainSize { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("nothing was applied"));
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the source file remains");

        let right = RestoreOptions {
            expected: Some(manifest),
            force: false,
        };
        let outcome = restore(&packed[..], &target, &right).unwrap();
        assert_eq!(outcome.sha256, sha);
        assert_eq!(summarize(&target).unwrap().rows_of("t"), Some(2));

        let err = restore(&packed[..], &target, &right).unwrap_err();
        assert!(matches!(err, RestoreError::NotEmpty { .. }), "{err}");
        let forced = RestoreOptions {
            force: true,
            ..right
        };
        restore(&packed[..], &target, &forced).unwrap();
    }

    /// A path beside `path` with `suffix` added to its name (`app.db` → `app.db-wal`).
    fn beside(path: &Path, suffix: &str) -> PathBuf {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        PathBuf::from(side)
    }

    fn forced() -> RestoreOptions {
        RestoreOptions {
            expected: None,
            force: true,
        }
    }

    #[test]
    fn a_journal_that_cannot_be_removed_stops_the_restore_before_the_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gz(&sqlite_file(dir.path()));
        let target_path = dir.path().join("live.db");
        let live = rusqlite::Connection::open(&target_path).unwrap();
        live.execute_batch("CREATE TABLE kept(x); INSERT INTO kept VALUES ('original');")
            .unwrap();
        drop(live);
        let original = fs::read(&target_path).unwrap();
        // Root may delete any file, so what cannot be removed is a non-empty directory.
        let wal = beside(&target_path, "-wal");
        fs::create_dir(&wal).unwrap();
        fs::write(wal.join("inside"), b"x").unwrap();

        let err = restore(
            &packed[..],
            &RestoreTarget::Sqlite(target_path.clone()),
            &forced(),
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::Io { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&wal.display().to_string()), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(fs::read(&target_path).unwrap(), original);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["live.db", "live.db-wal", "src.db"],
            "no temp file remains"
        );
    }

    #[test]
    fn stale_journals_beside_the_target_are_removed_by_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gz(&sqlite_file(dir.path()));
        let target_path = dir.path().join("live.db");
        fs::write(&target_path, b"the old database").unwrap();
        for suffix in ["-wal", "-shm", "-journal"] {
            fs::write(
                beside(&target_path, suffix),
                b"stale pages of the old database",
            )
            .unwrap();
        }
        let target = RestoreTarget::Sqlite(target_path.clone());
        restore(&packed[..], &target, &forced()).unwrap();
        for suffix in ["-wal", "-shm", "-journal"] {
            assert!(!beside(&target_path, suffix).exists(), "{suffix} remains");
        }
        assert_eq!(summarize(&target).unwrap().rows_of("t"), Some(2));
    }

    #[tokio::test]
    async fn drive_streams_restore_and_their_errors_stop_it() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gz(&sqlite_file(dir.path()));
        let chunks: Vec<Result<Bytes, DriveError>> = packed
            .chunks(64)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let target = RestoreTarget::Sqlite(dir.path().join("streamed.db"));
        let stream: ByteStream = futures::stream::iter(chunks.clone()).boxed();
        restore_stream(stream, target.clone(), RestoreOptions::default())
            .await
            .unwrap();
        assert_eq!(summarize(&target).unwrap().rows_of("t"), Some(2));

        let mut broken = chunks[..2].to_vec();
        broken.push(Err(DriveError::new(
            backupman_core::DriveErrorKind::Connection,
            "connection reset while reading",
        )));
        let target = RestoreTarget::Sqlite(dir.path().join("broken.db"));
        let err = restore_stream(
            futures::stream::iter(broken).boxed(),
            target,
            RestoreOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("connection reset"), "{err}");
        assert!(!dir.path().join("broken.db").exists());
    }

    #[test]
    fn truncated_or_foreign_objects_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let packed = gz(&sqlite_file(dir.path()));
        let target = RestoreTarget::Sqlite(dir.path().join("restored.db"));
        let err = restore(
            &packed[..packed.len() - 20],
            &target,
            &RestoreOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, RestoreError::Corrupt { .. }), "{err}");
        let err = restore(
            &gz(b"CREATE TABLE x(y);")[..],
            &target,
            &RestoreOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        assert!(!dir.path().join("restored.db").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
