//! `backupman restore`: stream a backup from its drive into a database.

use backupman_ops::restore::{self, RestoreFailure, RestoreRequest, RestoreStep};

use crate::cli::{Global, RestoreArgs};
use crate::commands::or_exit;
use crate::loading;
use crate::output;
use crate::{CommandResult, Outcome};

pub async fn restore(global: &Global, args: RestoreArgs) -> CommandResult {
    let plan = or_exit!(loading::load_plan(&global.config));
    let identities = or_exit!(loading::load_identity(&args.identity));
    let request = RestoreRequest {
        source: match &args.database {
            Some(database) => backupman_ops::servers::part_label(&args.source, database),
            None => args.source,
        },
        key: args.key,
        latest: args.latest,
        drives: args.drives,
        to: args.to,
        force: args.force,
        identities,
        allow_untrusted: args.allow_untrusted,
    };
    let quiet = global.quiet;
    let result = restore::restore(&plan, &request, |step| match step {
        RestoreStep::Starting {
            key,
            size,
            taken_at,
            drive,
            target,
        } if !quiet => eprintln!(
            "restoring {key} ({}, taken {}) from {drive} into {target}",
            output::bytes(size),
            taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
        ),
        RestoreStep::CheckingFirst { key } if !quiet => eprintln!(
            "checking {key} before restoring (MySQL/MariaDB cannot roll back a partial restore)"
        ),
        _ => {}
    })
    .await;
    match result {
        Ok(done) => {
            if !quiet {
                eprintln!(
                    "✔ restored {} into {} ({} uncompressed, SHA-256 verified)",
                    done.key,
                    done.target,
                    output::bytes(done.read.plain_size.unwrap_or_default())
                );
            }
            Ok(Outcome::Success)
        }
        Err(RestoreFailure::Pick(err)) => Ok(super::verify::picked_nothing(&err)),
        Err(err) if err.is_usage() => Ok(loading::usage(err)),
        Err(err @ RestoreFailure::NoManifest(_)) => {
            eprintln!("error: {err}");
            Ok(Outcome::Failed)
        }
        Err(err @ RestoreFailure::Read { .. }) => {
            eprintln!("✘ {err}");
            Ok(Outcome::Failed)
        }
        Err(err) => {
            eprintln!("✘ restore failed: {err}");
            Ok(Outcome::Failed)
        }
    }
}
