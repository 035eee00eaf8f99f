//! What the pages show, gathered once per request from memory (the catalog, the runs, the
//! schedule, the last health check) and summed up per source: the pages only format it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use backupman_config::{Config, SourceConfig};
use backupman_ops::catalog::Catalog;
use backupman_ops::record::{BackupRecord, RecordStatus};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::api::backups::merged;
use crate::api::status::HealthReport;
use crate::scheduler::{NextRun, next_tick};
use crate::service::Service;

/// Everything a page needs, as of `now`.
#[derive(Debug)]
pub(crate) struct Facts {
    /// The records of the stored backups (shared while the catalog is the same).
    pub stored: Arc<Vec<BackupRecord>>,
    /// Pending and failed runs since start.
    pub runs: Vec<BackupRecord>,
    /// Labels of the configured sources being backed up.
    pub running: BTreeSet<String>,
    /// Next scheduled run by source label.
    pub next_runs: BTreeMap<String, NextRun>,
    /// The last health check, once one has ended.
    pub health: Option<Arc<HealthReport>>,
    /// Sources whose backups a drive could not list: `(source, drive, why)`.
    pub listing_errors: Vec<(String, String, String)>,
    pub now: DateTime<Utc>,
}

impl Facts {
    pub(crate) async fn gather(service: &Service) -> Self {
        let catalog = service.stored().await;
        Self {
            stored: service.web.records(&catalog),
            runs: service.runs.records(),
            running: service.runs.running(),
            next_runs: service
                .schedules
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            health: service.health.last(),
            listing_errors: catalog
                .errors
                .iter()
                .map(|e| (e.source.clone(), e.drive.clone(), e.error.to_string()))
                .collect(),
            now: Utc::now(),
        }
    }
}

impl Facts {
    /// Stored backups and runs as one list, newest first (as `GET /api/backups` has them).
    pub(crate) fn backups(&self) -> Vec<&BackupRecord> {
        merged(&self.stored, &self.runs)
    }
}

/// The records of a catalog's backups, made once per catalog: building them costs more than
/// a page (20,000 backups: a hash per id), and the catalog changes only when it is refreshed.
#[derive(Debug, Default)]
pub(crate) struct RecordCache {
    last: std::sync::Mutex<Option<Shown>>,
}

/// A catalog and its records.
type Shown = (Arc<Catalog>, Arc<Vec<BackupRecord>>);

impl RecordCache {
    pub(crate) fn records(&self, catalog: &Arc<Catalog>) -> Arc<Vec<BackupRecord>> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, records)) = last.as_ref()
            && Arc::ptr_eq(seen, catalog)
        {
            return records.clone();
        }
        let records = Arc::new(BackupRecord::from_stored(&catalog.found));
        *last = Some((catalog.clone(), records.clone()));
        records
    }
}

/// The time zone times are shown in: `http.backup_job`'s, else UTC.
pub(crate) fn time_zone(config: &Config) -> Tz {
    config
        .http
        .backup_job
        .as_ref()
        .map_or(chrono_tz::UTC, |j| j.timezone)
}

/// How a source's last run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastRun {
    Running,
    Failed,
    /// Stored, but not to be trusted (unsigned, damaged...).
    Untrusted,
    Stored,
    Never,
}

impl LastRun {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Failed => "Failed",
            Self::Untrusted => "Not trusted",
            Self::Stored => "Stored",
            Self::Never => "No backup yet",
        }
    }

    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Failed | Self::Untrusted => "bad",
            Self::Stored => "good",
            Self::Never => "none",
        }
    }
}

/// Red, amber or green: the age of the last good backup against the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Within the schedule's interval (and some slack), and the last run did not fail.
    OnTime,
    /// Up to one interval late, or the last run failed.
    Late,
    /// Later than that, or never backed up.
    Overdue,
}

impl Mark {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::OnTime => "On time",
            Self::Late => "Late",
            Self::Overdue => "Overdue",
        }
    }

    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::OnTime => "green",
            Self::Late => "amber",
            Self::Overdue => "red",
        }
    }
}

/// One row: a source, or a database of a whole-server source.
#[derive(Debug)]
pub(crate) struct Summary<'a> {
    /// The backups' label (`server/database` for a database of a whole-server source).
    pub label: &'a str,
    /// The configured source it belongs to.
    pub source: &'a SourceConfig,
    /// Its backups and failed runs, newest first.
    pub backups: Vec<&'a BackupRecord>,
}

/// A stored backup that can be trusted.
pub(crate) fn is_good(r: &BackupRecord) -> bool {
    r.status == RecordStatus::Finished && r.untrusted.is_none() && !r.key.is_empty()
}

/// Why a backup failed: its own error (the dump's, with its hint), else each drive's.
pub(crate) fn why_failed(r: &BackupRecord) -> String {
    if let Some(error) = &r.error {
        return error.to_string();
    }
    let drives: Vec<String> = r
        .drive_files
        .iter()
        .filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.label)))
        .collect();
    if drives.is_empty() {
        "failed (the server log says why)".to_owned()
    } else {
        drives.join("; ")
    }
}

/// Seconds from a backup's start to its end.
pub(crate) fn took(r: &BackupRecord) -> f64 {
    super::format::seconds(r.updated_at - r.created_at)
}

impl<'a> Summary<'a> {
    /// The newest trusted backup.
    pub(crate) fn last_good(&self) -> Option<&'a BackupRecord> {
        self.backups.iter().copied().find(|r| is_good(r))
    }

    /// The last trusted backups, up to `n`, oldest first (for a chart).
    pub(crate) fn history(&self, n: usize) -> Vec<&'a BackupRecord> {
        let mut h: Vec<_> = self
            .backups
            .iter()
            .copied()
            .filter(|r| is_good(r))
            .take(n)
            .collect();
        h.reverse();
        h
    }

    pub(crate) fn last_run(&self, running: &BTreeSet<String>) -> LastRun {
        if running.contains(&self.source.label) {
            return LastRun::Running;
        }
        match self
            .backups
            .iter()
            .find(|r| r.status != RecordStatus::Pending)
        {
            None => LastRun::Never,
            Some(r) if r.status == RecordStatus::Failed => LastRun::Failed,
            Some(r) if r.untrusted.is_some() => LastRun::Untrusted,
            Some(_) => LastRun::Stored,
        }
    }

    pub(crate) fn mark(
        &self,
        config: &Config,
        running: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Mark {
        let Some(good) = self.last_good() else {
            return Mark::Overdue;
        };
        let every = interval(self.source, config, now);
        let grace = (every / 2).max(TimeDelta::minutes(15));
        let age = now - good.created_at;
        if age > every * 2 + grace {
            Mark::Overdue
        } else if age > every + grace
            || matches!(self.last_run(running), LastRun::Failed | LastRun::Untrusted)
        {
            Mark::Late
        } else {
            Mark::OnTime
        }
    }
}

/// The time between two runs of the schedule that backs `source` up (its own, else
/// `http.backup_job`); a day when there is none (backups started by hand or by cron).
pub(crate) fn interval(source: &SourceConfig, config: &Config, now: DateTime<Utc>) -> TimeDelta {
    let job = source.schedule.as_ref().or(config.http.backup_job.as_ref());
    job.and_then(|job| {
        let first = next_tick(job, now, None)?;
        let second = next_tick(job, first, None)?;
        Some(second - first)
    })
    .unwrap_or(TimeDelta::days(1))
}

/// One summary per configured source, in configuration order; a whole-server source has one
/// per database found (itself alone while none is).
pub(crate) fn summaries<'a>(config: &'a Config, backups: &[&'a BackupRecord]) -> Vec<Summary<'a>> {
    let mut by_label: HashMap<&str, Vec<&BackupRecord>> = HashMap::new();
    for &r in backups {
        by_label.entry(r.label.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for source in &config.sources {
        if source.databases.is_some() {
            let prefix = format!("{}/", source.label);
            let mut parts: Vec<&str> = by_label
                .keys()
                .copied()
                .filter(|l| l.starts_with(&prefix))
                .collect();
            if !parts.is_empty() {
                parts.sort_unstable();
                for label in parts {
                    out.push(Summary {
                        label,
                        source,
                        backups: by_label.remove(label).unwrap_or_default(),
                    });
                }
                continue;
            }
        }
        out.push(Summary {
            label: &source.label,
            source,
            backups: by_label.remove(source.label.as_str()).unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_made_again_only_for_a_new_catalog() {
        let cache = RecordCache::default();
        let first = Arc::new(Catalog::default());
        let made = cache.records(&first);
        assert!(
            Arc::ptr_eq(&made, &cache.records(&first)),
            "the same catalog"
        );
        let refreshed = Arc::new(Catalog::default());
        assert!(
            !Arc::ptr_eq(&made, &cache.records(&refreshed)),
            "a refreshed one"
        );
    }
}
