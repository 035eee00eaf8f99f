//! `backupman verify`: download backups, check them against their manifests and their gzip
//! streams to the end; with `--restore`, restore each into a scratch database too.

use backupman_ops::catalog::{self, Found, Pick, PickError};
use backupman_ops::verify;
use backupman_ops::wiring::Plan;

use crate::cli::{Global, VerifyArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::{CommandResult, Outcome};

/// The backups a command names, and whether every drive could be looked at; the drives
/// that could not be built or listed are reported; a mistake on the command line exits 2,
/// backups not found exit 1.
pub async fn pick(plan: &Plan, pick: &Pick) -> Result<(Vec<Found>, bool), Outcome> {
    match catalog::pick(plan, pick).await {
        Ok(picked) => {
            for b in &picked.broken {
                eprintln!("✘ {}", b.error);
            }
            for e in &picked.errors {
                eprintln!("✘ cannot list {} on {}: {}", e.source, e.drive, e.error);
            }
            Ok((picked.found, picked.errors.is_empty()))
        }
        Err(err) => Err(picked_nothing(&err)),
    }
}

/// Prints why nothing was picked, and the outcome that follows.
pub fn picked_nothing(err: &PickError) -> Outcome {
    eprintln!("error: {err}");
    if err.is_usage() {
        Outcome::Invalid
    } else {
        Outcome::Failed
    }
}

pub async fn verify(global: &Global, args: VerifyArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let wanted = Pick {
        key: args.key,
        latest: args.latest,
        sources: backupman_ops::servers::with_databases(&args.sources, &args.databases),
        drives: args.drives,
        allow_untrusted: args.allow_untrusted,
    };
    let identities = or_exit!(loading::load_identity(&args.identity));
    let (found, every_drive_listed) = or_exit!(pick(&plan, &wanted).await);
    let reports = verify::verify(&found, args.restore, identities.as_ref()).await;
    for r in &reports {
        if let Some(leftover) = &r.leftover {
            eprintln!("warning: {leftover}");
        }
        if r.ok {
            if !global.quiet {
                eprintln!("✔ {} on {}: {} — {}", r.source, r.drive, r.key, r.detail);
            }
        } else {
            eprintln!("✘ {} on {}: {} — {}", r.source, r.drive, r.key, r.detail);
        }
    }
    if args.json {
        crate::output::stdout(serde_json::to_string_pretty(&reports)?);
    }
    // A drive that could not be listed was not verified: that is no success.
    Ok(if every_drive_listed && reports.iter().all(|r| r.ok) {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
