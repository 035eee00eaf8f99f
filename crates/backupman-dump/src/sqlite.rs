//! The SQLite source: SQLite's online backup API makes a consistent copy of a live database
//! (safe while other processes write to it), which is then streamed.
//!
//! The backup API writes into another database, so the copy is staged in a private temporary
//! folder and removed as soon as the stream is read: disk use is one database size, memory
//! stays flat.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use backupman_config::SourceConfig;
use backupman_core::{CancellationToken, Dump, DumpStatus, Source, SourceError};
use rusqlite::{Connection, OpenFlags};

#[derive(Debug, Clone)]
pub struct SqliteSource {
    label: String,
    path: PathBuf,
}

impl SqliteSource {
    pub fn new(label: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            label: label.into(),
            path: path.into(),
        }
    }

    pub fn from_config(cfg: &SourceConfig) -> Result<Self, SourceError> {
        let path = cfg.db_path.clone().ok_or_else(|| {
            SourceError::new(format!("source {:?}: sqlite needs db_path", cfg.label))
        })?;
        Ok(Self::new(cfg.label.clone(), path))
    }

    fn open(&self) -> Result<Connection, SourceError> {
        if !self.path.exists() {
            return Err(SourceError::new(format!(
                "SQLite database {} does not exist",
                self.path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.error("cannot open", e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| self.error("cannot configure", e))?;
        Ok(conn)
    }

    fn error(&self, what: &str, err: rusqlite::Error) -> SourceError {
        SourceError::new(format!(
            "{what} SQLite database {}: {err}",
            self.path.display()
        ))
    }

    /// Copies the live database into `target` with the online backup API.
    pub fn snapshot_to(&self, target: &Path) -> Result<(), SourceError> {
        let conn = self.open()?;
        let mut dest =
            Connection::open(target).map_err(|e| self.error("cannot stage copy of", e))?;
        {
            let backup = rusqlite::backup::Backup::new(&conn, &mut dest)
                .map_err(|e| self.error("cannot start backup of", e))?;
            // Copying every page in one step holds one read transaction for the whole copy,
            // so the result is one consistent snapshot even while writers carry on.
            loop {
                match backup.step(-1) {
                    Ok(rusqlite::backup::StepResult::Done) => break,
                    Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                    Err(e) => return Err(self.error("backup failed for", e)),
                }
            }
        }
        // A journal-mode WAL source yields a WAL-mode copy; switch it back so the single file
        // is the whole database.
        dest.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| self.error("cannot finalise copy of", e))?;
        dest.close()
            .map_err(|(_, e)| self.error("cannot close copy of", e))?;
        Ok(())
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn provider(&self) -> &str {
        "sqlite"
    }

    fn database(&self) -> String {
        self.path.display().to_string()
    }

    fn extension(&self) -> &str {
        "sqlite"
    }

    async fn start(&self, _cancel: CancellationToken) -> Result<Dump, SourceError> {
        let this = self.clone();
        let (dir, file) = tokio::task::spawn_blocking(move || {
            let dir = tempfile::Builder::new()
                .prefix("backupman-sqlite-")
                .tempdir()
                .map_err(|e| SourceError::new(format!("cannot create a temporary folder: {e}")))?;
            let copy = dir.path().join("snapshot.sqlite");
            this.snapshot_to(&copy)?;
            let file = File::open(&copy)
                .map_err(|e| SourceError::new(format!("cannot read the staged copy: {e}")))?;
            Ok::<_, SourceError>((dir, file))
        })
        .await
        .map_err(|e| SourceError::new(format!("sqlite snapshot task failed: {e}")))??;
        let version = rusqlite::version().to_owned();
        Ok(Dump {
            reader: Box::new(file),
            finish: Box::new(move || {
                drop(dir);
                Ok(DumpStatus {
                    tool_version: Some(format!("SQLite {version} (online backup API)")),
                    warnings: None,
                })
            }),
        })
    }

    async fn check(&self) -> Result<(), SourceError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = this.open()?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| this.error("cannot read", e))?;
            Ok(())
        })
        .await
        .map_err(|e| SourceError::new(format!("sqlite check task failed: {e}")))?
    }
}
