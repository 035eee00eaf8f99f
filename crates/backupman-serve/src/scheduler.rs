//! The backup jobs on their cron schedules: `http.backup_job` for the sources without a
//! `schedule` of their own, and each source's own. A tick that finds one of its sources being
//! backed up is skipped and counted (`backupman_scheduler_skipped_total`), never queued; after
//! downtime or a long run, the next tick is computed from now, so missed ticks are not
//! replayed. Each job's next tick is shown per source (`GET /api/schedule`,
//! `backupman_next_run_timestamp_seconds`).

use std::sync::Arc;

use backupman_config::{BackupJobConfig, Config};
use backupman_core::CancellationToken;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::runs::{self, NotStarted, Which};
use crate::service::Service;

/// One schedule and the sources it backs up.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The schedule.
    pub job: BackupJobConfig,
    /// The sources, by label.
    pub sources: Vec<String>,
    /// `http.backup_job`, or a source's own `schedule`.
    pub own: bool,
}

/// The jobs of a configuration: each source with a `schedule` of its own, then
/// `http.backup_job` for the others (none when every source has its own, or none is set).
pub(crate) fn jobs(config: &Config) -> Vec<Job> {
    let mut jobs: Vec<Job> = config
        .sources
        .iter()
        .filter_map(|s| {
            s.schedule.clone().map(|job| Job {
                job,
                sources: vec![s.label.clone()],
                own: true,
            })
        })
        .collect();
    let rest: Vec<String> = config
        .sources
        .iter()
        .filter(|s| s.schedule.is_none())
        .map(|s| s.label.clone())
        .collect();
    if let (Some(job), false) = (&config.http.backup_job, rest.is_empty()) {
        jobs.push(Job {
            job: job.clone(),
            sources: rest,
            own: false,
        });
    }
    jobs
}

/// When a scheduled source is backed up next, as `GET /api/schedule` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct NextRun {
    /// The source's label.
    pub source: String,
    /// The cron expression, as written.
    pub cron: String,
    /// The time zone it is read in.
    pub timezone: String,
    /// `schedule`: the source's own; `backup_job`: `http.backup_job`.
    pub from: &'static str,
    /// The next tick (UTC).
    pub next_run: DateTime<Utc>,
}

/// Runs `job` until `stop` is cancelled.
pub(crate) async fn schedule(service: Arc<Service>, job: Job, stop: CancellationToken) {
    let mut last: Option<DateTime<Utc>> = None;
    let Job { job, sources, own } = job;
    loop {
        let Some(next) = next_tick(&job, Utc::now(), last) else {
            tracing::error!(
                "the schedule {:?} has no future time: no more scheduled backups",
                job.cron
            );
            return;
        };
        for source in &sources {
            service.metrics.next_run(source, next);
            service
                .schedules
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(
                    source.clone(),
                    NextRun {
                        source: source.clone(),
                        cron: job.cron.clone(),
                        timezone: job.timezone.name().to_owned(),
                        from: if own { "schedule" } else { "backup_job" },
                        next_run: next,
                    },
                );
        }
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        last = Some(next);
        match runs::start(&service, "schedule", Which::Sources(sources.clone())) {
            Ok(()) => {}
            Err(NotStarted::Busy) => {
                service.metrics.skipped();
                tracing::warn!(
                    "scheduled backup of {sources:?} at {next} skipped: a run of one of them is still going on"
                );
            }
            Err(NotStarted::Stopping) => return,
        }
    }
}

/// The first tick after both `now` and the last tick taken: a timer that wakes a little
/// early must not fire the same tick twice.
pub(crate) fn next_tick(
    job: &BackupJobConfig,
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let from = last.map_or(now, |last| last.max(now));
    job.schedule
        .find_next_occurrence(&from.with_timezone(&job.timezone), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cron: &str, tz: chrono_tz::Tz) -> BackupJobConfig {
        let yaml = format!(
            "drives:\n  - provider: local\n    label: d\n    folder: /b\nhttp:\n  backup_job:\n    cron: \"{cron}\"\n    timezone: {}\n",
            tz.name()
        );
        backupman_config::parse(&yaml, "t.yml", |_| None)
            .unwrap()
            .config
            .http
            .backup_job
            .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ticks_follow_the_schedule_in_its_time_zone() {
        let daily = job("0 0 3 * * *", chrono_tz::Europe::Paris);
        // 03:00 in Paris in winter is 02:00 UTC.
        assert_eq!(
            next_tick(&daily, at("2026-01-10T12:00:00Z"), None),
            Some(at("2026-01-11T02:00:00Z"))
        );
        let five = job("30 4 * * *", chrono_tz::UTC);
        assert_eq!(
            next_tick(&five, at("2026-01-10T04:29:59Z"), None),
            Some(at("2026-01-10T04:30:00Z"))
        );
    }

    #[test]
    fn a_tick_is_never_taken_twice_and_missed_ones_are_not_replayed() {
        let every_minute = job("0 * * * * *", chrono_tz::UTC);
        // Woken a millisecond early: the next tick is the one after the last taken.
        let last = at("2026-01-10T04:30:00Z");
        assert_eq!(
            next_tick(&every_minute, at("2026-01-10T04:29:59.999Z"), Some(last)),
            Some(at("2026-01-10T04:31:00Z"))
        );
        // Down for an hour: one tick from now, not sixty.
        assert_eq!(
            next_tick(&every_minute, at("2026-01-10T05:30:10Z"), Some(last)),
            Some(at("2026-01-10T05:31:00Z"))
        );
    }
}
