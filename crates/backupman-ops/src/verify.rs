//! `verify`: read backups back end to end and check them against their manifests; with the
//! restore drill, restore each into a scratch database too.

use backupman_core::{Identities, Manifest, check_against_manifest};
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
    /// Its content was read and checked: false for an encrypted backup verified without an
    /// identity, of which only the stored bytes (SHA-256 and size) were checked.
    pub content_checked: bool,
    /// What was checked (when `ok`), or why it failed.
    pub detail: String,
    /// A scratch database the drill could not drop, for the operator to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover: Option<String>,
}

/// Verifies each backup in `found`, one after the other. Encrypted backups are decrypted
/// with `identities`; without them only their stored bytes are checked, which is not a
/// failure (the report says so in `content_checked` and `detail`), except with the drill,
/// which needs the content.
pub async fn verify(
    found: &[Found],
    drill: bool,
    identities: Option<&Identities>,
) -> Vec<VerifyReport> {
    let mut reports = Vec::with_capacity(found.len());
    for f in found {
        let mut leftover = None;
        let result = verify_one(f, drill, identities, &mut leftover).await;
        reports.push(VerifyReport {
            source: f.source.label.clone(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            ok: result.is_ok(),
            content_checked: result.as_ref().is_ok_and(|(_, inside)| *inside),
            detail: result.map_or_else(|e| e, |(detail, _)| detail),
            leftover,
        });
    }
    reports
}

/// What was checked, and whether that included the content.
async fn verify_one(
    f: &Found,
    drill: bool,
    identities: Option<&Identities>,
    leftover: &mut Option<String>,
) -> Result<(String, bool), String> {
    let manifest = f
        .backup
        .manifest
        .as_ref()
        .ok_or("no manifest beside it, so its SHA-256 cannot be checked")?;
    // An untrusted backup (asked for by name with --allow-untrusted) is still checked, so an
    // operator can see what it is, but never passes, and is never restored by the drill.
    if let Some(reason) = f.backup.standing.reason() {
        let check = check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest, identities)
            .await
            .map_or_else(|e| e.to_string(), |_| "it matches its manifest".to_owned());
        return Err(format!("not trusted: {reason} ({check})"));
    }
    let check = check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest, identities)
        .await
        .map_err(|e| e.to_string())?;
    let Some(plain_size) = check.plain_size else {
        let detail = "SHA-256 and size of the encrypted object match the manifest; it could not be looked inside without an identity (--identity FILE or BACKUPMAN_AGE_IDENTITY), so its content is unchecked";
        if drill {
            return Err(format!("{detail}, and the restore drill needs it"));
        }
        return Ok((detail.to_owned(), false));
    };
    let decrypted = if manifest.is_encrypted() {
        "decrypted and "
    } else {
        ""
    };
    let mut detail = format!(
        "SHA-256 and size match the manifest, {decrypted}decoded to its end ({plain_size} bytes uncompressed)"
    );
    if drill {
        detail.push_str("; ");
        detail.push_str(&restore_drill(f, manifest, identities, leftover).await?);
    }
    Ok((detail, true))
}

/// Restores into a scratch database created for the purpose and dropped afterwards, and
/// counts what arrived.
async fn restore_drill(
    f: &Found,
    manifest: &Manifest,
    identities: Option<&Identities>,
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
            identities: identities.cloned(),
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
