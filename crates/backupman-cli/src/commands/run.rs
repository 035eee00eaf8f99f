//! `backupman run`: back up every selected source to every selected drive.

use backupman_ops::backup::{self, RunEvent, RunOptions, SourceReport};
use backupman_ops::hooks::HookStage;
use backupman_ops::notify;
use backupman_ops::wiring::Plan;

use crate::cli::{Global, RunArgs};
use crate::commands::or_exit;
use crate::commands::prune::{print_sweep, retention_lines};
use crate::loading;
use crate::output::{self, Out};
use crate::progress;
use crate::signals;
use crate::{CommandResult, Outcome};

pub async fn run(global: &Global, args: RunArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let progress = progress::Style::pick(global.quiet, args.json);
    let options = RunOptions {
        sources: backupman_ops::servers::with_databases(&args.sources, &args.databases),
        drives: args.drives,
        test_mode: args.test_mode,
        // The run then kills the dump tool and aborts every upload, so an interrupted run
        // leaves no partial object and no open multipart upload.
        cancel: signals::on_interrupt(Some(
            "interrupted: stopping the dump and aborting uploads (interrupt again to quit at once)",
        )),
        parallel: args.parallel.map(usize::from),
        progress: progress.observer(),
    };
    let selected = or_exit!(
        plan.select(&options.sources, &options.drives)
            .map_err(loading::usage)
    );
    if selected.sources.is_empty() {
        eprintln!(
            "error: {}: no data_sources configured, nothing to back up",
            global.config.display()
        );
        return Ok(Outcome::Invalid);
    }
    if args.dry_run {
        print_plan(
            &selected,
            args.parallel.map_or(plan.concurrency, usize::from),
        );
        return Ok(Outcome::Success);
    }
    let quiet = global.quiet;
    if !args.test_mode {
        for warning in notify::before_run(&plan).await {
            if !quiet {
                eprintln!("⚠ {warning}");
            }
        }
    }
    let report = backup::backup(&plan, options, |event| match event {
        RunEvent::Swept(sweep) => print_sweep(sweep, quiet),
        RunEvent::SourceDone(source) => {
            progress.finish(&source.source);
            progress::print_lines(&source_lines(source, quiet));
        }
        _ => {}
    })
    .await;
    let report = or_exit!(report.map_err(loading::usage));
    if args.json {
        output::stdout(serde_json::to_string_pretty(&report)?);
    }
    for warning in notify::after_run(&plan, &report).await {
        if !quiet {
            eprintln!("⚠ {warning}");
        }
    }
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn print_plan(plan: &Plan, parallel: usize) {
    use backupman_config::DriveConfig;
    let out = Out::Stdout;
    out.line("configuration is valid; a run would back up:");
    for s in plan.sources.iter().map(|s| &s.config) {
        let what = match (&s.db_path, &s.databases) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(selection)) => format!(
                "{} on {}:{}, asked of the server when the run starts",
                match &selection.databases {
                    backupman_config::Databases::All => "every database".to_owned(),
                    backupman_config::Databases::Only(names) => names.join(", "),
                },
                s.host,
                s.port
            ),
            // Not `db@host`, which reads as user@host.
            (None, None) => format!(
                "database {} on {}:{}",
                s.db_name.as_deref().unwrap_or("?"),
                s.host,
                s.port
            ),
        };
        out.line(format_args!(
            "  source {:?} ({}: {what})",
            s.label, s.provider
        ));
        let hooks: Vec<&str> = [
            ("before", &s.hooks.before),
            ("after", &s.hooks.after),
            ("on_failure", &s.hooks.on_failure),
        ]
        .into_iter()
        .filter_map(|(name, command)| command.as_ref().map(|_| name))
        .collect();
        if !hooks.is_empty() {
            out.line(format_args!(
                "    with hooks {} (each at most {} s)",
                hooks.join(", "),
                s.hooks.timeout.as_secs()
            ));
        }
    }
    for d in &plan.drives {
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
        out.line(format_args!(
            "  to drive {:?} ({}: {where_})",
            d.label(),
            d.provider()
        ));
    }
    out.line(format_args!(
        "  {} source(s) at a time",
        parallel.min(plan.sources.len()).max(1)
    ));
    let compression = &plan.compression;
    out.line(format_args!(
        "  compressed: {} on {} threads",
        compression.label(),
        compression.threads()
    ));
    match &plan.retention {
        Some(policy) => out.line(format_args!("  then retention: {policy}")),
        None => out.line("  retention: off"),
    }
}

/// One source's lines: the dump, each drive, then test mode's read-back or retention. They
/// are printed together, so sources finishing at the same time never mix their lines.
fn source_lines(report: &SourceReport, quiet: bool) -> Vec<String> {
    let source = &report.source;
    let mut lines = Vec::new();
    // Drives not written because the dump failed share one line, with the dump's error.
    let aborted: Vec<&str> = report
        .drives
        .iter()
        .filter(|d| d.aborted)
        .map(|d| d.drive.as_str())
        .collect();
    if report.skipped || report.key.is_empty() {
        if let Some(error) = &report.error {
            lines.push(format!("✘ {source}: {error}"));
        }
    } else if let Some(error) = &report.error {
        if aborted.is_empty() {
            lines.push(format!("✘ {source}: dump failed: {error}"));
        } else {
            lines.push(format!(
                "✘ {source} → {}: not stored, the dump failed: {error}",
                aborted.join(", ")
            ));
        }
    }
    for (n, error) in report.failed_attempts.iter().enumerate() {
        lines.push(format!(
            "⚠ {source}: attempt {} of {} failed: {error}",
            n + 1,
            report.attempts
        ));
    }
    if report.new_database && !quiet {
        lines.push(format!(
            "✚ {source}: a new database, backed up for the first time"
        ));
    }
    if let Some(warnings) = &report.warnings {
        lines.push(format!("⚠ {source}: the dump tool warned: {warnings}"));
    }
    // A failed `before` hook is the source's error, printed above; the others are warnings.
    for hook in report.hooks.iter().filter(|h| h.hook != HookStage::Before) {
        if let Some(error) = &hook.error {
            lines.push(format!("⚠ {source}: {error}"));
        }
    }
    let size = output::bytes(report.compressed_size.unwrap_or(0));
    let took = output::duration(std::time::Duration::from_secs_f64(report.seconds));
    for drive in &report.drives {
        // Stored is stored: a test-mode read-back failure has a line of its own below.
        if drive.aborted {
            continue;
        }
        match (&drive.location, &drive.error) {
            (Some(location), _) if !quiet => lines.push(format!(
                "✔ {source} → {}: {location} ({size}, {took})",
                drive.drive
            )),
            (None, Some(error)) => lines.push(format!("✘ {source} → {}: {error}", drive.drive)),
            _ => {}
        }
    }
    for check in &report.test_mode {
        match &check.result {
            Ok(checked) if !quiet => lines.push(format!(
                "✔ test mode {source} → {}: written, read back ({checked}), deleted",
                check.drive
            )),
            Ok(_) => {}
            Err(err) => lines.push(format!("✘ test mode {source} → {}: {err}", check.drive)),
        }
    }
    for pruned in &report.retention {
        lines.extend(retention_lines(pruned, quiet));
    }
    lines
}
