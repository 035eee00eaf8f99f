//! `verify`: read backups back end to end and check them against their manifests; with the
//! restore drill, restore each into a scratch database too.

use backupman_core::{Manifest, check_against_manifest};
use backupman_dump::restore::{
    RestoreOptions, RestoreTarget, create_database, drop_database, restore_stream, scratch_name,
    summarize,
};
use serde::Serialize;

use crate::catalog::Found;
use crate::wiring;

/// The verdict on one backup on one drive.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The source's label.
    pub source: String,
    /// The drive's label.
    pub drive: String,
    /// The backup's key.
    pub key: String,
    /// The backup is intact (and, with the drill, restored).
    pub ok: bool,
    /// What was checked (when `ok`), or why it failed.
    pub detail: String,
    /// A scratch database the drill could not drop, for the operator to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover: Option<String>,
}

/// Verifies each backup in `found`, one after the other.
pub async fn verify(found: &[Found], drill: bool) -> Vec<VerifyReport> {
    let mut reports = Vec::with_capacity(found.len());
    for f in found {
        let mut leftover = None;
        let result = verify_one(f, drill, &mut leftover).await;
        reports.push(VerifyReport {
            source: f.source.label.clone(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            ok: result.is_ok(),
            detail: result.unwrap_or_else(|e| e),
            leftover,
        });
    }
    reports
}

async fn verify_one(
    f: &Found,
    drill: bool,
    leftover: &mut Option<String>,
) -> Result<String, String> {
    let manifest = f
        .backup
        .manifest
        .as_ref()
        .ok_or("no manifest beside it, so its SHA-256 cannot be checked")?;
    let check = check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest)
        .await
        .map_err(|e| e.to_string())?;
    let mut detail = format!(
        "SHA-256 and size match the manifest, decoded to its end ({} bytes uncompressed)",
        check.plain_size
    );
    if drill {
        detail.push_str("; ");
        detail.push_str(&restore_drill(f, manifest, leftover).await?);
    }
    Ok(detail)
}

/// Restores into a scratch database created for the purpose and dropped afterwards, and
/// counts what arrived.
async fn restore_drill(
    f: &Found,
    manifest: &Manifest,
    leftover: &mut Option<String>,
) -> Result<String, String> {
    let settings = wiring::database_settings(&f.source).map_err(|e| e.to_string())?;
    let base = RestoreTarget::from_settings(&settings);
    let scratch_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let target = match &base {
        RestoreTarget::Sqlite { staging_dir, .. } => RestoreTarget::Sqlite {
            path: scratch_dir.path().join("scratch.sqlite"),
            staging_dir: staging_dir.clone(),
        },
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
    if !matches!(target, RestoreTarget::Sqlite { .. }) {
        let t = target.clone();
        let dropped = tokio::task::spawn_blocking(move || drop_database(&t)).await;
        if let Ok(Err(err)) = dropped {
            *leftover = Some(format!("could not drop scratch database {target}: {err}"));
        }
    }
    result
}
