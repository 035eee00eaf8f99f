//! Backup runs the service starts, one at a time: a run holds the run lock from start to
//! end, so a second start while it goes on is refused (never queued), and shutdown waits on
//! the same lock. Runs in progress and failed backups since the start are kept here, as
//! the drives know only what was stored.

use std::collections::VecDeque;
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

/// The run lock, the token that cancels the running backup, and the records since start.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    lock: Arc<tokio::sync::Mutex<()>>,
    cancel: CancellationToken,
    /// Pending and failed backups, newest first.
    records: Mutex<VecDeque<BackupRecord>>,
}

impl Runs {
    /// Pending and failed backups since the service started, newest first.
    pub(crate) fn records(&self) -> Vec<BackupRecord> {
        self.lock_records().iter().cloned().collect()
    }

    fn lock_records(&self) -> std::sync::MutexGuard<'_, VecDeque<BackupRecord>> {
        // A panic while holding the lock cannot leave the list half-changed: each change is
        // one push or retain.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `grace` for the running backup, then cancels it and waits for its uploads
    /// to be aborted.
    pub(crate) async fn finish_or_cancel(&self, grace: Duration) {
        if tokio::time::timeout(grace, self.lock.lock()).await.is_ok() {
            return;
        }
        tracing::warn!(
            "the running backup did not finish within {} s: cancelling it (its uploads are aborted)",
            grace.as_secs()
        );
        self.cancel.cancel();
        let _ = self.lock.lock().await;
    }
}

/// Starts a backup of every source to every drive in the background, unless one is going
/// on. `trigger` names who asked, for the log.
pub(crate) fn start(service: &Arc<Service>, trigger: &'static str) -> Result<(), NotStarted> {
    if service.stopping.is_cancelled() {
        return Err(NotStarted::Stopping);
    }
    let guard = service
        .runs
        .lock
        .clone()
        .try_lock_owned()
        .map_err(|_| NotStarted::Busy)?;
    let service = service.clone();
    tokio::spawn(async move {
        run(&service, trigger).await;
        drop(guard);
    });
    Ok(())
}

async fn run(service: &Service, trigger: &str) {
    let config = &service.config;
    let started_at = Utc::now();
    tracing::info!("backup started ({trigger})");
    {
        let mut records = service.runs.lock_records();
        for source in config.sources.iter().rev() {
            records.push_front(BackupRecord::pending(&source.label, config, started_at));
        }
    }
    let options = RunOptions {
        cancel: service.runs.cancel.clone(),
        ..RunOptions::default()
    };
    let report = backup::backup(config, options, |event| {
        if let RunEvent::SourceDone(source) = event {
            let finished_at = Utc::now();
            service.metrics.observe(source, finished_at);
            let mut records = service.runs.lock_records();
            records.retain(|r| !(r.status == RecordStatus::Pending && r.label == source.source));
            if !source.ok {
                records.push_front(BackupRecord::from_report(source, config, finished_at));
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
        .retain(|r| r.status != RecordStatus::Pending);
    match report {
        Ok(report) => {
            let failed = report.sources.iter().filter(|s| !s.ok).count();
            if failed == 0 {
                tracing::info!("backup finished: every source stored on every drive");
            } else {
                tracing::error!("backup finished: {failed} source(s) failed");
            }
            for warning in notify::after_run(config, &report).await {
                tracing::warn!("{warning}");
            }
        }
        Err(err) => tracing::error!("backup not started: {err}"),
    }
}
