//! Finding backups on drives: what `list`, `verify` and `restore` share.

use std::sync::Arc;

use backupman_config::{Config, SourceConfig};
use backupman_core::retention::{StoredBackup, list_backups};
use backupman_core::{BackupKey, Drive, slugify};

use crate::Outcome;
use crate::wiring;

/// One backup on one drive.
#[derive(Debug, Clone)]
pub struct Found {
    pub source: SourceConfig,
    pub drive: Arc<dyn Drive>,
    pub backup: StoredBackup,
}

/// The configured drives (all, or those asked for), built; a drive that cannot be built is
/// reported and skipped.
pub fn drives(config: &Config, wanted: &[String]) -> Result<Vec<Arc<dyn Drive>>, Outcome> {
    let selected = wiring::select("drive", &config.drives, |d| d.label(), wanted)?;
    let mut out = Vec::new();
    for cfg in selected {
        match wiring::drive(cfg) {
            Ok(d) => out.push(d),
            Err(err) => eprintln!("✘ {err}"),
        }
    }
    Ok(out)
}

/// Every backup of the given sources on the given drives, newest first. Listing errors are
/// printed and returned as `false` in the second value.
pub async fn find(sources: &[&SourceConfig], drives: &[Arc<dyn Drive>]) -> (Vec<Found>, bool) {
    let mut all = Vec::new();
    let mut ok = true;
    for drive in drives {
        for source in sources {
            match list_backups(drive.as_ref(), &source.label).await {
                Ok(backups) => all.extend(backups.into_iter().map(|backup| Found {
                    source: (*source).clone(),
                    drive: drive.clone(),
                    backup,
                })),
                Err(err) => {
                    eprintln!("✘ cannot list {} on {}: {err}", source.label, drive.label());
                    ok = false;
                }
            }
        }
    }
    all.sort_by_key(|f| std::cmp::Reverse(f.backup.taken_at));
    (all, ok)
}

/// The source a key belongs to, from its folder name.
pub fn source_of_key<'a>(config: &'a Config, key: &str) -> Option<&'a SourceConfig> {
    let parsed = BackupKey::parse(key)?;
    config
        .sources
        .iter()
        .find(|s| slugify(&s.label) == parsed.source_slug)
}

/// The newest backup per source × drive.
pub fn latest(found: Vec<Found>) -> Vec<Found> {
    let mut seen = std::collections::HashSet::new();
    found
        .into_iter()
        .filter(|f| seen.insert((f.source.label.clone(), f.drive.label().to_owned())))
        .collect()
}
