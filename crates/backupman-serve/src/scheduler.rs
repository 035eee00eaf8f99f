//! The backup job on its cron schedule. A tick that finds a run going on is skipped and
//! counted (`backupman_scheduler_skipped_total`), never queued; after downtime or a long
//! run, the next tick is computed from now, so missed ticks are not replayed.

use std::sync::Arc;

use backupman_config::BackupJobConfig;
use backupman_core::CancellationToken;
use chrono::{DateTime, Utc};

use crate::runs::{self, NotStarted};
use crate::service::Service;

/// Runs until `stop` is cancelled.
pub(crate) async fn schedule(service: Arc<Service>, job: BackupJobConfig, stop: CancellationToken) {
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let Some(next) = next_tick(&job, Utc::now(), last) else {
            tracing::error!(
                "the schedule {:?} has no future time: no more scheduled backups",
                job.cron
            );
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        last = Some(next);
        match runs::start(&service, "schedule") {
            Ok(()) => {}
            Err(NotStarted::Busy) => {
                service.metrics.skipped();
                tracing::warn!(
                    "scheduled backup at {next} skipped: the previous run is still going on"
                );
            }
            Err(NotStarted::Stopping) => return,
        }
    }
}

/// The first tick after both `now` and the last tick taken: a timer that wakes a little
/// early must not fire the same tick twice.
fn next_tick(
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
