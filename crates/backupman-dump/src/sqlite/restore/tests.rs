//! Tests of the SQLite restore: atomic replacement, hash and size checks, journals,
//! drive streams, refused objects, and the staging folder.

use std::collections::BTreeSet;
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
    let read = backupman_core::check_stored(packed, None).unwrap();
    Manifest {
        version: 1,
        source: "app".into(),
        provider: "sqlite".into(),
        database: "src.db".into(),
        key: "app/app-20261127T030405Z.sqlite.gz".into(),
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        size: read.plain_size.unwrap(),
        compressed_size: read.compressed_size,
        sha256: read.sha256,
        compression: "gzip-6".into(),
        encryption: None,
        recipients: Vec::new(),
        tool_version: None,
        backupman_version: "test".into(),
    }
}

/// The SQLite file at `path` as a restore target, staged beside it.
fn file_at(path: PathBuf) -> RestoreTarget {
    RestoreTarget::Sqlite {
        path,
        staging_dir: None,
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
    let target = file_at(dir.path().join("restored.db"));

    let manifest = manifest_of(&packed);
    let wrong = RestoreOptions {
        expected: Some(Manifest {
            sha256: "00".repeat(32),
            ..manifest.clone()
        }),
        force: false,
        identities: None,
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
    // A manifest that says less stops decoding at its size; one that says more is found
    // at the end.
    let shorter = RestoreOptions {
        expected: Some(Manifest {
            size: manifest.size - 1,
            ..manifest.clone()
        }),
        force: false,
        identities: None,
    };
    let err = restore(&packed[..], &target, &shorter).unwrap_err();
    assert!(
        matches!(
            err,
            RestoreError::TooLarge {
                limit,
                partially_applied: false,
            } if limit == manifest.size - 1
        ),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was applied"));
    let longer = RestoreOptions {
        expected: Some(Manifest {
            size: manifest.size + 1,
            ..manifest.clone()
        }),
        force: false,
        identities: None,
    };
    let err = restore(&packed[..], &target, &longer).unwrap_err();
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
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the source file remains");

    let right = RestoreOptions {
        expected: Some(manifest),
        force: false,
        identities: None,
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
        identities: None,
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

    let err = restore(&packed[..], &file_at(target_path.clone()), &forced()).unwrap_err();
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
    let target = file_at(target_path.clone());
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
    let target = file_at(dir.path().join("streamed.db"));
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
    let target = file_at(dir.path().join("broken.db"));
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
    let target = file_at(dir.path().join("restored.db"));
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

/// Reads `data`, noting on every read what is in `dir`: what the restore staged there.
struct StagingProbe<'a> {
    data: &'a [u8],
    dir: &'a Path,
    names: BTreeSet<String>,
}

impl Read for StagingProbe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for entry in fs::read_dir(self.dir)? {
            self.names
                .insert(entry?.file_name().to_string_lossy().into_owned());
        }
        // Small reads, so the folder is looked at while the file is being written.
        let n = buf.len().min(512);
        self.data.read(&mut buf[..n])
    }
}

#[test]
fn a_restore_stages_in_the_staging_folder_and_leaves_nothing_there() {
    let dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let packed = gz(&sqlite_file(dir.path()));
    let path = dir.path().join("restored.db");
    let target = RestoreTarget::Sqlite {
        path: path.clone(),
        staging_dir: Some(staging.path().to_owned()),
    };
    let mut probe = StagingProbe {
        data: &packed[..],
        dir: staging.path(),
        names: BTreeSet::new(),
    };
    let outcome = restore(&mut probe, &target, &RestoreOptions::default()).unwrap();
    assert!(outcome.plain_size > Some(0));
    assert_eq!(summarize(&target).unwrap().rows_of("t"), Some(2));
    let names = probe.names;
    assert_eq!(names.len(), 1, "one file staged: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(".restored.db.backupman-restore-")),
        "{names:?}"
    );
    assert_eq!(fs::read_dir(staging.path()).unwrap().count(), 0);
    let mut beside: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["restored.db", "src.db"]);

    // A damaged backup leaves nothing there either, and no target.
    fs::remove_file(&path).unwrap();
    let err = restore(
        &packed[..packed.len() - 20],
        &target,
        &RestoreOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read_dir(staging.path()).unwrap().count(), 0);
    assert!(!path.exists());
}

#[test]
fn a_file_staged_elsewhere_is_copied_beside_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    let mut staged = temp_file(staging.path(), "app.db").unwrap();
    staged
        .as_file_mut()
        .write_all(b"the restored pages")
        .unwrap();
    let copy = copy_into(&staged, dir.path(), "app.db").unwrap();
    assert_eq!(copy.path().parent(), Some(dir.path()));
    assert_eq!(fs::read(copy.path()).unwrap(), b"the restored pages");
    drop(staged);
    assert_eq!(fs::read_dir(staging.path()).unwrap().count(), 0);
    copy.persist(dir.path().join("app.db")).unwrap();
    assert_eq!(
        fs::read(dir.path().join("app.db")).unwrap(),
        b"the restored pages"
    );
}
