//! `backupman restore`: stream a backup from its drive into a database.

use backupman_core::check_against_manifest;
use backupman_dump::restore::{RestoreOptions, RestoreTarget, restore_stream};

use crate::Outcome;
use crate::cli::{Global, RestoreArgs};
use crate::commands::or_exit;
use crate::commands::verify::pick;
use crate::output;
use crate::wiring;

pub async fn restore(global: &Global, args: RestoreArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let source = or_exit!(wiring::select(
        "source",
        &config.sources,
        |s| s.label.as_str(),
        std::slice::from_ref(&args.source),
    ))[0]
        .clone();
    let found = or_exit!(
        pick(
            &config,
            args.key.as_deref(),
            args.latest,
            std::slice::from_ref(&args.source),
            &args.drives,
        )
        .await
    );
    let Some(chosen) = found.into_iter().find(|f| f.source.label == source.label) else {
        eprintln!(
            "error: that backup does not belong to source {:?}",
            source.label
        );
        return Ok(Outcome::Invalid);
    };
    let target = match &args.to {
        Some(spec) => RestoreTarget::parse(spec, &source),
        None => RestoreTarget::from_source(&source),
    };
    let target = match target {
        Ok(t) => t,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Invalid);
        }
    };
    let Some(manifest) = &chosen.backup.manifest else {
        eprintln!(
            "error: {} has no manifest beside it, so its SHA-256 cannot be checked; refusing to restore it",
            chosen.backup.key
        );
        return Ok(Outcome::Failed);
    };
    if !global.quiet {
        eprintln!(
            "restoring {} ({}, taken {}) from {} into {target}",
            chosen.backup.key,
            output::bytes(chosen.backup.size),
            chosen.backup.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
            chosen.drive.label()
        );
    }
    // MySQL/MariaDB cannot roll back DDL: statements streamed before a damaged part of the
    // object would stay applied. Read the whole object once and check it first, so a damaged
    // backup applies nothing there either (PostgreSQL and SQLite need no second read).
    if !target.is_transactional() {
        if !global.quiet {
            eprintln!(
                "checking {} before restoring (MySQL/MariaDB cannot roll back a partial restore)",
                chosen.backup.key
            );
        }
        let checked =
            check_against_manifest(chosen.drive.as_ref(), &chosen.backup.key, manifest).await;
        if let Err(why) = checked {
            eprintln!(
                "✘ restore failed: the backup is not intact ({why}); nothing was applied to {target}"
            );
            return Ok(Outcome::Failed);
        }
    }
    let stream = match chosen.drive.read(&chosen.backup.key).await {
        Ok(s) => s,
        Err(err) => {
            eprintln!("✘ cannot read {}: {err}", chosen.backup.key);
            return Ok(Outcome::Failed);
        }
    };
    let options = RestoreOptions {
        expected: Some(manifest.clone()),
        force: args.force,
    };
    match restore_stream(stream, target.clone(), options).await {
        Ok(outcome) => {
            if !global.quiet {
                eprintln!(
                    "✔ restored {} into {target} ({} uncompressed, SHA-256 verified)",
                    chosen.backup.key,
                    output::bytes(outcome.plain_size)
                );
            }
            Ok(Outcome::Success)
        }
        Err(err) => {
            eprintln!("✘ restore failed: {err}");
            Ok(Outcome::Failed)
        }
    }
}
