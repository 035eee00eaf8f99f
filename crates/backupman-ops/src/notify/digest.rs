//! A finished run as the notifiers tell it: its backups as the original's records
//! ([`BackupRecord`]), where and when it ran, and the short lines that Slack, Discord and the
//! mail's subject share.

use backupman_core::{human_bytes, human_duration};
use chrono::{DateTime, Utc};

use crate::backup::RunReport;
use crate::record::{BackupRecord, RecordStatus};
use crate::wiring::Plan;

/// One run, ready to be told.
#[derive(Debug, Clone)]
pub(crate) struct Digest {
    /// The machine that ran it.
    pub hostname: String,
    /// When the run began and ended.
    pub started_at: DateTime<Utc>,
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    /// Nothing was kept: test mode.
    pub test_mode: bool,
    /// One per source the run reached (a source skipped by a cancel has none).
    pub backups: Vec<BackupRecord>,
}

impl Digest {
    pub fn new(plan: &Plan, report: &RunReport) -> Self {
        Self {
            hostname: hostname(),
            started_at: report.started_at,
            finished_at: report.finished_at,
            test_mode: report.test_mode,
            backups: report
                .sources
                .iter()
                .filter(|s| !s.skipped)
                .map(|s| BackupRecord::from_report(s, plan, report.finished_at))
                .collect(),
        }
    }

    /// How many backups were stored on every drive.
    pub fn stored(&self) -> usize {
        self.backups
            .iter()
            .filter(|b| b.status == RecordStatus::Finished)
            .count()
    }

    /// `all 3 backups stored` or `1 of 3 backups failed`, with `(test mode)` when it was.
    pub fn outcome(&self) -> String {
        let total = self.backups.len();
        let failed = total - self.stored();
        let noun = if total == 1 { "backup" } else { "backups" };
        let mut text = if failed == 0 {
            format!("all {total} {noun} stored")
        } else {
            format!("{failed} of {total} {noun} FAILED")
        };
        if self.test_mode {
            text.push_str(" (test mode)");
        }
        text
    }

    /// The mail's subject: the original's `Backup Report`, then the outcome and the machine.
    pub fn subject(&self) -> String {
        format!("Backup Report: {} on {}", self.outcome(), self.hostname)
    }

    /// A few lines for a chat message: the outcome, then one line per backup.
    pub fn chat_text(&self) -> String {
        let mut text = format!("backupman on {}: {}", self.hostname, self.outcome());
        for b in &self.backups {
            text.push('\n');
            text.push_str(&one_line(b));
        }
        text
    }
}

/// `✔ App: 9.0 MiB on Disk, S3 in 12.4 s` or `✘ App: <error>`.
pub(crate) fn one_line(b: &BackupRecord) -> String {
    if b.status == RecordStatus::Finished {
        let drives: Vec<&str> = b.drive_files.iter().map(|d| d.label.as_str()).collect();
        format!(
            "✔ {}: {} on {} in {}{}",
            b.label,
            human_bytes(b.size.unwrap_or(0)),
            drives.join(", "),
            took(b),
            attempts(b)
        )
    } else {
        let mut why: Vec<String> = b.error.iter().map(ToString::to_string).collect();
        for d in &b.drive_files {
            if let Some(err) = &d.error {
                why.push(format!("{}: {err}", d.label));
            }
        }
        if why.is_empty() {
            why.push("failed".into());
        }
        format!("✘ {}: {}{}", b.label, why.join("; "), attempts(b))
    }
}

/// ` (3 attempts)` when a backup was tried more than once.
fn attempts(b: &BackupRecord) -> String {
    match b.attempts {
        Some(n) if n > 1 => format!(" ({n} attempts)"),
        _ => String::new(),
    }
}

/// How long the backup took: `12.4 s` or `3m05s`.
pub(crate) fn took(b: &BackupRecord) -> String {
    human_duration((b.updated_at - b.created_at).to_std().unwrap_or_default())
}

/// This machine's name, as every notifier shows it.
pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::record::DriveFileRecord;

    /// A run of two backups: `Shop` stored on `Disk` and `S3`, `Billing` failed.
    pub(crate) fn sample() -> Digest {
        let end = Utc::now();
        let start = end - TimeDelta::milliseconds(12_400);
        let file = |label: &str, ok: bool| DriveFileRecord {
            id: format!("f-{label}"),
            backup_id: "b".into(),
            provider: "local".into(),
            label: label.into(),
            path: if ok {
                format!("/b/{label}/x.sql.gz")
            } else {
                String::new()
            },
            status: if ok {
                RecordStatus::Finished
            } else {
                RecordStatus::Failed
            },
            created_at: start,
            updated_at: end,
            error: (!ok).then(|| {
                backupman_core::DriveError::new(
                    backupman_core::DriveErrorKind::Aborted,
                    "not stored, the dump failed: boom",
                )
            }),
        };
        let record = |label: &str, ok: bool| BackupRecord {
            id: format!("id-{label}"),
            status: if ok {
                RecordStatus::Finished
            } else {
                RecordStatus::Failed
            },
            label: label.into(),
            created_at: start,
            updated_at: end,
            drive_files: if ok {
                vec![file("Disk", true), file("S3", true)]
            } else {
                vec![file("Disk", false)]
            },
            key: format!("{}/x.sql.gz", label.to_lowercase()),
            size: ok.then_some(3 * 1024 * 1024),
            sha256: None,
            error: (!ok).then(|| backupman_core::SourceError::new("pg_dump: boom")),
            untrusted: None,
            database: None,
            attempts: None,
        };
        Digest {
            hostname: "db1".into(),
            started_at: start,
            finished_at: end,
            test_mode: false,
            backups: vec![record("Shop", true), record("Billing", false)],
        }
    }

    #[test]
    fn the_short_texts_say_the_outcome_and_each_backup() {
        let mut d = sample();
        assert_eq!(d.subject(), "Backup Report: 1 of 2 backups FAILED on db1");
        assert_eq!(
            d.chat_text(),
            "backupman on db1: 1 of 2 backups FAILED\n\
             ✔ Shop: 3.0 MiB on Disk, S3 in 12.4 s\n\
             ✘ Billing: pg_dump: boom; Disk: not stored, the dump failed: boom"
        );
        d.backups.truncate(1);
        d.test_mode = true;
        assert_eq!(
            d.subject(),
            "Backup Report: all 1 backup stored (test mode) on db1"
        );
    }
}
