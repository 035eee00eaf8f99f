//! The SQLite source: SQLite's online backup API makes a consistent copy of a live database
//! (safe while other processes write to it), which is then streamed.
//!
//! The backup API writes into another database, so the copy is staged in a private temporary
//! folder (in [`SqliteSettings::staging_dir`], or the system's temporary folder) and removed
//! as soon as the stream is read: disk use is one database size, memory stays flat. A
//! cancelled run stops the copy (between backup steps, and while waiting for a writer's lock)
//! and removes the folder. A run killed outright cannot: its folder is named after its
//! process id, and the next snapshot into the same staging folder removes folders whose
//! process is gone.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use backupman_core::{CancellationToken, Dump, DumpStatus, Source, SourceError};
use rusqlite::Connection;

use super::open_read_only;
use crate::settings::SqliteSettings;

/// How staged folders' names begin; the process id and a random suffix follow.
const STAGED_PREFIX: &str = "backupman-sqlite-";

/// Removes the staged folders in `root` left by runs that were killed (their process is
/// gone): each holds a full copy of a database. A folder whose process still lives (another
/// backup running now, or a process that took over a dead run's id) is left alone. Best
/// effort: what cannot be removed is said in the log and the snapshot goes on.
fn sweep_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STAGED_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        let gone = matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        );
        if gone {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(
                    "removed {}, a database copy left by a run that was killed",
                    path.display()
                ),
                Err(e) => tracing::warn!(
                    "cannot remove {}, a database copy left by a run that was killed: {e}",
                    path.display()
                ),
            }
        }
    }
}

/// An SQLite database file, copied consistently while other processes may write to it.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    settings: SqliteSettings,
}

impl SqliteSource {
    /// The source `settings` describe.
    pub fn new(settings: SqliteSettings) -> Self {
        Self { settings }
    }

    fn open(&self) -> Result<Connection, SourceError> {
        if !self.settings.db_path.exists() {
            return Err(SourceError::new(format!(
                "SQLite database {} does not exist",
                self.settings.db_path.display()
            )));
        }
        let conn =
            open_read_only(&self.settings.db_path).map_err(|e| self.error("cannot open", e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| self.error("cannot configure", e))?;
        Ok(conn)
    }

    fn error(&self, what: &str, err: rusqlite::Error) -> SourceError {
        SourceError::new(format!(
            "{what} SQLite database {}: {err}",
            self.settings.db_path.display()
        ))
    }

    /// Copies the live database into `target` with the online backup API, stopped with
    /// [`SourceError::cancelled`] once `cancel` fires.
    fn snapshot_to(&self, target: &Path, cancel: &CancellationToken) -> Result<(), SourceError> {
        let conn = self.open()?;
        // The step loop below waits for a writer's lock itself, so that it sees a cancelled
        // run; SQLite's own busy handler would sleep through it.
        conn.busy_timeout(Duration::ZERO)
            .map_err(|e| self.error("cannot configure", e))?;
        let mut dest =
            Connection::open(target).map_err(|e| self.error("cannot stage copy of", e))?;
        {
            let backup = rusqlite::backup::Backup::new(&conn, &mut dest)
                .map_err(|e| self.error("cannot start backup of", e))?;
            // Copying every page in one step holds one read transaction for the whole copy,
            // so the result is one consistent snapshot even while writers carry on.
            loop {
                if cancel.is_cancelled() {
                    return Err(SourceError::cancelled());
                }
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
        &self.settings.label
    }

    fn provider(&self) -> &str {
        "sqlite"
    }

    fn database(&self) -> String {
        self.settings.db_path.display().to_string()
    }

    fn extension(&self) -> &str {
        "sqlite"
    }

    async fn start(&self, cancel: CancellationToken) -> Result<Dump, SourceError> {
        let this = self.clone();
        let (dir, file) = tokio::task::spawn_blocking(move || {
            if cancel.is_cancelled() {
                return Err(SourceError::cancelled());
            }
            let root = match &this.settings.staging_dir {
                // Created when missing, as the original backupman created its `tmp_folder`.
                Some(stage) => {
                    std::fs::create_dir_all(stage).map_err(|e| {
                        SourceError::new(format!(
                            "cannot create the staging folder {}: {e}",
                            stage.display()
                        ))
                    })?;
                    stage.clone()
                }
                None => std::env::temp_dir(),
            };
            sweep_stale(&root);
            // Dropped, and so removed, on every early return below.
            let dir = tempfile::Builder::new()
                .prefix(&format!("{STAGED_PREFIX}{}-", std::process::id()))
                // The copy holds every row, and the staging folder is often a shared /tmp.
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir_in(root)
                .map_err(|e| SourceError::new(format!("cannot create a temporary folder: {e}")))?;
            let copy = dir.path().join("snapshot.sqlite");
            this.snapshot_to(&copy, &cancel)?;
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;
    use std::path::PathBuf;
    use std::time::Instant;

    use backupman_core::SourceErrorKind;

    use super::*;
    use backupman_core::Compression;

    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("app.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO t(v) VALUES ('a'), ('b'), ('c');",
        )
        .unwrap();
        path
    }

    /// The source of the database at `path`, staging its copies in `staging`.
    fn source(path: PathBuf, staging: &Path) -> SqliteSource {
        let mut settings = SqliteSettings::new("app", path);
        settings.staging_dir = Some(staging.to_owned());
        SqliteSource::new(settings)
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dump_streams_the_copy_and_removes_it_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let source = source(database(dir.path()), staging.path());
        let Dump { mut reader, finish } = source.start(CancellationToken::new()).await.unwrap();
        // While the dump is read, its copy is a file in a private folder of the staging one.
        let staged = entries(staging.path());
        assert_eq!(staged.len(), 1, "{staged:?}");
        let name = staged[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("backupman-sqlite-"), "{name}");
        let mode = fs::metadata(&staged[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the staging folder is {mode:o}");
        assert_eq!(entries(&staged[0]), [staged[0].join("snapshot.sqlite")]);
        let mut copy = Vec::new();
        reader.read_to_end(&mut copy).unwrap();
        drop(reader);
        finish().unwrap();
        assert!(copy.starts_with(crate::sqlite::HEADER));
        assert_eq!(entries(staging.path()), Vec::<PathBuf>::new());

        let restored = dir.path().join("copy.db");
        fs::write(&restored, &copy).unwrap();
        let conn = Connection::open(&restored).unwrap();
        let values: String = conn
            .query_row("SELECT group_concat(v, ',') FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(values, "a,b,c");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_stops_a_copy_waiting_for_a_writer_and_removes_the_staged_folder() {
        let dir = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        // A writer holding the exclusive lock: the copy cannot read a page until it commits.
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(v) VALUES ('d');")
            .unwrap();

        let cancel = CancellationToken::new();
        let source = source(path.clone(), staging.path());
        let running = tokio::spawn({
            let cancel = cancel.clone();
            async move { source.start(cancel).await }
        });
        let waited = Instant::now();
        while entries(staging.path()).is_empty() {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "no copy was staged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The copy is waiting for the lock now; give it a few rounds of its step loop.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !running.is_finished(),
            "the copy should still wait for the writer"
        );
        let cancelled_at = Instant::now();
        cancel.cancel();
        let err = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the copy stops within seconds of cancelling")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind, SourceErrorKind::Cancelled, "{err}");
        assert!(cancelled_at.elapsed() < Duration::from_secs(1));
        assert_eq!(entries(staging.path()), Vec::<PathBuf>::new());
        writer.execute_batch("COMMIT").unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copies_left_by_killed_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        // A process that has ended and been reaped: its id names no process now.
        let mut ended = std::process::Command::new("true").spawn().unwrap();
        ended.wait().unwrap();
        let killed = staging
            .path()
            .join(format!("{STAGED_PREFIX}{}-a1b2c3", ended.id()));
        let live = staging
            .path()
            .join(format!("{STAGED_PREFIX}{}-d4e5f6", std::process::id()));
        let unrelated = staging.path().join("backupman-sqlite-notes");
        for folder in [&killed, &live, &unrelated] {
            fs::create_dir(folder).unwrap();
            fs::write(folder.join("snapshot.sqlite"), b"rows").unwrap();
        }

        let source = source(database(dir.path()), staging.path());
        let Dump { mut reader, finish } = source.start(CancellationToken::new()).await.unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        drop(reader);
        finish().unwrap();

        let mut left = entries(staging.path());
        left.sort();
        let mut expected = vec![live.clone(), unrelated.clone()];
        expected.sort();
        assert_eq!(left, expected, "only the killed run's copy is removed");
        assert_eq!(fs::read(live.join("snapshot.sqlite")).unwrap(), b"rows");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_cancelled_before_the_start_stages_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let source = source(database(dir.path()), staging.path());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = source.start(cancel).await.unwrap_err();
        assert_eq!(err.kind, SourceErrorKind::Cancelled, "{err}");
        assert_eq!(entries(staging.path()), Vec::<PathBuf>::new());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_and_its_restore_stage_in_the_staging_folder_and_leave_it_empty() {
        use crate::restore::{RestoreOptions, RestoreTarget, restore_stream, summarize};
        use backupman_core::{Drive, Engine, LocalDrive};
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut settings = SqliteSettings::new("app", database(dir.path()));
        settings.staging_dir = Some(staging.path().to_owned());
        let drive: Arc<dyn Drive> = Arc::new(LocalDrive::new("local", store.path()));
        let report = Engine::new(Compression::default())
            .backup(
                Arc::new(SqliteSource::new(settings.clone())),
                std::slice::from_ref(&drive),
            )
            .await;
        assert!(
            report.succeeded(),
            "{:?} {:?}",
            report.failure,
            report.drives
        );
        assert_eq!(entries(staging.path()), Vec::<PathBuf>::new());

        let mut restored = settings.clone();
        restored.db_path = dir.path().join("restored.db");
        let target = RestoreTarget::from_settings(&restored.into());
        let options = RestoreOptions {
            expected: report.manifest.clone(),
            force: false,
            identities: None,
        };
        let stream = drive.read(&report.key).await.unwrap();
        restore_stream(stream, target.clone(), options)
            .await
            .unwrap();
        assert_eq!(entries(staging.path()), Vec::<PathBuf>::new());
        assert_eq!(summarize(&target).unwrap().rows_of("t"), Some(3));
    }
}
