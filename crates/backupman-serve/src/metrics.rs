//! Prometheus metrics at `/metrics`, in the text format `promtool check metrics` accepts:
//!
//! - `backupman_last_success_timestamp_seconds{source}`: when the source's newest backup
//!   that reached every drive finished (read from the drives at start, so a restart does not
//!   reset it);
//! - `backupman_backups_total{source,status}`: backups since start, `finished` or `failed`;
//! - `backupman_backup_duration_seconds{source}`: how long the source's last backup took;
//! - `backupman_backup_bytes{source,drive}`: size of the last backup stored on each drive;
//! - `backupman_scheduler_skipped_total`: scheduled ticks skipped because a run was going on;
//! - `backupman_next_run_timestamp_seconds{source}`: when a scheduled source is backed up next.

use std::sync::atomic::AtomicU64;

use backupman_ops::backup::SourceReport;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    source: String,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriveLabels {
    source: String,
    drive: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The service's metrics and the registry that encodes them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    last_success: Family<SourceLabel, FloatGauge>,
    backups: Family<StatusLabels, Counter>,
    duration: Family<SourceLabel, FloatGauge>,
    bytes: Family<DriveLabels, Gauge>,
    skipped: Counter,
    next_run: Family<SourceLabel, FloatGauge>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            registry: Registry::default(),
            last_success: Family::default(),
            backups: Family::default(),
            duration: Family::default(),
            bytes: Family::default(),
            skipped: Counter::default(),
            next_run: Family::default(),
        };
        registry.register(
            "backupman_last_success_timestamp_seconds",
            "Unix time at which the source's newest backup stored on every drive finished",
            metrics.last_success.clone(),
        );
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "backupman_backups",
            "Backups since the service started, by source and outcome (finished, failed)",
            metrics.backups.clone(),
        );
        registry.register(
            "backupman_backup_duration_seconds",
            "How long the source's last backup took",
            metrics.duration.clone(),
        );
        registry.register(
            "backupman_backup_bytes",
            "Size of the source's last backup stored on the drive (gzip bytes)",
            metrics.bytes.clone(),
        );
        registry.register(
            "backupman_scheduler_skipped",
            "Scheduled backups skipped because the previous run was still going on",
            metrics.skipped.clone(),
        );
        registry.register(
            "backupman_next_run_timestamp_seconds",
            "Unix time of the source's next scheduled backup (its own schedule, or http.backup_job)",
            metrics.next_run.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// `source`'s next scheduled backup is at `at`.
    pub(crate) fn next_run(&self, source: &str, at: DateTime<Utc>) {
        self.next_run
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// Counts one source's backup as it ends.
    pub(crate) fn observe(&self, report: &SourceReport, finished_at: DateTime<Utc>) {
        let status = if report.ok { "finished" } else { "failed" };
        self.backups
            .get_or_create(&StatusLabels {
                source: report.source.clone(),
                status,
            })
            .inc();
        if report.skipped {
            return;
        }
        let source = SourceLabel {
            source: report.source.clone(),
        };
        self.duration.get_or_create(&source).set(report.seconds);
        if report.ok {
            self.success(&report.source, finished_at);
        }
        let size = i64::try_from(report.compressed_size.unwrap_or(0)).unwrap_or(i64::MAX);
        for drive in report.drives.iter().filter(|d| d.ok) {
            self.bytes
                .get_or_create(&DriveLabels {
                    source: report.source.clone(),
                    drive: drive.drive.clone(),
                })
                .set(size);
        }
    }

    /// Records a success of `source` at `at`, unless a later one is already known.
    pub(crate) fn success(&self, source: &str, at: DateTime<Utc>) {
        let gauge = self.last_success.get_or_create(&SourceLabel {
            source: source.to_owned(),
        });
        let seconds = at.timestamp_millis() as f64 / 1000.0;
        if seconds > gauge.get() {
            gauge.set(seconds);
        }
    }

    /// One scheduled tick found a run going on.
    pub(crate) fn skipped(&self) {
        self.skipped.inc();
    }

    /// The OpenMetrics exposition (what Prometheus asks for first).
    pub(crate) fn openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The classic Prometheus text format (0.0.4), for every other scraper and for
    /// `promtool check metrics`.
    pub(crate) fn prometheus_text(&self) -> String {
        to_prometheus_text(&self.openmetrics())
    }
}

/// OpenMetrics → Prometheus text 0.0.4. They differ, for what we expose, in two places: a
/// counter's family is named without `_total` in OpenMetrics and with it in the classic
/// format (whose parsers otherwise see samples of an undeclared family), and OpenMetrics
/// ends with `# EOF`.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_with_total_and_has_no_eof() {
        let metrics = Metrics::new();
        metrics.skipped();
        let text = metrics.prometheus_text();
        assert!(
            text.contains("# TYPE backupman_scheduler_skipped_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP backupman_scheduler_skipped_total Scheduled"),
            "{text}"
        );
        assert!(
            text.contains("\nbackupman_scheduler_skipped_total 1\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        assert!(metrics.openmetrics().ends_with("# EOF\n"));
    }
}
