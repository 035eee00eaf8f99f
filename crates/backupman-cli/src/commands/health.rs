//! `backupman health`: can every source be dumped, does every drive allow each action a
//! backup needs, and does the SMTP server accept the login? Nothing is backed up or sent.

use backupman_ops::health::{self, HealthReport};

use crate::cli::{Global, HealthArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::output::{self, Out};
use crate::{CommandResult, Outcome};

pub async fn health(global: &Global, args: HealthArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let report = health::health(&plan).await;
    if args.json {
        output::stdout(serde_json::to_string_pretty(&report)?);
    }
    print_table(&report, global.quiet, Out::beside_json(args.json));
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

/// The table, on stdout unless `--json` has it; with `quiet`, only what failed.
fn print_table(report: &HealthReport, quiet: bool, out: Out) {
    for s in &report.sources {
        match &s.error {
            None if quiet => {}
            None => out.line(format_args!(
                "✔ source {} ({}): can be dumped",
                s.source, s.provider
            )),
            Some(err) => out.line(format_args!(
                "✘ source {} ({}): {err}",
                s.source, s.provider
            )),
        }
    }
    for d in &report.drives {
        if quiet && d.ok {
            continue;
        }
        out.line(format_args!(
            "{} drive {} ({})",
            mark(d.ok),
            d.drive,
            d.provider
        ));
        for c in &d.checks {
            let mark = if c.required { "✘" } else { "⚠ warning:" };
            // The error's line carries its hint: `... (hint: ...)`.
            match &c.error {
                None if quiet => {}
                None => out.line(format_args!("    ✔ {}", c.check)),
                Some(err) => out.line(format_args!("    {mark} {}: {err}", c.check)),
            }
        }
    }
    for n in &report.notifiers {
        match &n.error {
            None if quiet => {}
            None => out.line(format_args!("✔ {} {}: {}", n.notifier, n.target, n.checked)),
            Some(err) => out.line(format_args!("✘ {} {}: {err}", n.notifier, n.target)),
        }
    }
    let failed = report.sources.iter().filter(|s| !s.ok).count()
        + report.drives.iter().filter(|d| !d.ok).count()
        + report.notifiers.iter().filter(|n| !n.ok).count();
    if failed == 0 {
        if !quiet {
            out.line("healthy: every source, drive and notifier passed");
        }
    } else {
        out.line(format_args!(
            "unhealthy: {failed} source(s)/drive(s)/notifier(s) failed"
        ));
    }
}
