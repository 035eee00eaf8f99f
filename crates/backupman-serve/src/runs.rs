//! Backup runs the service starts. A source is backed up by one run at a time: a run claims
//! its sources from start to end, so a start that finds one of them claimed is refused (never
//! queued). Runs of other sources (a source's own `schedule` beside `http.backup_job`) go on
//! side by side; each holds the run lock for reading, and shutdown waits on it for writing.
//! Runs in progress and failed backups since the start are kept here, as the drives know only
//! what was stored.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backupman_core::CancellationToken;
use backupman_ops::backup::{self, RunEvent, RunOptions};
use backupman_ops::notify;
use backupman_ops::record::{BackupRecord, RecordStatus};
use chrono::Utc;

use crate::service::Service;

/// Failed backups kept in memory; older ones are forgotten (the log has them).
const KEPT_FAILURES: usize = 200;

/// Why a run did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStarted {
    /// Another run is going on.
    Busy,
    /// The service is shutting down.
    Stopping,
}

/// Which sources a run backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Which {
    /// Every configured source (`POST /api/backups`).
    All,
    /// These, by label (a schedule's).
    Sources(Vec<String>),
}

/// The run lock, the sources being backed up, the token that cancels the running backups,
/// and the records since start.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    lock: Arc<tokio::sync::RwLock<()>>,
    /// Labels of the sources a run is backing up.
    claimed: Mutex<BTreeSet<String>>,
    cancel: CancellationToken,
    /// Pending and failed backups, newest first.
    records: Mutex<VecDeque<BackupRecord>>,
}

impl Runs {
    /// Pending and failed backups since the service started, newest first.
    pub(crate) fn records(&self) -> Vec<BackupRecord> {
        self.lock_records().iter().cloned().collect()
    }

    /// Labels of the sources being backed up now (claimed as a run starts, before its
    /// pending records appear).
    pub(crate) fn running(&self) -> BTreeSet<String> {
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock_records(&self) -> std::sync::MutexGuard<'_, VecDeque<BackupRecord>> {
        // A panic while holding the lock cannot leave the list half-changed: each change is
        // one push or retain.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `grace` for the running backup, then cancels it and waits for its uploads
    /// to be aborted.
    pub(crate) async fn finish_or_cancel(&self, grace: Duration) {
        if tokio::time::timeout(grace, self.lock.write()).await.is_ok() {
            return;
        }
        tracing::warn!(
            "the running backup did not finish within {} s: cancelling it (its uploads are aborted)",
            grace.as_secs()
        );
        self.cancel.cancel();
        let _ = self.lock.write().await;
    }

    /// Claims `labels` for a run, all or none; released when the claim is dropped.
    fn claim(self: &Arc<Self>, labels: Vec<String>) -> Option<Claim> {
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        if labels.iter().any(|l| claimed.contains(l)) {
            return None;
        }
        claimed.extend(labels.iter().cloned());
        Some(Claim {
            runs: self.clone(),
            labels,
        })
    }
}

/// Sources a run backs up, released when it ends.
struct Claim {
    runs: Arc<Runs>,
    labels: Vec<String>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claimed = self
            .runs
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for label in &self.labels {
            claimed.remove(label);
        }
    }
}

/// Starts a backup of `which` sources to every drive in the background, unless one of them
/// is being backed up. `trigger` names who asked, for the log.
pub(crate) fn start(
    service: &Arc<Service>,
    trigger: &'static str,
    which: Which,
) -> Result<(), NotStarted> {
    if service.stopping.is_cancelled() {
        return Err(NotStarted::Stopping);
    }
    let guard = service
        .runs
        .lock
        .clone()
        .try_read_owned()
        .map_err(|_| NotStarted::Stopping)?;
    let labels = match &which {
        Which::All => service
            .plan
            .sources
            .iter()
            .map(|s| s.label().to_owned())
            .collect(),
        Which::Sources(labels) => labels.clone(),
    };
    let claim = service.runs.claim(labels).ok_or(NotStarted::Busy)?;
    let service = service.clone();
    tokio::spawn(async move {
        run(&service, trigger, &which).await;
        drop(claim);
        drop(guard);
    });
    Ok(())
}

async fn run(service: &Service, trigger: &str, which: &Which) {
    let plan = &service.plan;
    let started_at = Utc::now();
    tracing::info!("backup started ({trigger})");
    let sources = match which {
        Which::All => Vec::new(),
        Which::Sources(labels) => labels.clone(),
    };
    {
        let mut records = service.runs.lock_records();
        for source in plan.sources.iter().rev() {
            let label = source.label();
            if sources.is_empty() || sources.iter().any(|s| s == label) {
                records.push_front(BackupRecord::pending(label, plan, started_at));
            }
        }
    }
    for warning in notify::before_run(plan).await {
        tracing::warn!("{warning}");
    }
    let options = RunOptions {
        sources,
        cancel: service.runs.cancel.clone(),
        ..RunOptions::default()
    };
    let report = backup::backup(plan, options, |event| {
        if let RunEvent::SourceDone(source) = event {
            let finished_at = Utc::now();
            service.metrics.observe(source, finished_at);
            let mut records = service.runs.lock_records();
            // A whole-server source's pending record ends with its first database.
            records.retain(|r| {
                !(r.status == RecordStatus::Pending
                    && (r.label == source.source
                        || source.source.starts_with(&format!("{}/", r.label))))
            });
            if !source.ok {
                records.push_front(BackupRecord::from_report(source, plan, finished_at));
                records.truncate(KEPT_FAILURES);
            }
        }
    })
    .await;
    // What the run stored (and what retention deleted) shows at once.
    service.catalog.refresh().await;
    // A source the run never reported on (it cannot happen, but a pending record must not
    // outlive its run).
    service
        .runs
        .lock_records()
        .retain(|r| r.status != RecordStatus::Pending || r.created_at != started_at);
    match report {
        Ok(report) => {
            let failed = report.sources.iter().filter(|s| !s.ok).count();
            if failed == 0 {
                tracing::info!("backup finished: every source stored on every drive");
            } else {
                tracing::error!("backup finished: {failed} source(s) failed");
            }
            for warning in notify::after_run(plan, &report).await {
                tracing::warn!("{warning}");
            }
        }
        Err(err) => tracing::error!("backup not started: {err}"),
    }
}
