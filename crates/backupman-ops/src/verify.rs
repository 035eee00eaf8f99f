//! `verify`: read backups back end to end and check them against their manifests; with the
//! restore drill, restore each into a scratch database too.

use std::sync::Arc;

use backupman_core::{
    CheckError, DriveError, Identities, Manifest, SourceError, check_against_manifest,
};
use backupman_dump::restore::{
    RestoreError, RestoreOptions, RestoreTarget, create_database, drop_database, restore_stream,
    scratch_name, summarize,
};
use serde::Serialize;

use crate::catalog::Found;

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
    /// What was checked (when `ok`), or why it failed (`error`'s line).
    pub detail: String,
    /// Why it failed, typed.
    #[serde(skip)]
    pub error: Option<VerifyError>,
    /// A scratch database the drill could not drop, for the operator to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover: Option<String>,
}

/// What `verify` says of an encrypted backup checked without an identity.
const ENCRYPTED_UNCHECKED: &str = "SHA-256 and size of the encrypted object match the manifest; it could not be looked inside without an identity (--identity FILE or BACKUPMAN_AGE_IDENTITY), so its content is unchecked";

/// Why a backup failed verification (or its restore drill).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No manifest was found beside the object.
    #[error("no manifest beside it, so its SHA-256 cannot be checked")]
    NoManifest,
    /// The backup is not trusted; it was checked anyway, so the operator sees what it is.
    #[error("not trusted: {reason} ({check})")]
    Untrusted {
        /// Why it is not trusted.
        reason: String,
        /// What checking it against its manifest found.
        check: String,
    },
    /// It could not be read, or is not what its manifest describes.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// An encrypted backup without an identity: the drill cannot restore it.
    #[error("{ENCRYPTED_UNCHECKED}, and the restore drill needs it")]
    NeedsIdentity,
    /// The source's settings cannot make a restore target.
    #[error(transparent)]
    Settings(#[from] SourceError),
    /// The drill's scratch folder could not be made.
    #[error("cannot create a scratch folder: {0}")]
    Scratch(#[source] Arc<std::io::Error>),
    /// The drill's scratch database could not be made.
    #[error("cannot create a scratch database: {0}")]
    CreateDatabase(#[source] Arc<RestoreError>),
    /// The drill could not read the object for its restore.
    #[error(transparent)]
    Read(#[from] DriveError),
    /// The drill's restore, or its count of what arrived, failed.
    #[error(transparent)]
    Restore(Arc<RestoreError>),
    /// A drill task stopped (a bug, reported rather than a crash).
    #[error("internal error: the restore drill stopped: {0}")]
    Internal(#[source] Arc<tokio::task::JoinError>),
}

fn restore_failed(err: RestoreError) -> VerifyError {
    VerifyError::Restore(Arc::new(err))
}

fn internal(err: tokio::task::JoinError) -> VerifyError {
    VerifyError::Internal(Arc::new(err))
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
            source: f.source.label().to_owned(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            ok: result.is_ok(),
            content_checked: result.as_ref().is_ok_and(|(_, inside)| *inside),
            detail: result
                .as_ref()
                .map_or_else(ToString::to_string, |(detail, _)| detail.clone()),
            error: result.err(),
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
) -> Result<(String, bool), VerifyError> {
    let manifest = f.backup.manifest.as_ref().ok_or(VerifyError::NoManifest)?;
    // An untrusted backup (asked for by name with --allow-untrusted) is still checked, so an
    // operator can see what it is, but never passes, and is never restored by the drill.
    if let Some(reason) = f.backup.standing.reason() {
        let check = check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest, identities)
            .await
            .map_or_else(|e| e.to_string(), |_| "it matches its manifest".to_owned());
        return Err(VerifyError::Untrusted {
            reason: reason.to_string(),
            check,
        });
    }
    let check =
        check_against_manifest(f.drive.as_ref(), &f.backup.key, manifest, identities).await?;
    let Some(plain_size) = check.plain_size else {
        if drill {
            return Err(VerifyError::NeedsIdentity);
        }
        return Ok((ENCRYPTED_UNCHECKED.to_owned(), false));
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
) -> Result<String, VerifyError> {
    let settings = f.source.database_settings()?;
    let base = RestoreTarget::from_settings(&settings);
    let scratch_dir = tempfile::tempdir().map_err(|e| VerifyError::Scratch(Arc::new(e)))?;
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
            .map_err(internal)?
            .map_err(|e| VerifyError::CreateDatabase(Arc::new(e)))?
        }
    };
    let result = async {
        let stream = f.drive.read(&f.backup.key).await?;
        let options = RestoreOptions {
            expected: Some(manifest.clone()),
            force: true,
            identities: identities.cloned(),
        };
        restore_stream(stream, target.clone(), options)
            .await
            .map_err(restore_failed)?;
        let t = target.clone();
        let summary = tokio::task::spawn_blocking(move || summarize(&t))
            .await
            .map_err(internal)?
            .map_err(restore_failed)?;
        Ok::<_, VerifyError>(format!(
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
