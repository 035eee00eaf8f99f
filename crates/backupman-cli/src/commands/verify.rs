//! `backupman verify`: download backups, check them against their manifests and their gzip
//! streams to the end; with `--restore`, restore each into a scratch database too.

use backupman_core::{Manifest, check_against_manifest};
use backupman_dump::restore::{
    RestoreOptions, RestoreTarget, create_database, drop_database, restore_stream, scratch_name,
    summarize,
};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, VerifyArgs};
use crate::commands::catalog::{self, Found};
use crate::commands::or_exit;
use crate::wiring;

#[derive(Debug, Serialize)]
pub struct VerifyJson {
    pub source: String,
    pub drive: String,
    pub key: String,
    pub ok: bool,
    pub detail: String,
}

/// The backups a command names: one key (on every drive holding it) or the newest per
/// source × drive. `Err` carries the outcome after the message was printed.
pub async fn pick(
    config: &backupman_config::Config,
    key: Option<&str>,
    latest: bool,
    sources: &[String],
    drives: &[String],
) -> Result<Vec<Found>, Outcome> {
    let drives = catalog::drives(config, drives)?;
    if let Some(key) = key {
        let Some(source) = catalog::source_of_key(config, key) else {
            eprintln!(
                "error: {key:?} is not a backup key of any configured source (see `backupman list`)"
            );
            return Err(Outcome::Invalid);
        };
        let (found, _) = catalog::find(&[source], &drives).await;
        let found: Vec<Found> = found.into_iter().filter(|f| f.backup.key == key).collect();
        if found.is_empty() {
            eprintln!("error: no drive holds {key}");
            return Err(Outcome::Failed);
        }
        return Ok(found);
    }
    if !latest {
        eprintln!("error: name a backup KEY (see `backupman list`) or use --latest");
        return Err(Outcome::Invalid);
    }
    let sources = wiring::select("source", &config.sources, |s| s.label.as_str(), sources)?;
    let (found, _) = catalog::find(&sources, &drives).await;
    let found = catalog::latest(found);
    if found.is_empty() {
        eprintln!("error: no backups found");
        return Err(Outcome::Failed);
    }
    Ok(found)
}

pub async fn verify(global: &Global, args: VerifyArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let found = or_exit!(
        pick(
            &config,
            args.key.as_deref(),
            args.latest,
            &args.sources,
            &args.drives,
        )
        .await
    );
    let mut results = Vec::new();
    for f in &found {
        let result = verify_one(f, args.restore).await;
        match &result {
            Ok(detail) => {
                if !global.quiet {
                    eprintln!(
                        "✔ {} on {}: {} — {detail}",
                        f.source.label,
                        f.drive.label(),
                        f.backup.key
                    );
                }
            }
            Err(err) => eprintln!(
                "✘ {} on {}: {} — {err}",
                f.source.label,
                f.drive.label(),
                f.backup.key
            ),
        }
        results.push(VerifyJson {
            source: f.source.label.clone(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            ok: result.is_ok(),
            detail: result.unwrap_or_else(|e| e),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(if results.iter().all(|r| r.ok) {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

async fn verify_one(f: &Found, restore: bool) -> Result<String, String> {
    let manifest = f
        .backup
        .manifest
        .as_ref()
        .ok_or("no manifest beside it, so its SHA-256 cannot be checked")?;
    let check = check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest)
        .await
        .map_err(|e| e.to_string())?;
    let mut detail = format!(
        "SHA-256 and size match the manifest, gzip stream intact ({} bytes uncompressed)",
        check.plain_size
    );
    if restore {
        detail.push_str("; ");
        detail.push_str(&restore_drill(f, manifest).await?);
    }
    Ok(detail)
}

/// Restores into a scratch database created for the purpose and dropped afterwards, and
/// counts what arrived.
async fn restore_drill(f: &Found, manifest: &Manifest) -> Result<String, String> {
    let base = RestoreTarget::from_source(&f.source).map_err(|e| e.to_string())?;
    let scratch_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let target = match &base {
        RestoreTarget::Sqlite(_) => {
            RestoreTarget::Sqlite(scratch_dir.path().join("scratch.sqlite"))
        }
        _ => {
            let base = base.clone();
            tokio::task::spawn_blocking(move || {
                create_database(&base, &scratch_name("backupman_verify"))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot create a scratch database: {e}"))?
        }
    };
    let result = async {
        let stream = f
            .drive
            .read(&f.backup.key)
            .await
            .map_err(|e| e.to_string())?;
        let options = RestoreOptions {
            expected: Some(manifest.clone()),
            force: true,
        };
        restore_stream(stream, target.clone(), options)
            .await
            .map_err(|e| e.to_string())?;
        let t = target.clone();
        let summary = tokio::task::spawn_blocking(move || summarize(&t))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(format!(
            "restored into scratch database {target}: {} tables, {} rows",
            summary.tables.len(),
            summary.total_rows()
        ))
    }
    .await;
    if !matches!(target, RestoreTarget::Sqlite(_)) {
        let t = target.clone();
        let dropped = tokio::task::spawn_blocking(move || drop_database(&t)).await;
        if let Ok(Err(err)) = dropped {
            eprintln!("warning: could not drop scratch database {target}: {err}");
        }
    }
    result
}
