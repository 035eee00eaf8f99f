//! backupman as a library, without a configuration file: a source and two drives built in
//! code from their own settings types, one backup through the engine, then each drive's
//! listing and a verification of what it holds against the manifest stored beside it.
//!
//! ```text
//! cargo run -p backupman-ops --example embedded_backup [-- FOLDER]
//! ```
//!
//! It backs up a small SQLite database it creates in FOLDER (a fresh temporary folder by
//! default). A PostgreSQL or MySQL source is built the same way from `PostgresSettings` or
//! `MysqlSettings` (`backupman_dump`), an S3 drive from `backupman_s3::S3Settings` with
//! `S3Drive::new`; `backupman_ops::wiring` is where a `config.yml` is mapped onto those same
//! settings. `backupman-ops`'s tests run [`run`] and read the backup back.

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use backupman_core::listing::{TrustPolicy, list_inspected};
use backupman_core::{
    Codec, Compression, Drive, Engine, LocalDrive, Source, check_against_manifest, human_bytes,
};
use backupman_dump::{SqliteSettings, SqliteSource};

/// The source's label: also, as a slug, the folder its backups go to on every drive.
pub const SOURCE: &str = "App DB";

/// What one drive holds after the run.
#[derive(Debug)]
pub struct Held {
    /// The drive.
    pub drive: Arc<dyn Drive>,
    /// The keys of the source's backups on it, newest first.
    pub listed: Vec<String>,
    /// Bytes the new backup unpacks to, read back and checked against its manifest.
    pub plain_size: u64,
    /// SHA-256 of the stored object, as its manifest has it.
    pub sha256: String,
}

/// One backup of a demo database in `dir` to two local drives under `dir`; the key of the
/// backup and what each drive holds.
pub async fn run(dir: &Path) -> Result<(String, Vec<Held>), Box<dyn Error>> {
    let db = dir.join("app.sqlite");
    create_demo_database(&db)?;

    // Built from settings, not from YAML: each kind has a settings type of its own.
    let source: Arc<dyn Source> = Arc::new(SqliteSource::new(SqliteSettings::new(SOURCE, &db)));
    let drives: Vec<Arc<dyn Drive>> = vec![
        Arc::new(LocalDrive::new("disk", dir.join("disk"))),
        Arc::new(LocalDrive::new("nas", dir.join("nas"))),
    ];

    // One dump, compressed once, streamed to every drive at once.
    let engine = Engine::new(Compression::new(Codec::Zstd, 3, 2));
    let report = engine.backup(source, &drives).await;
    if let Some(failure) = &report.failure {
        return Err(format!("the dump of {SOURCE} failed: {failure}").into());
    }
    for outcome in &report.drives {
        if let Err(err) = &outcome.result {
            return Err(format!("{} did not store the backup: {err}", outcome.drive).into());
        }
    }

    let mut held = Vec::new();
    for drive in &drives {
        // Every backup read back is checked before it is believed: its manifest bounded,
        // about its own key and dated as its key is (a signing key would be checked too).
        let trust = TrustPolicy::unsigned(chrono::Utc::now());
        let backups = list_inspected(drive.as_ref(), SOURCE, &trust).await?;
        let backup = backups
            .iter()
            .find(|b| b.key == report.key)
            .ok_or_else(|| format!("{} does not list {}", drive.label(), report.key))?;
        if let Some(problem) = backup.standing.reason() {
            return Err(format!("{} on {}: {problem}", backup.key, drive.label()).into());
        }
        let manifest = backup
            .manifest
            .as_ref()
            .ok_or_else(|| format!("{} has no manifest beside {}", drive.label(), backup.key))?;
        // Reads the object end to end: SHA-256, size and the compressed stream all checked.
        let check = check_against_manifest(drive.as_ref(), &backup.key, manifest, None).await?;
        held.push(Held {
            drive: drive.clone(),
            listed: backups.iter().map(|b| b.key.clone()).collect(),
            plain_size: check
                .plain_size
                .ok_or("an unencrypted backup has a plain size")?,
            sha256: check.sha256,
        });
    }
    Ok((report.key, held))
}

/// A small database with one table of 100 rows.
pub fn create_demo_database(path: &Path) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL);
         DELETE FROM orders;",
    )?;
    for id in 1..=100 {
        conn.execute(
            "INSERT INTO orders (id, item) VALUES (?1, ?2)",
            rusqlite::params![id, format!("item {id}")],
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let temp;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&dir)?;
    let (key, held) = run(&dir).await?;
    println!("backed up {SOURCE} as {key}");
    for h in &held {
        println!(
            "{}: {} backup(s) listed; {} verified: {} plain, sha256 {}",
            h.drive.label(),
            h.listed.len(),
            h.drive.location(&key),
            human_bytes(h.plain_size),
            h.sha256
        );
    }
    Ok(())
}
