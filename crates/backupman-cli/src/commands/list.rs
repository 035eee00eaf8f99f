//! `backupman list`: the backups found on the drives, newest first: a table with a header
//! row on stdout, so it pipes; what could not be listed goes to stderr.

use backupman_ops::catalog;
use chrono::Utc;

use crate::cli::{Global, ListArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::output::{self, Out};
use crate::{CommandResult, Outcome};

pub async fn list(global: &Global, args: ListArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let report = or_exit!(
        catalog::list(
            &plan,
            &backupman_ops::servers::with_databases(&args.sources, &args.databases),
            &args.drives,
        )
        .await
        .map_err(loading::usage)
    );
    for broken in &report.broken_drives {
        eprintln!("✘ {}", broken.error);
    }
    for e in &report.errors {
        eprintln!("✘ cannot list {} on {}: {}", e.source, e.drive, e.error);
    }
    if let Some(err) = &report.signing_error {
        eprintln!("✘ signatures cannot be checked: {err}");
    }
    if args.json {
        output::stdout(serde_json::to_string_pretty(&report.entries)?);
    } else if report.entries.is_empty() {
        eprintln!("no backups found");
    } else {
        let now = Utc::now();
        let out = Out::Stdout;
        out.line(format_args!(
            "{:<20} {:<20} {:>10} {:>9}  {:<13}  KEY",
            "SOURCE", "DRIVE", "SIZE", "AGE", "STANDING"
        ));
        for e in &report.entries {
            let age = now - e.taken_at;
            let age = if age.num_days() > 0 {
                format!("{}d ago", age.num_days())
            } else if age.num_hours() > 0 {
                format!("{}h ago", age.num_hours())
            } else {
                format!("{}m ago", age.num_minutes().max(0))
            };
            out.line(format_args!(
                "{:<20} {:<20} {:>10} {:>9}  {:<13}  {}",
                e.source,
                e.drive,
                output::bytes(e.size),
                age,
                e.standing,
                e.key,
            ));
        }
    }
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
