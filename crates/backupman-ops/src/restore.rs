//! `restore`: stream one backup from its drive into a database, checked against its manifest
//! on the way.

use backupman_core::{CheckError, DriveError, check_against_manifest};
use backupman_dump::restore::{
    RestoreError, RestoreOptions, RestoreOutcome, RestoreTarget, restore_stream,
};
use chrono::{DateTime, Utc};

use crate::catalog::{self, Pick, PickError};
use crate::wiring::{self, UnknownLabel};

/// What to restore, and where.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The source whose backup it is.
    pub source: String,
    /// A backup key, or `latest`.
    pub key: Option<String>,
    pub latest: bool,
    /// Only look on these drives (all when empty).
    pub drives: Vec<String>,
    /// A `--to` target (a URL or a path); the source's own database when `None`.
    pub to: Option<String>,
    /// Restore over a database that already has tables.
    pub force: bool,
}

/// Steps worth telling the operator about while a restore runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RestoreStep<'a> {
    /// The backup chosen and where it goes.
    Starting {
        key: &'a str,
        size: u64,
        taken_at: DateTime<Utc>,
        drive: &'a str,
        target: &'a RestoreTarget,
    },
    /// MySQL/MariaDB cannot roll back a partial restore: the whole object is read and checked
    /// first.
    CheckingFirst { key: &'a str },
}

/// A restore that went through.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub key: String,
    pub target: RestoreTarget,
    pub read: RestoreOutcome,
}

/// Why nothing (or, for the engines that say so, not everything) was restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreFailure {
    #[error(transparent)]
    UnknownLabel(#[from] UnknownLabel),
    #[error(transparent)]
    Pick(#[from] PickError),
    #[error("that backup does not belong to source {0:?}")]
    OtherSource(String),
    #[error("{0}")]
    Target(RestoreError),
    #[error(
        "{0} has no manifest beside it, so its SHA-256 cannot be checked; refusing to restore it"
    )]
    NoManifest(String),
    #[error("the backup is not intact ({error}); nothing was applied to {target}")]
    NotIntact {
        error: CheckError,
        target: RestoreTarget,
    },
    #[error("cannot read {key}: {error}")]
    Read { key: String, error: DriveError },
    #[error("{0}")]
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

/// The `restore` operation.
pub async fn restore(
    config: &backupman_config::Config,
    request: &RestoreRequest,
    mut on_step: impl FnMut(RestoreStep<'_>),
) -> Result<RestoreReport, RestoreFailure> {
    let source = wiring::select_sources(config, std::slice::from_ref(&request.source))?[0].clone();
    let pick = Pick {
        key: request.key.clone(),
        latest: request.latest,
        sources: vec![request.source.clone()],
        drives: request.drives.clone(),
    };
    let (found, _) = catalog::pick(config, &pick).await?;
    let chosen = found
        .into_iter()
        .find(|f| f.source.label == source.label)
        .ok_or_else(|| RestoreFailure::OtherSource(source.label.clone()))?;
    let target = match &request.to {
        Some(spec) => RestoreTarget::parse(spec, &source),
        None => RestoreTarget::from_source(&source),
    }
    .map_err(RestoreFailure::Target)?;
    let key = chosen.backup.key.clone();
    let manifest = chosen
        .backup
        .manifest
        .clone()
        .ok_or_else(|| RestoreFailure::NoManifest(key.clone()))?;
    on_step(RestoreStep::Starting {
        key: &key,
        size: chosen.backup.size,
        taken_at: chosen.backup.taken_at,
        drive: chosen.drive.label(),
        target: &target,
    });
    // MySQL/MariaDB cannot roll back DDL: statements streamed before a damaged part of the
    // object would stay applied. Read the whole object once and check it first, so a damaged
    // backup applies nothing there either (PostgreSQL and SQLite need no second read).
    if !target.is_transactional() {
        on_step(RestoreStep::CheckingFirst { key: &key });
        if let Err(error) = check_against_manifest(chosen.drive.as_ref(), &key, &manifest).await {
            return Err(RestoreFailure::NotIntact { error, target });
        }
    }
    let stream = chosen
        .drive
        .read(&key)
        .await
        .map_err(|error| RestoreFailure::Read {
            key: key.clone(),
            error,
        })?;
    let options = RestoreOptions {
        expected: Some(manifest),
        force: request.force,
    };
    let read = restore_stream(stream, target.clone(), options)
        .await
        .map_err(RestoreFailure::Restore)?;
    Ok(RestoreReport { key, target, read })
}
