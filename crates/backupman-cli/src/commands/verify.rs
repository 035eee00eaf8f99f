//! `backupman verify`: download backups, check them against their manifests and their gzip
//! streams to the end; with `--restore`, restore each into a scratch database too.

use backupman_ops::catalog::{self, Found, Pick, PickError};
use backupman_ops::verify;

use crate::Outcome;
use crate::cli::{Global, VerifyArgs};
use crate::commands::or_exit;
use crate::wiring;

/// The backups a command names, the drives that could not be built reported; a mistake on
/// the command line exits 2, backups not found exit 1.
pub async fn pick(config: &backupman_config::Config, pick: &Pick) -> Result<Vec<Found>, Outcome> {
    match catalog::pick(config, pick).await {
        Ok((found, broken)) => {
            for b in &broken {
                eprintln!("✘ {}", b.error);
            }
            Ok(found)
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

pub async fn verify(global: &Global, args: VerifyArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let wanted = Pick {
        key: args.key,
        latest: args.latest,
        sources: args.sources,
        drives: args.drives,
    };
    let identities = or_exit!(wiring::load_identity(&args.identity));
    let found = or_exit!(pick(&config, &wanted).await);
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
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if reports.iter().all(|r| r.ok) {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
