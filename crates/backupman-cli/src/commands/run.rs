//! `backupman run`: back up every selected source to every selected drive.

use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use backupman_config::{Config, DriveConfig, SourceConfig};
use backupman_core::{BackupReport, CancellationToken, Drive, Engine};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, RunArgs};
use crate::commands::or_exit;
use crate::commands::prune::{self, PruneJson};
use crate::notify;
use crate::output;
use crate::progress;
use crate::wiring;

/// What `run --json` prints: one entry per source, one result per drive.
#[derive(Debug, Serialize)]
pub struct RunJson {
    pub ok: bool,
    pub sources: Vec<SourceJson>,
}

#[derive(Debug, Serialize)]
pub struct SourceJson {
    pub source: String,
    pub ok: bool,
    pub key: String,
    pub error: Option<String>,
    /// What the dump tool printed on stderr although it succeeded.
    pub warnings: Option<String>,
    pub size: Option<u64>,
    pub compressed_size: Option<u64>,
    pub sha256: Option<String>,
    pub seconds: f64,
    pub drives: Vec<DriveJson>,
    pub retention: Vec<PruneJson>,
}

#[derive(Debug, Serialize)]
pub struct DriveJson {
    pub drive: String,
    pub ok: bool,
    pub location: Option<String>,
    pub error: Option<String>,
}

pub async fn run(global: &Global, args: RunArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let selected_sources = or_exit!(wiring::select(
        "source",
        &config.sources,
        |s| s.label.as_str(),
        &args.sources,
    ));
    let selected_drives = or_exit!(wiring::select(
        "drive",
        &config.drives,
        |d| d.label(),
        &args.drives
    ));
    if selected_sources.is_empty() {
        eprintln!(
            "error: {}: no data_sources configured, nothing to back up",
            global.config.display()
        );
        return Ok(Outcome::Invalid);
    }
    if args.dry_run {
        print_plan(&config, &selected_sources, &selected_drives);
        return Ok(Outcome::Success);
    }

    let mut drives: Vec<Arc<dyn Drive>> = Vec::new();
    let mut broken_drives: Vec<(String, String)> = Vec::new();
    for cfg in &selected_drives {
        match wiring::drive(cfg) {
            Ok(drive) => drives.push(drive),
            Err(err) => {
                tracing::error!("{err}");
                broken_drives.push((cfg.label().to_owned(), err));
            }
        }
    }

    if !args.test_mode {
        prune::sweep_incomplete(&drives, config.abort_incomplete_after_hours, global.quiet).await;
    }
    let started_at = chrono::Utc::now();
    let interrupted = interrupt_flag();
    let mut engine = Engine::new(config.compression_level).with_cancel(interrupted.clone());
    if args.test_mode {
        engine = engine.with_key_prefix(TEST_PREFIX);
    }
    let progress = progress::Style::pick(global.quiet, args.json);
    if let Some(observer) = progress.observer() {
        engine = engine.with_progress(observer);
    }
    let mut json = RunJson {
        ok: true,
        sources: Vec::new(),
    };
    for cfg in selected_sources {
        if interrupted.is_cancelled() {
            eprintln!("✘ {}: not started, the run was interrupted", cfg.label);
            json.ok = false;
            continue;
        }
        let entry = match wiring::source(cfg) {
            Ok(source) => {
                tracing::info!(source = %cfg.label, drives = drives.len(), "backing up");
                let report = engine.backup(source, &drives).await;
                progress.finish();
                summarise(&report, global.quiet);
                let mut entry = to_json(&report);
                if args.test_mode {
                    verify_and_delete(&report, &drives, &mut entry, global.quiet).await;
                }
                // Retention runs only where this backup landed: a failed run never deletes.
                else if let Some(policy) = prune::policy(&config) {
                    for (drive, outcome) in drives.iter().zip(&report.drives) {
                        if outcome.result.is_ok() {
                            let pruned = prune::apply_one(
                                drive.as_ref(),
                                &cfg.label,
                                policy,
                                false,
                                global.quiet,
                            )
                            .await;
                            entry.ok &= pruned.ok;
                            entry.retention.push(pruned);
                        }
                    }
                }
                entry
            }
            Err(err) => {
                eprintln!("✘ {}: {err}", cfg.label);
                SourceJson {
                    source: cfg.label.clone(),
                    ok: false,
                    key: String::new(),
                    error: Some(err),
                    warnings: None,
                    size: None,
                    compressed_size: None,
                    sha256: None,
                    seconds: 0.0,
                    drives: Vec::new(),
                    retention: Vec::new(),
                }
            }
        };
        let mut entry = entry;
        for (label, err) in &broken_drives {
            eprintln!("✘ {} → {label}: {err}", cfg.label);
            entry.ok = false;
            entry.drives.push(DriveJson {
                drive: label.clone(),
                ok: false,
                location: None,
                error: Some(err.clone()),
            });
        }
        json.ok &= entry.ok;
        json.sources.push(entry);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    let summary = notify::RunSummary::new(&json, started_at, chrono::Utc::now(), args.test_mode);
    notify::send_all(&config.webhooks, &summary).await;
    Ok(if json.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// A token cancelled by Ctrl-C or SIGTERM: the engine then kills the dump tool and aborts
/// every upload, so an interrupted run leaves no partial object and no open multipart upload.
/// A second signal quits at once.
fn interrupt_flag() -> CancellationToken {
    let flag = CancellationToken::new();
    let raised = flag.clone();
    tokio::spawn(async move {
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            signals += 1;
            if signals > 1 {
                eprintln!("interrupted again: quitting without cleaning up");
                std::process::exit(130);
            }
            eprintln!(
                "interrupted: stopping the dump and aborting uploads (interrupt again to quit at once)"
            );
            raised.cancel();
        }
    });
    flag
}

/// Where `run --test-mode` writes, beside (never over) the real backups.
pub const TEST_PREFIX: &str = ".backupman-test-mode/";

/// Test mode: read every stored object back, check it against the manifest and the gzip
/// stream, then delete it and its manifest.
async fn verify_and_delete(
    report: &BackupReport,
    drives: &[Arc<dyn Drive>],
    entry: &mut SourceJson,
    quiet: bool,
) {
    let Some(manifest) = &report.manifest else {
        return;
    };
    for ((drive, outcome), json) in drives.iter().zip(&report.drives).zip(&mut entry.drives) {
        if outcome.result.is_err() {
            continue;
        }
        let checked = backupman_core::check_against_manifest(drive.as_ref(), &report.key, manifest)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let deleted = async {
            drive.delete(&report.key).await?;
            drive.delete(&format!("{}.json", report.key)).await
        }
        .await
        .map_err(|e| format!("could not delete the test object: {e}"));
        match checked.and(deleted) {
            Ok(()) => {
                if !quiet {
                    eprintln!(
                        "✔ test mode {} → {}: written, read back (SHA-256 and gzip stream intact), deleted",
                        report.source,
                        drive.label()
                    );
                }
            }
            Err(err) => {
                eprintln!("✘ test mode {} → {}: {err}", report.source, drive.label());
                json.ok = false;
                json.error = Some(err);
                entry.ok = false;
            }
        }
    }
}

fn print_plan(config: &Config, sources: &[&SourceConfig], drives: &[&DriveConfig]) {
    println!("configuration is valid; a run would back up:");
    for s in sources {
        let what = match &s.db_path {
            Some(path) => path.display().to_string(),
            None => format!(
                "{}@{}:{}",
                s.db_name.as_deref().unwrap_or("?"),
                s.host,
                s.port
            ),
        };
        println!("  source {:?} ({}: {what})", s.label, s.provider);
    }
    for d in drives {
        let where_ = match d {
            DriveConfig::Local(l) => l.folder.display().to_string(),
            DriveConfig::S3(s) => {
                let style = if s.force_path_style {
                    "path-style"
                } else {
                    "virtual-hosted"
                };
                format!(
                    "s3://{}/{} (region {}, {}, {style})",
                    s.bucket,
                    s.prefix,
                    s.region,
                    s.endpoint.as_deref().unwrap_or("Amazon S3")
                )
            }
        };
        println!("  to drive {:?} ({}: {where_})", d.label(), d.provider());
    }
    println!("  gzip level {}", config.compression_level);
    match &config.retention {
        Some(r) if r.enabled => println!("  then retention: {:?}", r.policy),
        _ => println!("  retention: off"),
    }
}

fn summarise(report: &BackupReport, quiet: bool) {
    if let Some(failure) = &report.failure {
        eprintln!("✘ {}: dump failed: {failure}", report.source);
    }
    if let Some(warnings) = &report.warnings {
        eprintln!("⚠ {}: the dump tool warned: {warnings}", report.source);
    }
    for outcome in &report.drives {
        match &outcome.result {
            Ok(stored) if !quiet => {
                let size = report.manifest.as_ref().map_or(0, |m| m.compressed_size);
                eprintln!(
                    "✔ {} → {}: {} ({}, {})",
                    report.source,
                    outcome.drive,
                    stored.location,
                    output::bytes(size),
                    output::duration(report.elapsed)
                );
            }
            Ok(_) => {}
            Err(err) if report.failure.is_some() => {
                eprintln!("✘ {} → {}: {}", report.source, outcome.drive, err.message);
            }
            Err(err) => eprintln!("✘ {} → {}: {err}", report.source, outcome.drive),
        }
    }
}

fn to_json(report: &BackupReport) -> SourceJson {
    SourceJson {
        source: report.source.clone(),
        ok: report.succeeded(),
        key: report.key.clone(),
        error: report.failure.as_ref().map(|f| f.to_string()),
        warnings: report.warnings.clone(),
        size: report.manifest.as_ref().map(|m| m.size),
        compressed_size: report.manifest.as_ref().map(|m| m.compressed_size),
        sha256: report.manifest.as_ref().map(|m| m.sha256.clone()),
        seconds: report.elapsed.as_secs_f64(),
        drives: report
            .drives
            .iter()
            .map(|d| DriveJson {
                drive: d.drive.clone(),
                ok: d.result.is_ok(),
                location: d.result.as_ref().ok().map(|s| s.location.clone()),
                error: d.result.as_ref().err().map(|e| e.to_string()),
            })
            .collect(),
        retention: Vec::new(),
    }
}
