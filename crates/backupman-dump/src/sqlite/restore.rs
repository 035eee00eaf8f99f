//! Restoring into SQLite: the file is written beside the target (or in the staging folder of
//! the source's settings, then copied beside the target when that is another file system)
//! and renamed over it only when it is complete, matches the manifest and passes
//! `PRAGMA quick_check`, so a failed restore applies nothing. The folders written to must
//! have the manifest's `size` free before anything is written, and the staged file never
//! grows past that size (decoding stops at the first byte beyond it); a failed restore
//! removes it.

use std::fs::{self, File, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::{HEADER, open_read_only};
use crate::restore::pump::{PumpError, check_read, pump};
use crate::restore::{
    DatabaseSummary, RestoreError, RestoreOptions, RestoreOutcome, TableCount, ensure_space,
};

/// Journals SQLite may keep beside a database file.
const JOURNALS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Writes the SQLite file in `staging_dir` (or beside the target), checks it, then renames
/// it into place.
pub(crate) fn restore<R: Read>(
    reader: R,
    path: &Path,
    staging_dir: Option<&Path>,
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
    if let Some(stage) = staging_dir {
        fs::create_dir_all(stage).map_err(|cause| RestoreError::Io {
            context: format!("cannot create the staging folder {}", stage.display()),
            cause,
        })?;
    }
    let stage = staging_dir.unwrap_or(&dir);
    if let Some(size) = options.expected.as_ref().map(|m| m.size) {
        ensure_space(stage, size)?;
        // A file staged on another file system is copied beside the target as well.
        if !same_file_system(stage, &dir) {
            ensure_space(&dir, size)?;
        }
    }
    let mut temp = temp_file(stage, &name)?;
    let temp_name = temp.path().display().to_string();
    let pumped = pump(reader, options, None, temp.as_file_mut()).map_err(|e| match e {
        PumpError::Decrypt(cause) => RestoreError::Decrypt(cause),
        PumpError::Read(cause) => RestoreError::Corrupt {
            cause,
            partially_applied: false,
        },
        PumpError::Write(cause) => RestoreError::Io {
            context: format!("cannot write {temp_name}"),
            cause,
        },
        PumpError::TooLarge { limit } => RestoreError::TooLarge {
            limit,
            partially_applied: false,
        },
        // SQLite files pass no filter: they are data to the SQLite library, not commands.
        PumpError::Refused(refusal) => RestoreError::Refused {
            refusal,
            partially_applied: false,
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
    // Only a rename replaces the target in one step, and a rename stays on one file system:
    // a file staged on another is copied beside the target first, before anything is removed.
    if !same_file_system(temp.path(), &dir) {
        temp = copy_into(&temp, &dir, &name)?;
    }
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

/// A new temporary file in `dir` for a restore of the database file `name`; removed when
/// dropped, so on every early return. The umask decides its mode, as for any new file.
fn temp_file(dir: &Path, name: &str) -> Result<NamedTempFile, RestoreError> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}.backupman-restore-"))
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|cause| RestoreError::Io {
            context: format!("cannot create a temporary file in {}", dir.display()),
            cause,
        })
}

/// True when `file` (or a folder) and the folder `dir` are on the same file system (or when that cannot be
/// told, so that the rename is tried and fails with its own error).
fn same_file_system(file: &Path, dir: &Path) -> bool {
    match (fs::metadata(file), fs::metadata(dir)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => true,
    }
}

/// A copy of `staged`, on disk, in a new temporary file in `dir`; `staged` is removed when the
/// caller drops it.
fn copy_into(
    staged: &NamedTempFile,
    dir: &Path,
    name: &str,
) -> Result<NamedTempFile, RestoreError> {
    let mut copy = temp_file(dir, name)?;
    let copy_name = copy.path().display().to_string();
    let written = File::open(staged.path())
        .and_then(|mut from| io::copy(&mut from, copy.as_file_mut()))
        .and_then(|_| copy.as_file().sync_all());
    written.map_err(|cause| RestoreError::Io {
        context: format!("cannot copy the restored database to {copy_name}"),
        cause,
    })?;
    Ok(copy)
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
mod tests;
