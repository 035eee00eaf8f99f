//! Restoring into SQLite: the file is written beside the target and renamed over it only
//! when it is complete, matches the manifest and passes `PRAGMA quick_check`, so a failed
//! restore applies nothing.

use std::fs::{self, File, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{HEADER, open_read_only};
use crate::restore::pump::{PumpError, check_read, pump};
use crate::restore::{DatabaseSummary, RestoreError, RestoreOptions, RestoreOutcome, TableCount};

/// Journals SQLite may keep beside a database file.
const JOURNALS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Writes the SQLite file beside the target, checks it, then renames it into place.
pub(crate) fn restore<R: Read>(
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
    // Removed on every early return; the umask decides its mode, as for any new file.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.backupman-restore-"))
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(&dir)
        .map_err(io_err(format!(
            "cannot create a temporary file in {}",
            dir.display()
        )))?;
    let temp_name = temp.path().display().to_string();
    let pumped = pump(reader, temp.as_file_mut()).map_err(|e| match e {
        PumpError::Read(cause) => RestoreError::Corrupt {
            cause,
            partially_applied: false,
        },
        PumpError::Write(cause) => RestoreError::Io {
            context: format!("cannot write {temp_name}"),
            cause,
        },
    })?;
    if let Err(mismatch) = check_read(options, &pumped) {
        return Err(RestoreError::Damaged {
            mismatch,
            partially_applied: false,
        });
    }
    temp.as_file()
        .sync_all()
        .map_err(io_err(format!("cannot write {temp_name}")))?;
    check_file(temp.path())?;
    // Journals of the replaced database would be replayed onto the new one, so they go first:
    // one that cannot be removed stops the restore before the target is touched.
    for side in JOURNALS.map(|suffix| beside(path, suffix)) {
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
    temp.persist(path).map_err(|e| RestoreError::Io {
        context: format!("cannot move the restored database to {}", path.display()),
        cause: e.error,
    })?;
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(pumped)
}

/// A path beside `path` with `suffix` added to its name (`app.db` → `app.db-wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut side = path.as_os_str().to_owned();
    side.push(suffix);
    PathBuf::from(side)
}

/// Fails unless the file at `path` is an SQLite database that passes `PRAGMA quick_check`.
fn check_file(path: &Path) -> Result<(), RestoreError> {
    let corrupt = |message: String| RestoreError::Corrupt {
        cause: io::Error::new(io::ErrorKind::InvalidData, message),
        partially_applied: false,
    };
    let mut header = [0u8; 16];
    let header_ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && &header == HEADER;
    if !header_ok {
        return Err(corrupt("the backup is not an SQLite database file".into()));
    }
    let conn = open_read_only(path)
        .map_err(|e| corrupt(format!("cannot open the restored database: {e}")))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| corrupt(format!("PRAGMA quick_check failed: {e}")))?;
    if verdict != "ok" {
        return Err(corrupt(format!("PRAGMA quick_check: {verdict}")));
    }
    Ok(())
}

/// The tables of the database at `path` and their exact row counts.
pub(crate) fn summarize(path: &Path) -> Result<DatabaseSummary, RestoreError> {
    let fail = |e: rusqlite::Error| RestoreError::Io {
        context: format!("cannot read {}", path.display()),
        cause: io::Error::other(e.to_string()),
    };
    let conn = open_read_only(path).map_err(fail)?;
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

/// Deletes the database file at `path`, if there is one.
pub(crate) fn delete(path: &Path) -> Result<(), RestoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RestoreError::Io {
            context: format!("cannot delete {}", path.display()),
            cause: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use backupman_core::{ByteStream, DriveError, Manifest, Mismatch};
    use bytes::Bytes;
    use flate2::{Compression, write::GzEncoder};
    use futures::StreamExt;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::restore::{RestoreTarget, restore, restore_stream, summarize};

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
