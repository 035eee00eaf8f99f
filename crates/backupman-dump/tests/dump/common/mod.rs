//! Helpers shared by the dump crate's real-server tests: a backup onto a local drive, our
//! restore of it, and dump tools that misbehave on purpose. The databases themselves and
//! their clients come from `backupman_testkit::db`.
#![allow(dead_code)]

pub use backupman_testkit::db::*;
pub use backupman_testkit::script;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backupman_core::{
    BackupReport, CancellationToken, Compression, Drive, Engine, LocalDrive, Manifest, Source,
    SourceErrorKind, check_stored,
};
use backupman_dump::restore::{
    self, RestoreError, RestoreOptions, RestoreOutcome, RestoreTarget, create_database,
};
use backupman_dump::{
    DatabaseSettings, MysqlFlavor, MysqlSettings, PostgresSettings, ServerSettings,
};

// ---------------------------------------------------------------- settings

/// The settings of a source that runs a dump tool, as the scenarios written once for both
/// engines change them.
pub trait DumpSettings: Clone + Into<DatabaseSettings> {
    /// The dump tool to run instead of the one on `PATH`.
    fn dump_tool(&mut self) -> &mut Option<PathBuf>;
}

impl DumpSettings for PostgresSettings {
    fn dump_tool(&mut self) -> &mut Option<PathBuf> {
        &mut self.dump_tool
    }
}

impl DumpSettings for MysqlSettings {
    fn dump_tool(&mut self) -> &mut Option<PathBuf> {
        &mut self.dump_tool
    }
}

/// A test database as a source's settings.
pub trait WithSettings: Db {
    /// Its engine's settings type.
    type Settings: DumpSettings;
    /// This database as a source, logging in as the test kit's user.
    fn settings(&self) -> Self::Settings;
}

impl WithSettings for PgDb {
    type Settings = PostgresSettings;

    fn settings(&self) -> PostgresSettings {
        let mut server = ServerSettings::new(PG_HOST, self.name());
        server.port = PG_PORT;
        server.user = Some(PG_USER.into());
        server.tls = Some("disable".into());
        PostgresSettings::new(format!("pg {}", self.name()), server)
    }
}

impl WithSettings for MyDb {
    type Settings = MysqlSettings;

    fn settings(&self) -> MysqlSettings {
        let mut server = ServerSettings::new(MY_HOST, self.name());
        server.port = MY_PORT;
        server.user = Some(MY_USER.into());
        let flavor = match self.provider() {
            "mysql" => MysqlFlavor::Mysql,
            _ => MysqlFlavor::Mariadb,
        };
        MysqlSettings::new(format!("my {}", self.name()), flavor, server)
    }
}

/// The database `settings` name, restored into in place.
pub fn target_of(settings: impl Into<DatabaseSettings>) -> RestoreTarget {
    RestoreTarget::from_settings(&settings.into())
}

// ---------------------------------------------------------------- backups

/// A local drive in a fresh temp folder.
pub struct LocalStore {
    pub dir: tempfile::TempDir,
    pub drive: Arc<dyn Drive>,
}

impl LocalStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let drive: Arc<dyn Drive> = Arc::new(LocalDrive::new("local", dir.path()));
        Self { dir, drive }
    }

    /// Every file under the folder (temp files included), relative paths, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut found);
        found.sort();
        found
    }

    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }

    pub async fn backup(&self, source: impl Source + 'static) -> BackupReport {
        Engine::new(Compression::default())
            .backup(Arc::new(source), std::slice::from_ref(&self.drive))
            .await
    }

    /// Starts a backup of `source` onto this store, cancelled when `cancel` is.
    pub fn backup_in_background(
        &self,
        source: impl Source + 'static,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<BackupReport> {
        let engine = Engine::new(Compression::default()).with_cancel(cancel);
        let drive = self.drive.clone();
        tokio::spawn(async move { engine.backup(Arc::new(source), &[drive]).await })
    }
}

/// Polls `condition` every 50 ms until it holds; returns how long that took. Panics, naming
/// `what`, after `limit`.
pub async fn eventually(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> Duration {
    let clock = Instant::now();
    while !condition() {
        assert!(
            clock.elapsed() < limit,
            "waited {limit:?} in vain for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clock.elapsed()
}

/// Cancels a backup started with [`LocalStore::backup_in_background`] whose dump tool is
/// blocked, and asserts it ends within 5 s as cancelled, leaving nothing in the store.
/// Returns the time from cancelling to the end of the backup.
pub async fn cancel_and_expect_nothing_stored(
    store: &LocalStore,
    cancel: &CancellationToken,
    running: tokio::task::JoinHandle<BackupReport>,
) -> Duration {
    assert!(!running.is_finished(), "the backup should still be blocked");
    let clock = Instant::now();
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("a cancelled backup ends within seconds")
        .unwrap();
    let took = clock.elapsed();
    let failure = report.failure.as_ref().expect("a cancelled backup fails");
    assert_eq!(failure.kind, SourceErrorKind::Cancelled, "{failure}");
    assert!(
        report.drives.iter().all(|d| d.result.is_err()),
        "{report:?}"
    );
    assert_eq!(
        store.files(),
        Vec::<String>::new(),
        "nothing may remain on the drive"
    );
    took
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// Backs `source` up in the background, waits until `blocked` says its dump tool waits on a
/// lock another session holds, cancels (see [`cancel_and_expect_nothing_stored`]) and waits
/// until `ended` says the dump's connection (`connection`, for messages) is gone from the
/// server: a cancel kills the tool, not just our end of its pipe.
pub async fn cancel_a_blocked_dump(
    source: impl Source + 'static,
    connection: &str,
    blocked: impl FnMut() -> bool,
    ended: impl FnMut() -> bool,
) {
    let store = LocalStore::new();
    let cancel = CancellationToken::new();
    let running = store.backup_in_background(source, cancel.clone());
    eventually(
        &format!("{connection} to wait on the lock"),
        Duration::from_secs(30),
        blocked,
    )
    .await;
    let took = cancel_and_expect_nothing_stored(&store, &cancel, running).await;
    let gone = eventually(
        &format!("{connection} to end"),
        Duration::from_secs(5),
        ended,
    )
    .await;
    eprintln!("cancel → backup ended: {took:?}; {connection} gone {gone:?} later");
}

/// Asserts the backup succeeded and returns the stored object's path and its manifest.
pub fn stored(report: &BackupReport, store: &LocalStore) -> (PathBuf, Manifest) {
    assert!(
        report.succeeded(),
        "backup failed: {:?} / {:?}",
        report.failure,
        report.drives
    );
    let manifest = report.manifest.as_ref().expect("a manifest");
    (store.path_of(&report.key), manifest.clone())
}

/// [`stored`], and the stored object is a whole gzip stream with the manifest's SHA-256 and
/// plain size, beside its manifest and nothing else.
pub fn stored_and_checked(report: &BackupReport, store: &LocalStore) -> (PathBuf, Manifest) {
    let (object, manifest) = stored(report, store);
    let check = check_stored(fs::File::open(&object).unwrap(), None).unwrap();
    assert_eq!(manifest.check(&check), Ok(()));
    assert_eq!(
        store.files().len(),
        2,
        "object and manifest only: {:?}",
        store.files()
    );
    (object, manifest)
}

/// Our restore of `object` into a new database `name` on the server of `source`, which it
/// creates, the hash checked while streaming. Returns that database and the outcome.
pub fn restore_into_new(
    source: impl Into<DatabaseSettings>,
    name: &str,
    object: &Path,
    manifest: &Manifest,
) -> (RestoreTarget, RestoreOutcome) {
    let base = target_of(source);
    let target = create_database(&base, name).unwrap();
    let outcome = restore::restore(
        fs::File::open(object).unwrap(),
        &target,
        &RestoreOptions {
            expected: Some(manifest.clone()),
            force: false,
            identities: None,
        },
    )
    .unwrap();
    assert_eq!(outcome.sha256, manifest.sha256);
    (target, outcome)
}

/// The backup in `report`, restored over the (since changed) database of `source`: refused
/// without `force` as not empty, applied with it straight from the drive's stream, as
/// `backupman restore` does. Returns the refusal.
pub async fn restore_needs_force(
    store: &LocalStore,
    report: &BackupReport,
    source: impl Into<DatabaseSettings>,
) -> RestoreError {
    let (object, manifest) = stored(report, store);
    let target = target_of(source);
    let options = RestoreOptions {
        expected: Some(manifest),
        force: false,
        identities: None,
    };
    let err = restore::restore(fs::File::open(&object).unwrap(), &target, &options).unwrap_err();
    assert!(matches!(err, RestoreError::NotEmpty { .. }), "{err}");
    let forced = RestoreOptions {
        force: true,
        ..options
    };
    let stream = store.drive.read(&report.key).await.unwrap();
    let outcome = restore::restore_stream(stream, target.clone(), forced)
        .await
        .unwrap();
    assert_eq!(
        Some(outcome.sha256),
        report.manifest.as_ref().map(|m| m.sha256.clone())
    );
    err
}

/// Our restore of `object` into `target`, with its manifest but a SHA-256 the object does
/// not have.
pub fn restore_with_a_wrong_hash(
    object: &[u8],
    manifest: &Manifest,
    target: &RestoreTarget,
) -> RestoreError {
    restore::restore(
        object,
        target,
        &RestoreOptions {
            expected: Some(Manifest {
                sha256: "0".repeat(64),
                ..manifest.clone()
            }),
            force: false,
            identities: None,
        },
    )
    .unwrap_err()
}

/// `plain` gzipped: an intact object of any content.
pub fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, plain).unwrap();
    gz.finish().unwrap()
}

/// `check` of `source` fails with `check_says`, and so does a backup onto `store`, with
/// `backup_says`, leaving nothing (see [`failed_leaving_nothing`]).
pub async fn check_and_backup_fail(
    source: impl Source + 'static,
    store: &LocalStore,
    check_says: &str,
    backup_says: &str,
) -> BackupReport {
    let err = source.check().await.unwrap_err();
    assert!(err.message.contains(check_says), "{err}");
    let report = store.backup(source).await;
    failed_leaving_nothing(&report, store, backup_says);
    report
}

/// A backup of `source` made by a stand-in for its dump tool `tool` (its `dump_tool`),
/// which passes `--version` through, cuts the real tool's output off after 200 kB, says
/// "simulated crash" and dies by SIGKILL: the backup fails with both and stores nothing.
pub async fn killed_dump_stores_nothing<T: DumpSettings, S: Source + 'static>(
    mut source: T,
    tool: &str,
    new: impl Fn(T) -> S,
) {
    let tools = tempfile::tempdir().unwrap();
    let wrapper = script(
        tools.path(),
        tool,
        &format!(
            r#"if [ "$1" = "--version" ]; then exec {tool} --version; fi
{tool} "$@" | head -c 200000
echo "{tool}: simulated crash" >&2
kill -9 $$"#
        ),
    );
    *source.dump_tool() = Some(wrapper);
    let store = LocalStore::new();
    let report = store.backup(new(source)).await;
    failed_leaving_nothing(&report, &store, "killed by signal 9");
    assert!(report.failure.unwrap().message.contains("simulated crash"));
}

/// Asserts the backup failed with `needle` in the source failure and left no file at all.
pub fn failed_leaving_nothing(report: &BackupReport, store: &LocalStore, needle: &str) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failure, got {report:?}"));
    assert!(
        failure.message.contains(needle),
        "failure {:?} should contain {needle:?}",
        failure.message
    );
    assert!(report.drives.iter().all(|d| d.result.is_err()));
    assert_eq!(
        store.files(),
        Vec::<String>::new(),
        "nothing may remain on the drive"
    );
}

/// A backup of `db` through a stand-in for its dump tool `tool` that dumps as the real one,
/// then writes the line `warning` to stderr and exits 0: the backup is stored and checked,
/// reports the warning (trimmed), and restored into `copy` (reserved, not created) gives what
/// `rows` gave on `db`. Returns the settings with the stand-in.
pub async fn a_warning_dump_is_stored<D: WithSettings, S: Source + 'static>(
    (db, copy): (&D, &D),
    tool: &str,
    warning: &str,
    rows: &str,
    new: impl Fn(D::Settings) -> S,
) -> D::Settings {
    let expected = db.sql(rows);
    let tools = tempfile::tempdir().unwrap();
    let mut cfg = db.settings();
    *cfg.dump_tool() = Some(dump_tool_then(
        tools.path(),
        tool,
        &format!("echo '{warning}' >&2; exit 0"),
    ));
    let store = LocalStore::new();
    let report = store.backup(new(cfg.clone())).await;
    let (object, manifest) = stored_and_checked(&report, &store);
    assert_eq!(report.warnings.as_deref(), Some(warning.trim()));
    restore_into_new(cfg.clone(), copy.name(), &object, &manifest);
    assert_eq!(copy.sql(rows), expected);
    cfg
}

/// A backup of `source` through a stand-in for its dump tool `tool` that dumps as the real one,
/// then writes the line `error` to stderr and exits 1: the backup fails with the tool's words
/// and stores nothing. Returns its report.
pub async fn an_exit_1_dump_fails<T: DumpSettings, S: Source + 'static>(
    mut source: T,
    tool: &str,
    error: &str,
    new: impl Fn(T) -> S,
) -> BackupReport {
    let tools = tempfile::tempdir().unwrap();
    *source.dump_tool() = Some(dump_tool_then(
        tools.path(),
        tool,
        &format!("echo '{error}' >&2; exit 1"),
    ));
    let store = LocalStore::new();
    let report = store.backup(new(source)).await;
    failed_leaving_nothing(
        &report,
        &store,
        &format!("{tool} failed (exit status 1): {error}"),
    );
    report
}

/// A stand-in for the dump tool `tool`, in `dir`: passes `--version` through, runs the real
/// tool with its arguments (failing as it fails), then runs `after` (shell).
pub fn dump_tool_then(dir: &Path, tool: &str, after: &str) -> PathBuf {
    script(
        dir,
        tool,
        &format!(
            r#"if [ "$1" = "--version" ]; then exec {tool} --version; fi
{tool} "$@" || exit $?
{after}"#
        ),
    )
}
