//! Finding backups on drives: what `list`, `verify` and `restore` share.

use std::collections::HashSet;
use std::sync::Arc;

use backupman_config::{Config, SourceConfig};
use backupman_core::retention::{StoredBackup, list_backups};
use backupman_core::{BackupKey, Drive, DriveError, slugify};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::wiring::{self, BrokenDrive, UnknownLabel};

/// One backup on one drive.
#[derive(Debug, Clone)]
pub struct Found {
    /// The configured source the backup belongs to.
    pub source: SourceConfig,
    /// The drive holding it.
    pub drive: Arc<dyn Drive>,
    /// The backup as listed, with its manifest.
    pub backup: StoredBackup,
}

/// A source whose backups could not be listed on a drive.
#[derive(Debug, Clone, Serialize)]
pub struct ListingError {
    /// The source's label.
    pub source: String,
    /// The drive's label.
    pub drive: String,
    /// Why listing failed.
    pub error: DriveError,
}

/// Every backup of some sources on some drives, newest first, and what could not be listed.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Newest first.
    pub found: Vec<Found>,
    /// Sources whose listing failed on a drive.
    pub errors: Vec<ListingError>,
}

/// Lists every backup of `sources` on `drives`.
pub async fn find(sources: &[&SourceConfig], drives: &[Arc<dyn Drive>]) -> Catalog {
    let mut catalog = Catalog::default();
    for drive in drives {
        for source in sources {
            match list_backups(drive.as_ref(), &source.label).await {
                Ok(backups) => catalog
                    .found
                    .extend(backups.into_iter().map(|backup| Found {
                        source: (*source).clone(),
                        drive: drive.clone(),
                        backup,
                    })),
                Err(error) => catalog.errors.push(ListingError {
                    source: source.label.clone(),
                    drive: drive.label().to_owned(),
                    error,
                }),
            }
        }
    }
    catalog
        .found
        .sort_by_key(|f| std::cmp::Reverse(f.backup.taken_at));
    catalog
}

/// The newest backup per source × drive (`found` newest first, as [`find`] returns it).
pub fn latest(found: Vec<Found>) -> Vec<Found> {
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|f| seen.insert((f.source.label.clone(), f.drive.label().to_owned())))
        .collect()
}

/// The source a key belongs to, by the one slug rule.
pub fn source_of_key<'a>(config: &'a Config, key: &str) -> Option<&'a SourceConfig> {
    let parsed = BackupKey::parse(key)?;
    config
        .sources
        .iter()
        .find(|s| slugify(&s.label) == parsed.source_slug)
}

/// One line of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    /// The source's label.
    pub source: String,
    /// The drive's label.
    pub drive: String,
    /// The object key, relative to the drive's prefix.
    pub key: String,
    /// When the backup was taken (its manifest, else its key).
    pub taken_at: DateTime<Utc>,
    /// Bytes of the stored object.
    pub size: u64,
    /// SHA-256 from the manifest.
    pub sha256: Option<String>,
    /// Whether a manifest lies beside the object.
    pub has_manifest: bool,
}

impl From<&Found> for ListEntry {
    fn from(f: &Found) -> Self {
        Self {
            source: f.source.label.clone(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            taken_at: f.backup.taken_at,
            size: f.backup.size,
            sha256: f.backup.manifest.as_ref().map(|m| m.sha256.clone()),
            has_manifest: f.backup.manifest.is_some(),
        }
    }
}

/// What `list` found.
#[derive(Debug, Clone, Default)]
pub struct ListReport {
    /// Newest first.
    pub entries: Vec<ListEntry>,
    /// Drives that could not be built.
    pub broken_drives: Vec<BrokenDrive>,
    /// Sources whose listing failed on a drive.
    pub errors: Vec<ListingError>,
}

impl ListReport {
    /// Every listing could be read. (A drive that cannot be built is reported, and counts
    /// against `list` no more than a drive that holds nothing.)
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The `list` operation: backups of the selected sources on the selected drives.
pub async fn list(
    config: &Config,
    sources: &[String],
    drives: &[String],
) -> Result<ListReport, UnknownLabel> {
    let sources = wiring::select_sources(config, sources)?;
    let (drives, broken_drives) = wiring::build_drives(&wiring::select_drives(config, drives)?);
    let catalog = find(&sources, &drives).await;
    Ok(ListReport {
        entries: catalog.found.iter().map(ListEntry::from).collect(),
        broken_drives,
        errors: catalog.errors,
    })
}

/// Why no backup could be picked.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PickError {
    #[error(transparent)]
    /// A label that is not configured.
    UnknownLabel(#[from] UnknownLabel),
    #[error("{0:?} is not a backup key of any configured source (see `backupman list`)")]
    /// A key that names no configured source.
    NotAKey(String),
    #[error("no drive holds {0}")]
    /// The key is on none of the selected drives.
    NoDriveHolds(String),
    #[error("name a backup KEY (see `backupman list`) or use --latest")]
    /// Neither a key nor `latest` was given.
    NothingNamed,
    #[error("no backups found")]
    /// The selected drives hold no backup of the selected sources.
    NoBackups,
}

impl PickError {
    /// The command line was wrong (rather than the drives lacking something).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::UnknownLabel(_) | Self::NotAKey(_) | Self::NothingNamed
        )
    }
}

/// The backups a command names: one key (on every selected drive holding it) or, with
/// `latest`, the newest per source × drive.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    /// One backup key.
    pub key: Option<String>,
    /// Or the newest backup per source × drive.
    pub latest: bool,
    /// Source labels (all when empty).
    pub sources: Vec<String>,
    /// Drive labels (all when empty).
    pub drives: Vec<String>,
}

/// Finds what `pick` names. Drives that cannot be built or listed are left out and returned.
pub async fn pick(
    config: &Config,
    pick: &Pick,
) -> Result<(Vec<Found>, Vec<BrokenDrive>), PickError> {
    let (drives, broken) = wiring::build_drives(&wiring::select_drives(config, &pick.drives)?);
    if let Some(key) = &pick.key {
        let source = source_of_key(config, key).ok_or_else(|| PickError::NotAKey(key.clone()))?;
        let found: Vec<Found> = find(&[source], &drives)
            .await
            .found
            .into_iter()
            .filter(|f| &f.backup.key == key)
            .collect();
        if found.is_empty() {
            return Err(PickError::NoDriveHolds(key.clone()));
        }
        return Ok((found, broken));
    }
    if !pick.latest {
        return Err(PickError::NothingNamed);
    }
    let sources = wiring::select_sources(config, &pick.sources)?;
    let found = latest(find(&sources, &drives).await.found);
    if found.is_empty() {
        return Err(PickError::NoBackups);
    }
    Ok((found, broken))
}
