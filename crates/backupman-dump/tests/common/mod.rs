//! Helpers shared by the real-server tests: scratch databases that drop themselves, the
//! command-line clients as independent witnesses, and a backup onto a local drive.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use backupman_config::{SourceConfig, SourceProvider};
use backupman_core::{BackupReport, Drive, Engine, LocalDrive, Source};

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
    use std::io::Write;
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

/// Asserts the backup succeeded and returns the stored object's path and SHA-256.
pub fn stored(report: &BackupReport, store: &LocalStore) -> (PathBuf, String) {
    assert!(
        report.succeeded(),
        "backup failed: {:?} / {:?}",
        report.failure,
        report.drives
    );
    let manifest = report.manifest.as_ref().expect("a manifest");
    (store.path_of(&report.key), manifest.sha256.clone())
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
