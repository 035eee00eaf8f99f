//! `backupman list`: the backups found on the drives, newest first.

use chrono::Utc;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Global, ListArgs};
use crate::commands::catalog;
use crate::commands::or_exit;
use crate::output;
use crate::wiring;

#[derive(Debug, Serialize)]
pub struct ListEntry {
    pub source: String,
    pub drive: String,
    pub key: String,
    pub taken_at: chrono::DateTime<Utc>,
    pub size: u64,
    pub sha256: Option<String>,
    pub has_manifest: bool,
}

pub async fn list(global: &Global, args: ListArgs) -> color_eyre::Result<Outcome> {
    let config = or_exit!(wiring::load_config(&global.config));
    let sources = or_exit!(wiring::select(
        "source",
        &config.sources,
        |s| s.label.as_str(),
        &args.sources,
    ));
    let drives = or_exit!(catalog::drives(&config, &args.drives));
    let (found, ok) = catalog::find(&sources, &drives).await;
    let entries: Vec<ListEntry> = found
        .iter()
        .map(|f| ListEntry {
            source: f.source.label.clone(),
            drive: f.drive.label().to_owned(),
            key: f.backup.key.clone(),
            taken_at: f.backup.taken_at,
            size: f.backup.size,
            sha256: f.backup.manifest.as_ref().map(|m| m.sha256.clone()),
            has_manifest: f.backup.manifest.is_some(),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if entries.is_empty() {
        eprintln!("no backups found");
    } else {
        let now = Utc::now();
        for e in &entries {
            let age = now - e.taken_at;
            let age = if age.num_days() > 0 {
                format!("{}d ago", age.num_days())
            } else if age.num_hours() > 0 {
                format!("{}h ago", age.num_hours())
            } else {
                format!("{}m ago", age.num_minutes().max(0))
            };
            eprintln!(
                "{:<20} {:<20} {:>10} {:>9}  {}{}",
                e.source,
                e.drive,
                output::bytes(e.size),
                age,
                e.key,
                if e.has_manifest {
                    ""
                } else {
                    "  (no manifest)"
                }
            );
        }
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
