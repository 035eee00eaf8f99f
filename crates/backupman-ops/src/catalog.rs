//! Finding backups on drives: what `list`, `verify`, `restore` and the service share. What
//! each needs decides what it reads: `list` and the service's catalog read every manifest
//! (a bounded number at a time, or its copy in the folder's index: `backupman_core::index`),
//! `--latest` reads newest first only until one is trusted, a
//! named key reads its own. Every manifest is a stranger's input (see
//! `backupman_core::listing`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use backupman_core::index;
use backupman_core::listing::{self, Standing, StoredBackup, TrustPolicy};
use backupman_core::{BackupKey, Drive, DriveError, SigningKeyError, Verifier, slugify};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

use crate::servers;
use crate::wiring::{self, BrokenDrive, Plan, SourcePlan, UnknownLabel};

/// Source × drive listings run at once: each is a page or a few of one store.
const LISTINGS_AT_ONCE: usize = 4;

/// One backup on one drive.
#[derive(Debug, Clone)]
pub struct Found {
    /// The configured source the backup belongs to.
    pub source: SourcePlan,
    /// The drive holding it.
    pub drive: Arc<dyn Drive>,
    /// The backup as listed, with its manifest and standing.
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

/// How much of each backup to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every manifest (and signature): `list`, the service's catalog.
    Everything,
    /// Only until the newest trusted backup of each source × drive is found.
    LatestTrusted,
}

/// Lists every backup of `sources` on `drives`, each checked by `verifier` (and by its
/// source's encryption), reading as much as `depth` needs.
pub async fn find(
    sources: &[&SourcePlan],
    drives: &[Arc<dyn Drive>],
    verifier: Option<&Verifier>,
    depth: Depth,
) -> Catalog {
    let listings = pairs(sources, drives)
        .into_iter()
        .map(|(drive, source)| list_pair(drive, source, verifier, depth))
        .collect();
    run_listings(listings).await
}

/// Runs the listings, [`LISTINGS_AT_ONCE`] at a time, into one catalog. They come
/// collected: a lazy `map` would make its closure part of the future's type, which then is
/// not `Send` for every lifetime (rust-lang/rust#102211).
async fn run_listings(listings: Vec<impl Future<Output = Vec<Listed>>>) -> Catalog {
    let listed: Vec<Vec<Listed>> = stream::iter(listings)
        .buffer_unordered(LISTINGS_AT_ONCE)
        .collect()
        .await;
    assemble(listed.into_iter().flatten().collect())
}

/// What a source is on a drive: itself, or for a whole-server source each database (and
/// the globals) the drive holds backups of.
/// A drive that cannot be listed for the parts gives the source's listing error.
async fn parts_on(
    drive: &Arc<dyn Drive>,
    source: SourcePlan,
) -> Result<Vec<SourcePlan>, Vec<Listed>> {
    if !source.is_server() {
        return Ok(vec![source]);
    }
    servers::on_drive(&source, drive.as_ref())
        .await
        .map_err(|e| vec![(drive.clone(), source, Err(e))])
}

/// One source on one drive, read as deep as `depth` says.
async fn list_pair(
    drive: Arc<dyn Drive>,
    source: SourcePlan,
    verifier: Option<&Verifier>,
    depth: Depth,
) -> Vec<Listed> {
    let parts = match parts_on(&drive, source).await {
        Ok(parts) => parts,
        Err(failed) => return failed,
    };
    let mut out = Vec::new();
    for source in parts {
        out.push(match depth {
            Depth::Everything => relist_one(drive.clone(), source, verifier, &Known::new()).await,
            Depth::LatestTrusted => {
                let policy = source.trust(verifier);
                let latest = listing::latest_trusted(drive.as_ref(), source.label(), &policy)
                    .await
                    .map(|b| b.into_iter().collect());
                (drive.clone(), source, latest)
            }
        });
    }
    out
}

/// [`find`] with [`Depth::Everything`], reading only the manifests `previous` has not: a
/// backup's object, manifest and signature are written once and never replaced, so what was
/// inspected stays inspected. A backup the new listing condemns (its manifest gone, say) is
/// judged again. This is how the service keeps its catalog fresh for the cost of a listing.
pub async fn refresh(
    previous: &Catalog,
    sources: &[&SourcePlan],
    drives: &[Arc<dyn Drive>],
    verifier: Option<&Verifier>,
) -> Catalog {
    let known: Known<'_> = previous
        .found
        .iter()
        .map(|f| ((f.drive.label(), f.backup.key.as_str()), &f.backup))
        .collect();
    let listings = pairs(sources, drives)
        .into_iter()
        .map(|(drive, source)| relist_pair(drive, source, verifier, &known))
        .collect();
    run_listings(listings).await
}

/// Backups already inspected, by drive label and key.
type Known<'a> = HashMap<(&'a str, &'a str), &'a StoredBackup>;

/// One source on one drive listed again, inspecting only what `known` lacks.
async fn relist_pair(
    drive: Arc<dyn Drive>,
    source: SourcePlan,
    verifier: Option<&Verifier>,
    known: &Known<'_>,
) -> Vec<Listed> {
    match parts_on(&drive, source).await {
        Ok(parts) => {
            let mut out = Vec::new();
            for source in parts {
                out.push(relist_one(drive.clone(), source, verifier, known).await);
            }
            out
        }
        Err(failed) => failed,
    }
}

async fn relist_one(
    drive: Arc<dyn Drive>,
    source: SourcePlan,
    verifier: Option<&Verifier>,
    known: &Known<'_>,
) -> Listed {
    let policy = source.trust(verifier);
    let seen = |b: &StoredBackup| {
        known
            .get(&(drive.label(), b.key.as_str()))
            .map(|s| (*s).clone())
    };
    let listed = index::list_inspected(drive.as_ref(), source.label(), &policy, seen).await;
    (drive, source, listed)
}

/// Every drive × source, owned, so the listings can run as tasks of their own.
fn pairs(sources: &[&SourcePlan], drives: &[Arc<dyn Drive>]) -> Vec<(Arc<dyn Drive>, SourcePlan)> {
    drives
        .iter()
        .flat_map(|d| sources.iter().map(move |s| (d.clone(), (*s).clone())))
        .collect()
}

/// What one source × drive listing gave.
type Listed = (
    Arc<dyn Drive>,
    SourcePlan,
    Result<Vec<StoredBackup>, DriveError>,
);

/// One catalog of what each source × drive listing gave.
fn assemble(listed: Vec<Listed>) -> Catalog {
    let mut catalog = Catalog::default();
    for (drive, source, listed) in listed {
        match listed {
            Ok(backups) => catalog
                .found
                .extend(backups.into_iter().map(|backup| Found {
                    source: source.clone(),
                    drive: drive.clone(),
                    backup,
                })),
            Err(error) => catalog.errors.push(ListingError {
                source: source.label().to_owned(),
                drive: drive.label().to_owned(),
                error,
            }),
        }
    }
    sort_newest_first(&mut catalog.found);
    catalog
        .errors
        .sort_by(|a, b| (&a.drive, &a.source).cmp(&(&b.drive, &b.source)));
    catalog
}

/// Newest first; ties (two drives holding one key) in drive order of the labels.
pub fn sort_newest_first(found: &mut [Found]) {
    found.sort_by(|a, b| {
        b.backup
            .taken_at
            .cmp(&a.backup.taken_at)
            .then_with(|| a.drive.label().cmp(b.drive.label()))
    });
}

/// The newest trusted backup per source × drive (`found` newest first, as [`find`] returns
/// it).
pub fn latest(found: Vec<Found>) -> Vec<Found> {
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|f| f.backup.standing.is_trusted())
        .filter(|f| seen.insert((f.source.label().to_owned(), f.drive.label().to_owned())))
        .collect()
}

/// The source a key belongs to, by the one slug rule: a configured source's own folder, or
/// the folder of a part of a whole-server source.
pub fn source_of_key(sources: &[SourcePlan], key: &str) -> Option<SourcePlan> {
    let parsed = BackupKey::parse(key)?;
    let folder = parsed.source_slug;
    if let Some(own) = sources.iter().find(|s| slugify(s.label()) == folder) {
        return Some(own.clone());
    }
    sources.iter().find_map(|s| {
        let database = folder.strip_prefix(&format!("{}-", slugify(s.label())))?;
        if !s.is_server() {
            return None;
        }
        servers::named(sources, &servers::part_label(s.label(), database))
    })
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
    /// What may be believed of it: `signed`, `ok` (no signing key configured), `unsigned`,
    /// `bad signature`, `unencrypted`, `suspect`, `damaged` or `no manifest`.
    pub standing: &'static str,
    /// Why it is not trusted, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl From<&Found> for ListEntry {
    fn from(f: &Found) -> Self {
        Self {
            source: f.source.label().to_owned(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            taken_at: f.backup.taken_at,
            size: f.backup.size,
            sha256: f.backup.manifest.as_ref().map(|m| m.sha256.clone()),
            has_manifest: f.backup.standing != Standing::NoManifest,
            standing: f.backup.standing.label(),
            problem: f.backup.standing.reason(),
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
    /// The signing key could not be loaded, so nothing could be checked against it.
    pub signing_error: Option<String>,
}

impl ListReport {
    /// Every listing could be read. (A drive that cannot be built is reported, and counts
    /// against `list` no more than a drive that holds nothing.)
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.signing_error.is_none()
    }
}

/// The `list` operation: backups of the selected sources on the selected drives.
pub async fn list(
    plan: &Plan,
    sources: &[String],
    drives: &[String],
) -> Result<ListReport, UnknownLabel> {
    let selected = plan.select(sources, drives)?;
    let sources: Vec<&SourcePlan> = selected.sources.iter().collect();
    let (drives, broken_drives) = wiring::build_drives(&selected.drives);
    // A key that cannot be loaded still lets the listing show what is there; every backup is
    // then judged as if no signature were required, and the report fails.
    let (verifier, signing_error) = match &plan.signing.verifier {
        Ok(verifier) => (verifier.clone(), None),
        Err(err) => (None, Some(err.to_string())),
    };
    let catalog = find(&sources, &drives, verifier.as_ref(), Depth::Everything).await;
    Ok(ListReport {
        entries: catalog.found.iter().map(ListEntry::from).collect(),
        broken_drives,
        errors: catalog.errors,
        signing_error,
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
    #[error(
        "no trusted backup found ({0} passed over: see `backupman list` for why each is not trusted)"
    )]
    /// Backups exist, but none is trusted (unsigned, suspect, damaged...).
    NoneTrusted(usize),
    #[error(
        "{key} is not trusted: {reason}; nothing was read from it (pass --allow-untrusted to use it anyway)"
    )]
    /// The backup named is not trusted, and the caller did not allow it.
    Untrusted {
        /// The backup's key.
        key: String,
        /// Why it is not trusted.
        reason: String,
    },
    #[error("{0}")]
    /// The signing key could not be loaded.
    Signing(#[from] SigningKeyError),
}

impl PickError {
    /// The command line was wrong (rather than the drives lacking something).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::UnknownLabel(_) | Self::NotAKey(_) | Self::NothingNamed | Self::Signing(_)
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
    /// Take a named backup even when it is not trusted (unsigned, badly signed, unencrypted
    /// where encryption is configured, suspect): `--allow-untrusted`.
    pub allow_untrusted: bool,
}

/// What a [`Pick`] found, and what it could not look at.
#[derive(Debug, Clone, Default)]
pub struct Picked {
    /// The backups named.
    pub found: Vec<Found>,
    /// Drives that could not be built.
    pub broken: Vec<BrokenDrive>,
    /// Drives whose listing failed: what they hold was not considered.
    pub errors: Vec<ListingError>,
}

/// Finds what `pick` names. Drives that cannot be built or listed are left out and returned.
pub async fn pick(plan: &Plan, pick: &Pick) -> Result<Picked, PickError> {
    let (drives, broken) = wiring::build_drives(&plan.select_drives(&pick.drives)?);
    let verifier = plan.signing.verifier.clone()?;
    if let Some(key) = &pick.key {
        let source =
            source_of_key(&plan.sources, key).ok_or_else(|| PickError::NotAKey(key.clone()))?;
        let policy = source.trust(verifier.as_ref());
        let mut picked = Picked {
            broken,
            ..Picked::default()
        };
        for drive in &drives {
            match named(drive.as_ref(), source.label(), key, &policy).await {
                Ok(Some(backup)) => picked.found.push(Found {
                    source: source.clone(),
                    drive: drive.clone(),
                    backup,
                }),
                Ok(None) => {}
                Err(error) => picked.errors.push(ListingError {
                    source: source.label().to_owned(),
                    drive: drive.label().to_owned(),
                    error,
                }),
            }
        }
        if picked.found.is_empty() {
            return Err(PickError::NoDriveHolds(key.clone()));
        }
        if !pick.allow_untrusted
            && let Some(f) = picked
                .found
                .iter()
                .find(|f| !f.backup.standing.is_trusted())
        {
            return Err(PickError::Untrusted {
                key: key.clone(),
                reason: f.backup.standing.reason().unwrap_or_default(),
            });
        }
        return Ok(picked);
    }
    if !pick.latest {
        return Err(PickError::NothingNamed);
    }
    let sources = plan.select_sources(&pick.sources)?;
    let sources: Vec<&SourcePlan> = sources.iter().collect();
    let catalog = find(&sources, &drives, verifier.as_ref(), Depth::LatestTrusted).await;
    if catalog.found.is_empty() && catalog.errors.is_empty() {
        // Distinguish "nothing there" from "nothing trusted there": one more listing each.
        let mut passed_over = 0;
        for drive in &drives {
            for source in &sources {
                let policy = source.trust(verifier.as_ref());
                passed_over += listing::list_source(drive.as_ref(), source.label(), &policy)
                    .await
                    .map_or(0, |l| l.len());
            }
        }
        return Err(if passed_over == 0 {
            PickError::NoBackups
        } else {
            PickError::NoneTrusted(passed_over)
        });
    }
    Ok(Picked {
        found: latest(catalog.found),
        broken,
        errors: catalog.errors,
    })
}

/// The backup `key` of `source_label` on `drive`, inspected; `None` when the drive does not
/// hold it.
async fn named(
    drive: &dyn Drive,
    source_label: &str,
    key: &str,
    policy: &TrustPolicy,
) -> Result<Option<StoredBackup>, DriveError> {
    let listed = listing::list_source(drive, source_label, policy).await?;
    match listed.into_iter().find(|b| b.key == key) {
        Some(backup) => Ok(Some(listing::inspect(drive, backup, policy).await?)),
        None => Ok(None),
    }
}
