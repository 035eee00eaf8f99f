//! `restore`: stream one backup from its drive into a database, checked against its manifest
//! on the way.

use backupman_core::{DriveError, Identities};
use backupman_dump::restore::{
    RestoreError, RestoreOptions, RestoreOutcome, RestoreTarget, check_stream, check_target,
    restore_stream,
};
use chrono::{DateTime, Utc};

use crate::catalog::{self, Pick, PickError};
use crate::wiring::{Plan, UnknownLabel};

/// What to restore, and where.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The source whose backup it is.
    pub source: String,
    /// A backup key, or `latest`.
    pub key: Option<String>,
    /// Restore the newest backup of the source.
    pub latest: bool,
    /// Only look on these drives (all when empty).
    pub drives: Vec<String>,
    /// A `--to` target (a URL or a path); the source's own database when `None`.
    pub to: Option<String>,
    /// Restore over a database that already has tables.
    pub force: bool,
    /// The age identities that decrypt an encrypted backup.
    pub identities: Option<Identities>,
    /// Restore a named backup even when it is not trusted (`--allow-untrusted`); `latest`
    /// only ever picks a trusted one.
    pub allow_untrusted: bool,
}

/// Steps worth telling the operator about while a restore runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RestoreStep<'a> {
    /// The backup chosen and where it goes.
    Starting {
        /// The backup's key.
        key: &'a str,
        /// Bytes of the stored object.
        size: u64,
        /// When it was taken.
        taken_at: DateTime<Utc>,
        /// The drive it is read from.
        drive: &'a str,
        /// Where it goes.
        target: &'a RestoreTarget,
    },
    /// MySQL/MariaDB cannot roll back a partial restore: the whole object is read and checked
    /// first (hash, size, and the client's filter for planted commands).
    CheckingFirst {
        /// The backup's key.
        key: &'a str,
    },
}

/// A restore that went through.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The backup restored.
    pub key: String,
    /// Where it went.
    pub target: RestoreTarget,
    /// What was read: sizes and SHA-256, checked against the manifest.
    pub read: RestoreOutcome,
}

/// Why nothing (or, for the engines that say so, not everything) was restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreFailure {
    #[error(transparent)]
    /// A label that is not configured.
    UnknownLabel(#[from] UnknownLabel),
    #[error(transparent)]
    /// No backup could be picked.
    Pick(#[from] PickError),
    #[error("that backup does not belong to source {0:?}")]
    /// The backup named belongs to another source.
    OtherSource(String),
    #[error("{0}")]
    /// The `--to` target does not parse, or the source has no database to restore into.
    Target(RestoreError),
    #[error(
        "{0} has no manifest beside it, so its SHA-256 cannot be checked; refusing to restore it"
    )]
    /// A backup without a manifest cannot be checked, so it is not restored.
    NoManifest(String),
    #[error("{error} (checked before restoring into {target})")]
    /// MySQL/MariaDB: the object failed its check before anything was applied (damaged,
    /// larger than its manifest says, holding a client command, or not decryptable).
    NotIntact {
        /// How it failed; it says nothing was applied.
        error: RestoreError,
        /// Where it would have gone.
        target: RestoreTarget,
    },
    #[error(
        "{0} is age-encrypted: give the identity that decrypts it with --identity FILE or BACKUPMAN_AGE_IDENTITY; nothing was applied"
    )]
    /// The backup is encrypted and no identity was given.
    NoIdentity(String),
    #[error("cannot read {key}: {error}")]
    /// The object could not be read from its drive.
    Read {
        /// The backup's key.
        key: String,
        /// Why it could not be read.
        error: DriveError,
    },
    #[error("{0}")]
    /// The database refused the dump, or the object failed its check while streaming.
    Restore(RestoreError),
}

impl RestoreFailure {
    /// The command line was wrong (rather than the backup or the database).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::UnknownLabel(_) | Self::OtherSource(_) | Self::Target(_) => true,
            Self::Pick(p) => p.is_usage(),
            _ => false,
        }
    }
}

/// The `restore` operation, over the sources and drives of `plan`.
pub async fn restore(
    plan: &Plan,
    request: &RestoreRequest,
    mut on_step: impl FnMut(RestoreStep<'_>),
) -> Result<RestoreReport, RestoreFailure> {
    let source = plan
        .select_sources(std::slice::from_ref(&request.source))?
        .remove(0);
    let pick = Pick {
        key: request.key.clone(),
        latest: request.latest,
        sources: vec![request.source.clone()],
        drives: request.drives.clone(),
        allow_untrusted: request.allow_untrusted,
    };
    let picked = catalog::pick(plan, &pick).await?;
    for e in &picked.errors {
        tracing::warn!("cannot list {:?} on {:?}: {}", e.source, e.drive, e.error);
    }
    let chosen = picked
        .found
        .into_iter()
        .find(|f| f.source.label() == source.label())
        .ok_or_else(|| RestoreFailure::OtherSource(source.label().to_owned()))?;
    let settings = source.database_settings().map_err(|e| {
        RestoreFailure::Target(RestoreError::InvalidTarget {
            spec: source.label().to_owned(),
            reason: e.message,
        })
    })?;
    let target = match &request.to {
        Some(spec) => RestoreTarget::parse(spec, &settings).map_err(RestoreFailure::Target)?,
        None => RestoreTarget::from_settings(&settings),
    };
    let key = chosen.backup.key.clone();
    let manifest = chosen
        .backup
        .manifest
        .clone()
        .ok_or_else(|| RestoreFailure::NoManifest(key.clone()))?;
    if manifest.is_encrypted() && request.identities.is_none() {
        return Err(RestoreFailure::NoIdentity(key));
    }
    on_step(RestoreStep::Starting {
        key: &key,
        size: chosen.backup.size,
        taken_at: chosen.backup.taken_at,
        drive: chosen.drive.label(),
        target: &target,
    });
    let options = RestoreOptions {
        expected: Some(manifest),
        force: request.force,
        identities: request.identities.clone(),
    };
    // The target is looked at before the backup is read: a database that is not empty (or
    // a client that cannot be used) is said at once, not after a whole download.
    let checked = {
        let (target, options) = (target.clone(), options.clone());
        tokio::task::spawn_blocking(move || check_target(&target, &options)).await
    };
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(RestoreFailure::Restore(error)),
        // The check panicked: the restore itself looks again.
        Err(_) => {}
    }
    let read = |key: String| async {
        chosen
            .drive
            .read(&key)
            .await
            .map_err(|error| RestoreFailure::Read { key, error })
    };
    // MySQL/MariaDB cannot roll back DDL: statements streamed before a damaged part of the
    // object, or before a planted client command, would stay applied. Read the whole object
    // once through the same checks first (hash, size bound, the client's filter), so such a
    // backup applies nothing there either (PostgreSQL and SQLite need no second read).
    if !target.is_transactional() {
        on_step(RestoreStep::CheckingFirst { key: &key });
        match check_stream(read(key.clone()).await?, target.clone(), options.clone()).await {
            Ok(_) => {}
            // The client cannot be used (missing, or without --sandbox): not the backup's fault.
            Err(error @ RestoreError::Tool(_)) => return Err(RestoreFailure::Restore(error)),
            Err(error) => return Err(RestoreFailure::NotIntact { error, target }),
        }
    }
    let stream = read(key.clone()).await?;
    let read = restore_stream(stream, target.clone(), options)
        .await
        .map_err(RestoreFailure::Restore)?;
    Ok(RestoreReport { key, target, read })
}
