//! `backupman health`: can every source be dumped, does every drive allow each action a
//! backup needs, and does the SMTP server accept the login? Nothing is backed up or sent.

use backupman_ops::health::{self, HealthReport};

use crate::Outcome;
use crate::cli::{Global, HealthArgs};
use crate::commands::or_exit;
use crate::wiring;

pub async fn health(global: &Global, args: HealthArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let report = health::health(&config).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    print_table(&report, global.quiet);
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

/// The table on stderr; with `quiet`, only what failed.
fn print_table(report: &HealthReport, quiet: bool) {
    for s in &report.sources {
        match &s.error {
            None if quiet => {}
            None => eprintln!("✔ source {} ({}): can be dumped", s.source, s.provider),
            Some(err) => eprintln!("✘ source {} ({}): {err}", s.source, s.provider),
        }
    }
    for d in &report.drives {
        if quiet && d.ok {
            continue;
        }
        eprintln!("{} drive {} ({})", mark(d.ok), d.drive, d.provider);
        for c in &d.checks {
            let mark = if c.required { "✘" } else { "⚠ warning:" };
            match (&c.error, &c.hint) {
                (None, _) if quiet => {}
                (None, _) => eprintln!("    ✔ {}", c.check),
                (Some(err), Some(hint)) => {
                    eprintln!("    {mark} {}: {err} (hint: {hint})", c.check)
                }
                (Some(err), None) => eprintln!("    {mark} {}: {err}", c.check),
            }
        }
    }
    for n in &report.notifiers {
        match &n.error {
            None if quiet => {}
            None => eprintln!("✔ {} {}: {}", n.notifier, n.target, n.checked),
            Some(err) => eprintln!("✘ {} {}: {err}", n.notifier, n.target),
        }
    }
    let failed = report.sources.iter().filter(|s| !s.ok).count()
        + report.drives.iter().filter(|d| !d.ok).count()
        + report.notifiers.iter().filter(|n| !n.ok).count();
    if failed == 0 {
        if !quiet {
            eprintln!("healthy: every source, drive and notifier passed");
        }
    } else {
        eprintln!("unhealthy: {failed} source(s)/drive(s)/notifier(s) failed");
    }
}
