//! `health`: can every source be dumped, does every drive allow each action a backup
//! needs, and can the mail be sent? Nothing is backed up and no mail is sent.

use backupman_config::Config;
use backupman_core::CheckResult;
use serde::Serialize;

use crate::notify::{self, NotifierHealth};
use crate::wiring;

/// The whole verdict.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// Every source can be dumped and every drive passed its required checks.
    pub ok: bool,
    /// One per configured source.
    pub sources: Vec<SourceHealth>,
    /// One per configured drive.
    pub drives: Vec<DriveHealth>,
    /// The notifiers that can be checked without sending anything (the SMTP server).
    pub notifiers: Vec<NotifierHealth>,
}

/// One source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceHealth {
    /// The source's label.
    pub source: String,
    /// `postgres`, `mysql`, `mariadb` or `sqlite`.
    pub provider: String,
    /// It can be dumped.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// One drive, check by check.
#[derive(Debug, Clone, Serialize)]
pub struct DriveHealth {
    /// The drive's label.
    pub drive: String,
    /// `local` or `s3`.
    pub provider: String,
    /// Every required check passed (advisory ones may have warned).
    pub ok: bool,
    /// Each action checked, in order.
    pub checks: Vec<CheckReport>,
}

/// One check of a drive.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The action checked, in the store's own words (`PutObject`, `write file`).
    pub check: String,
    /// It passed.
    pub ok: bool,
    /// false: a failure is only a warning.
    pub required: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// What to check.
    pub hint: Option<String>,
}

impl From<&CheckResult> for CheckReport {
    fn from(c: &CheckResult) -> Self {
        Self {
            check: c.check.clone(),
            ok: c.result.is_ok(),
            required: c.required,
            error: c.result.as_ref().err().map(|e| e.message.clone()),
            hint: c.result.as_ref().err().and_then(|e| e.hint.clone()),
        }
    }
}

/// The `health` operation over every configured source, drive and mail server.
pub async fn health(config: &Config) -> HealthReport {
    let mut report = HealthReport {
        ok: true,
        sources: Vec::new(),
        drives: Vec::new(),
        notifiers: Vec::new(),
    };
    for cfg in &config.sources {
        let result = match wiring::source(cfg) {
            Ok(source) => source.check().await.map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        report.ok &= result.is_ok();
        report.sources.push(SourceHealth {
            source: cfg.label.clone(),
            provider: cfg.provider.to_string(),
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    for cfg in &config.drives {
        let checks = match wiring::drive(cfg) {
            Ok(drive) => drive.health().await.iter().map(CheckReport::from).collect(),
            Err(err) => vec![CheckReport {
                check: "configure drive".into(),
                ok: false,
                required: true,
                error: Some(err.to_string()),
                hint: None,
            }],
        };
        let ok = checks.iter().all(|c| c.ok || !c.required);
        report.ok &= ok;
        report.drives.push(DriveHealth {
            drive: cfg.label().to_owned(),
            provider: cfg.provider().to_owned(),
            ok,
            checks,
        });
    }
    report.notifiers = notify::health(config).await;
    report.ok &= report.notifiers.iter().all(|n| n.ok);
    report
}
