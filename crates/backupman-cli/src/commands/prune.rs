//! `backupman prune`: apply retention now; also what `run` calls after each successful backup.

use std::sync::Arc;

use backupman_config::{Config, RetentionPolicy};
use backupman_core::Drive;
use backupman_core::retention::{self, Policy};
use backupman_core::stale;
use chrono::Utc;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, PruneArgs};
use crate::commands::or_exit;
use crate::wiring;

/// One source on one drive, as `prune --json` prints it.
#[derive(Debug, Serialize)]
pub struct PruneJson {
    pub source: String,
    pub drive: String,
    pub ok: bool,
    pub error: Option<String>,
    pub kept: Vec<String>,
    pub deleted: Vec<String>,
}

pub fn policy(config: &Config) -> Option<Policy> {
    let retention = config.retention.as_ref().filter(|r| r.enabled)?;
    Some(match retention.policy {
        RetentionPolicy::Age { days } => Policy::Age { days },
        RetentionPolicy::Count { keep } => Policy::Count { keep },
        RetentionPolicy::Gfs {
            daily,
            weekly,
            monthly,
            yearly,
        } => Policy::Gfs {
            daily,
            weekly,
            monthly,
            yearly,
        },
    })
}

/// Applies `policy` to one source on one drive, logging each deletion.
pub async fn apply_one(
    drive: &dyn Drive,
    source: &str,
    policy: Policy,
    dry_run: bool,
    quiet: bool,
) -> PruneJson {
    let applied = retention::apply(drive, source, policy, Utc::now(), dry_run).await;
    let deleted = if dry_run {
        applied.plan.delete.iter().map(|b| b.key.clone()).collect()
    } else {
        applied.deleted.clone()
    };
    if !quiet {
        let verb = if dry_run { "would delete" } else { "deleted" };
        for key in &deleted {
            eprintln!("  retention {verb} {source} → {}: {key}", drive.label());
        }
    }
    if let Some(err) = &applied.error {
        let so_far = match deleted.len() {
            0 => "nothing deleted".to_owned(),
            n => format!("stopped after deleting {n} (listed above)"),
        };
        eprintln!("✘ retention {source} → {}: {so_far}: {err}", drive.label());
    }
    PruneJson {
        source: source.to_owned(),
        drive: drive.label().to_owned(),
        ok: applied.error.is_none(),
        error: applied.error.as_ref().map(ToString::to_string),
        kept: applied
            .plan
            .keep
            .iter()
            .map(|(b, _)| b.key.clone())
            .collect(),
        deleted,
    }
}

/// Discards incomplete uploads that a killed run left on each drive, once older than `hours`.
/// Never fails the command: a store that does not let us list or abort them (the minimal
/// IAM policy) only costs money, and `health` tells the operator.
pub async fn sweep_incomplete(drives: &[Arc<dyn Drive>], hours: u32, quiet: bool) {
    let max_age = chrono::Duration::hours(i64::from(hours));
    for drive in drives {
        let swept = stale::sweep(drive.as_ref(), max_age, Utc::now()).await;
        if !swept.discarded.is_empty() && !quiet {
            eprintln!(
                "✔ {}: discarded {} incomplete upload(s) older than {hours} h left by an interrupted run: {}",
                drive.label(),
                swept.discarded.len(),
                swept.discarded.join(", ")
            );
        }
        // Not a line of the run's own: with the minimal IAM policy it would repeat on every
        // run, and a broken drive's own error says more. `health` reports it as a warning.
        if let Some(err) = swept.error {
            tracing::debug!(
                drive = drive.label(),
                remaining = swept.remaining,
                error = %err,
                "incomplete uploads could not be cleaned up"
            );
        }
    }
}

pub async fn prune(global: &Global, args: PruneArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let Some(policy) = policy(&config) else {
        eprintln!(
            "error: {}: retention is not configured (or not enabled): nothing to prune",
            global.config.display()
        );
        return Ok(Outcome::Invalid);
    };
    let mut results = Vec::new();
    let mut ok = true;
    for cfg in &config.drives {
        let drive: Arc<dyn Drive> = match wiring::drive(cfg) {
            Ok(d) => d,
            Err(err) => {
                eprintln!("✘ {err}");
                ok = false;
                continue;
            }
        };
        if !args.dry_run {
            sweep_incomplete(
                std::slice::from_ref(&drive),
                config.abort_incomplete_after_hours,
                global.quiet,
            )
            .await;
        }
        for source in &config.sources {
            let json = apply_one(
                drive.as_ref(),
                &source.label,
                policy,
                args.dry_run,
                global.quiet,
            )
            .await;
            if !global.quiet && json.ok {
                eprintln!(
                    "✔ {} → {}: kept {}, {} {}",
                    source.label,
                    drive.label(),
                    json.kept.len(),
                    if args.dry_run {
                        "would delete"
                    } else {
                        "deleted"
                    },
                    json.deleted.len()
                );
            }
            ok &= json.ok;
            results.push(json);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
