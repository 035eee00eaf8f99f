//! `health`: can every source be dumped, does every drive allow each action a backup
//! needs, and can the mail be sent? Nothing is backed up and no mail is sent.
//!
//! Every source, drive and mail server is checked at the same time, each within
//! [`CHECK_DEADLINE`], so one that is down or hanging is reported as such and `health`
//! (and the service's `GET /health`) answers within ten seconds whatever the others do.

use std::time::Duration;

use backupman_config::DriveConfig;
use backupman_core::{CheckResult, DriveError, DriveErrorKind, SourceError};
use futures::future::join_all;
use serde::Serialize;

use crate::notify::{self, NotifierHealth};
use crate::servers;
use crate::wiring::{self, Plan, SourcePlan};

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
    pub error: Option<SourceError>,
    /// A whole-server source: the databases the next run backs up (and `globals` for
    /// PostgreSQL's roles and tablespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<String>>,
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

/// One check of a drive. In JSON the failure's message and hint are two fields, `error` and
/// `hint`, so a reader shows the hint apart.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The action checked, in the store's own words (`PutObject`, `write file`).
    pub check: String,
    /// It passed.
    pub ok: bool,
    /// false: a failure is only a warning.
    pub required: bool,
    /// Why it failed, and what to check.
    pub error: Option<DriveError>,
}

impl Serialize for CheckReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("CheckReport", 5)?;
        out.serialize_field("check", &self.check)?;
        out.serialize_field("ok", &self.ok)?;
        out.serialize_field("required", &self.required)?;
        out.serialize_field("error", &self.error.as_ref().map(|e| &e.message))?;
        out.serialize_field("hint", &self.error.as_ref().and_then(|e| e.hint.as_ref()))?;
        out.end()
    }
}

impl From<&CheckResult> for CheckReport {
    fn from(c: &CheckResult) -> Self {
        Self {
            check: c.check.clone(),
            ok: c.result.is_ok(),
            required: c.required,
            error: c.result.as_ref().err().cloned(),
        }
    }
}

/// How long each source, drive or mail server may take to answer its checks. They run at
/// the same time, so the whole of `health` answers within about this long.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(8);

/// The `health` operation over every source, drive and mail server of `plan`, all at once.
pub async fn health(plan: &Plan) -> HealthReport {
    let (sources, drives, notifiers) = tokio::join!(
        join_all(plan.sources.iter().map(source_health)),
        join_all(plan.drives.iter().map(drive_health)),
        notify::health(&plan.notifiers),
    );
    let ok = sources.iter().all(|s| s.ok)
        && drives.iter().all(|d| d.ok)
        && notifiers.iter().all(|n| n.ok);
    HealthReport {
        ok,
        sources,
        drives,
        notifiers,
    }
}

/// The message of a check that found no answer within [`CHECK_DEADLINE`].
pub(crate) fn no_answer(what: &str) -> String {
    format!(
        "no answer from {what} within {} s: it accepts no connection, or accepts and does not respond",
        CHECK_DEADLINE.as_secs()
    )
}

async fn source_health(plan: &SourcePlan) -> SourceHealth {
    if plan.is_server() {
        return server_health(plan).await;
    }
    let cfg = &plan.config;
    let result = match plan.build() {
        Ok(source) => match tokio::time::timeout(CHECK_DEADLINE, source.check()).await {
            Ok(checked) => checked,
            Err(_) => Err(SourceError::new(no_answer(&format!(
                "{}:{}",
                cfg.host, cfg.port
            )))),
        },
        Err(err) => Err(err.into()),
    };
    SourceHealth {
        source: cfg.label.clone(),
        provider: cfg.provider.to_string(),
        ok: result.is_ok(),
        error: result.err(),
        databases: None,
    }
}

/// A whole-server source: the server says which databases it has, and the first part (the
/// globals, or a database) is checked as a source of its own would be.
async fn server_health(plan: &SourcePlan) -> SourceHealth {
    let cfg = &plan.config;
    let checked = tokio::time::timeout(CHECK_DEADLINE, async {
        let expansion = servers::expand(plan)
            .await
            .map_err(|e| SourceError::new(e.to_string()).with_cause(e))?;
        if let Some((part, why)) = expansion.refused.first() {
            return Err(SourceError::new(format!("{}: {why}", part.label())));
        }
        if let Some(first) = expansion.parts.first() {
            first.build()?.check().await?;
        }
        Ok(expansion
            .parts
            .iter()
            .filter_map(|p| p.config.part_of.as_ref())
            .map(|o| o.object.name().to_owned())
            .collect::<Vec<_>>())
    })
    .await
    .unwrap_or_else(|_| {
        Err(SourceError::new(no_answer(&format!(
            "{}:{}",
            cfg.host, cfg.port
        ))))
    });
    SourceHealth {
        source: cfg.label.clone(),
        provider: cfg.provider.to_string(),
        ok: checked.is_ok(),
        databases: checked.as_ref().ok().cloned(),
        error: checked.err(),
    }
}

async fn drive_health(cfg: &DriveConfig) -> DriveHealth {
    let checks = match wiring::drive(cfg) {
        Ok(drive) => match tokio::time::timeout(CHECK_DEADLINE, drive.health()).await {
            Ok(checks) => checks.iter().map(CheckReport::from).collect(),
            Err(_) => vec![CheckReport {
                check: "reachable".into(),
                ok: false,
                required: true,
                error: Some(
                    DriveError::new(
                        DriveErrorKind::Connection,
                        no_answer(&wiring::whereabouts(cfg)),
                    )
                    .with_hint(
                        "check that the store is up and that `endpoint` names it; a \
                             firewall that drops packets, or a proxy that hangs, looks the same",
                    ),
                ),
            }],
        },
        Err(err) => vec![CheckReport {
            check: "configure drive".into(),
            ok: false,
            required: true,
            error: Some(err.to_drive_error()),
        }],
    };
    DriveHealth {
        drive: cfg.label().to_owned(),
        provider: cfg.provider().to_owned(),
        ok: checks.iter().all(|c| c.ok || !c.required),
        checks,
    }
}
