//! Helpers shared by the real-server tests: scratch databases that drop themselves, the
//! command-line clients as independent witnesses, and a backup onto a local drive.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backupman_config::{SourceConfig, SourceProvider};
use backupman_core::{
    BackupReport, CancellationToken, Drive, Engine, LocalDrive, Manifest, Source, SourceErrorKind,
    check_gzip,
};
use backupman_dump::restore::{
    self, RestoreError, RestoreOptions, RestoreOutcome, RestoreTarget, create_database,
};

pub const PG_HOST: &str = "127.0.0.1";
pub const PG_PORT: u16 = 5432;
pub const PG_USER: &str = "postgres";
pub const MY_HOST: &str = "127.0.0.1";
pub const MY_PORT: u16 = 3306;
pub const MY_USER: &str = "root";

/// `bmt_{what}_{pid}_{n}`: unique per test process and call.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "bmt_{what}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> String {
    String::from_utf8(run_raw(cmd, stdin)).expect("client output is UTF-8")
}

fn run_raw(cmd: &mut Command, stdin: Option<&[u8]>) -> Vec<u8> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the client installed?)"));
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------- PostgreSQL

fn psql(db: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        PG_HOST,
        "-U",
        PG_USER,
    ])
    .arg("-p")
    .arg(PG_PORT.to_string())
    .arg("-d")
    .arg(db);
    cmd
}

/// Runs SQL (one or many statements) through `psql`; returns unaligned, tuples-only output.
pub fn pg(db: &str, sql: &str) -> String {
    let mut cmd = psql(db);
    cmd.arg("-At");
    run(&mut cmd, Some(sql.as_bytes()))
}

/// A PostgreSQL database dropped (forcefully) when the test ends, however it ends.
#[derive(Debug)]
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn create(what: &str) -> Self {
        let name = unique(what);
        pg("postgres", &format!("CREATE DATABASE \"{name}\""));
        Self { name }
    }

    /// Only the name: the database is expected to be created by the code under test.
    pub fn reserve(what: &str) -> Self {
        Self { name: unique(what) }
    }

    pub fn sql(&self, sql: &str) -> String {
        pg(&self.name, sql)
    }

    pub fn config(&self) -> SourceConfig {
        SourceConfig {
            label: format!("pg {}", self.name),
            provider: SourceProvider::Postgres,
            host: PG_HOST.into(),
            port: PG_PORT,
            db_name: Some(self.name.clone()),
            user: Some(PG_USER.into()),
            password: None,
            tls: Some("disable".into()),
            db_path: None,
            dump_tool: None,
            dump_options: vec![],
        }
    }

    /// Number of tables, views and sequences in the public schemas.
    pub fn object_count(&self) -> u64 {
        self.sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','v','m','S','p') \
               AND n.nspname NOT IN ('pg_catalog','information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%'",
        )
        .trim()
        .parse()
        .unwrap()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-X", "-q", "-h", PG_HOST, "-U", PG_USER, "-d", "postgres", "-c",
            ])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------- MariaDB

fn mariadb(db: Option<&str>) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.arg(format!("--host={MY_HOST}"))
        .arg(format!("--port={MY_PORT}"))
        .arg(format!("--user={MY_USER}"))
        .args([
            "--batch",
            "--skip-column-names",
            "--default-character-set=utf8mb4",
        ]);
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    cmd
}

/// Runs SQL through the `mariadb` client; returns batch output (tab-separated, escaped).
pub fn my(db: Option<&str>, sql: &str) -> String {
    run(&mut mariadb(db), Some(sql.as_bytes()))
}

/// A client session left open (its input not closed) after running some SQL, so that what it
/// started (a transaction holding a lock) lasts; the client is killed when the test ends.
#[derive(Debug)]
pub struct OpenSession(Child);

impl OpenSession {
    /// `psql` connected to `db`.
    pub fn pg(db: &str, sql: &str) -> Self {
        Self::start(psql(db), sql)
    }

    /// The `mariadb` client connected to `db`.
    pub fn my(db: &str, sql: &str) -> Self {
        Self::start(mariadb(Some(db)), sql)
    }

    fn start(mut cmd: Command, sql: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(sql.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        Self(child)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A MariaDB database dropped when the test ends.
#[derive(Debug)]
pub struct MyDb {
    pub name: String,
}

impl MyDb {
    pub fn create(what: &str) -> Self {
        let name = unique(what);
        my(
            None,
            &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
        );
        Self { name }
    }

    pub fn reserve(what: &str) -> Self {
        Self { name: unique(what) }
    }

    pub fn sql(&self, sql: &str) -> String {
        my(Some(&self.name), sql)
    }

    /// Raw client output, for binary columns.
    pub fn raw(&self, sql: &str) -> Vec<u8> {
        run_raw(&mut mariadb(Some(&self.name)), Some(sql.as_bytes()))
    }

    pub fn config(&self) -> SourceConfig {
        SourceConfig {
            label: format!("my {}", self.name),
            provider: SourceProvider::Mariadb,
            host: MY_HOST.into(),
            port: MY_PORT,
            db_name: Some(self.name.clone()),
            user: Some(MY_USER.into()),
            password: None,
            tls: None,
            db_path: None,
            dump_tool: None,
            dump_options: vec![],
        }
    }

    pub fn table_count(&self) -> u64 {
        self.sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()")
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = mariadb(None)
            .arg("-e")
            .arg(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
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
        Engine::new(6)
            .backup(Arc::new(source), std::slice::from_ref(&self.drive))
            .await
    }

    /// Starts a backup of `source` onto this store, cancelled when `cancel` is.
    pub fn backup_in_background(
        &self,
        source: impl Source + 'static,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<BackupReport> {
        let engine = Engine::new(6).with_cancel(cancel);
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
    let check = check_gzip(fs::File::open(&object).unwrap()).unwrap();
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
    source: &SourceConfig,
    name: &str,
    object: &Path,
    manifest: &Manifest,
) -> (RestoreTarget, RestoreOutcome) {
    let base = RestoreTarget::from_source(source).unwrap();
    let target = create_database(&base, name).unwrap();
    let outcome = restore::restore(
        fs::File::open(object).unwrap(),
        &target,
        &RestoreOptions {
            expected: Some(manifest.clone()),
            force: false,
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
    source: &SourceConfig,
) -> RestoreError {
    let (object, manifest) = stored(report, store);
    let target = RestoreTarget::from_source(source).unwrap();
    let options = RestoreOptions {
        expected: Some(manifest),
        force: false,
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

/// A backup of `source` made by a stand-in for its dump tool `tool` (`source.dump_tool`),
/// which passes `--version` through, cuts the real tool's output off after 200 kB, says
/// "simulated crash" and dies by SIGKILL: the backup fails with both and stores nothing.
pub async fn killed_dump_stores_nothing<S: Source + 'static>(
    mut source: SourceConfig,
    tool: &str,
    new: impl Fn(&SourceConfig) -> S,
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
    source.dump_tool = Some(wrapper);
    let store = LocalStore::new();
    let report = store.backup(new(&source)).await;
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

/// An executable shell script in `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `bash -c` with the given command line (pipefail on), asserting success.
pub fn shell(command: &str) -> String {
    run(
        Command::new("bash")
            .arg("-c")
            .arg(format!("set -o pipefail; {command}")),
        None,
    )
}
