//! `backupman prune`: apply retention now, and how retention and sweeping are shown (a run
//! shows them the same way).

use backupman_ops::prune::{self, PruneReport, SweepReport};

use crate::cli::{Global, PruneArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::output::{self, Out};
use crate::{CommandResult, Outcome};

/// The lines of one source's retention on one drive: each deletion, then what failed.
fn print_retention(report: &PruneReport, quiet: bool, out: Out) {
    for line in retention_lines(report, quiet) {
        out.line(line);
    }
}

/// The lines [`print_retention`] prints, for a caller that prints them with others at once.
pub fn retention_lines(report: &PruneReport, quiet: bool) -> Vec<String> {
    let (source, drive) = (&report.source, &report.drive);
    let mut lines = Vec::new();
    if !quiet {
        let verb = if report.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for key in &report.deleted {
            lines.push(format!("  retention {verb} {source} → {drive}: {key}"));
        }
        for locked in &report.locked {
            lines.push(format!(
                "  retention skipped {source} → {drive}: {}: locked until {} (Object Lock)",
                locked.key,
                locked.locked_until.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
    }
    if let Some(err) = &report.error {
        let so_far = match report.deleted.len() {
            0 => "nothing deleted".to_owned(),
            n => format!("stopped after deleting {n} (listed above)"),
        };
        lines.push(format!("✘ retention {source} → {drive}: {so_far}: {err}"));
    }
    lines
}

/// What sweeping a drive for incomplete uploads discarded (errors are for `health`).
pub fn print_sweep(sweep: &SweepReport, quiet: bool) {
    if !sweep.discarded.is_empty() && !quiet {
        eprintln!(
            "✔ {}: discarded {} incomplete upload(s) older than {} h left by an interrupted run: {}",
            sweep.drive,
            sweep.discarded.len(),
            sweep.older_than_hours,
            sweep.discarded.join(", ")
        );
    }
}

pub async fn prune(global: &Global, args: PruneArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let run = match prune::prune(&plan, args.dry_run).await {
        Ok(run) => run,
        Err(err) => {
            eprintln!("error: {}: {err}", global.config.display());
            return Ok(Outcome::Invalid);
        }
    };
    for broken in &run.broken_drives {
        eprintln!("✘ {}", broken.error);
    }
    for sweep in &run.sweeps {
        print_sweep(sweep, global.quiet);
    }
    // What was (or would be) deleted is the command's result: stdout, unless `--json` has it.
    let out = Out::beside_json(args.json);
    for result in &run.results {
        print_retention(result, global.quiet, out);
        if !global.quiet && result.ok {
            let locked = match result.locked.len() {
                0 => String::new(),
                n => format!(", skipped {n} locked"),
            };
            out.line(format_args!(
                "✔ {} → {}: kept {}, {} {}{locked}",
                result.source,
                result.drive,
                result.kept.len(),
                if args.dry_run {
                    "would delete"
                } else {
                    "deleted"
                },
                result.deleted.len()
            ));
        }
    }
    if args.json {
        output::stdout(serde_json::to_string_pretty(&run.results)?);
    }
    Ok(if run.ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
