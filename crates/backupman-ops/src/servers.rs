//! Whole-server sources (`databases: all` or a list): each database, and PostgreSQL's
//! globals, is a backup object of its own, with its own manifest, in the folder the one slug
//! rule gives `{label}/{database}`. A run asks the server which databases it has
//! ([`expand`]); `list`, `verify`, `restore` and `prune` find them on the drives instead
//! ([`on_drive`]), so a database that has since disappeared keeps its backups, and retention.
//!
//! One part is addressed as `{label}/{database}` wherever a source label is taken
//! (`--source "Main PG/app"`, the same as `--source "Main PG" --database app`).

use std::collections::HashMap;

use backupman_config::{GLOBALS, ServerObject, ServerPart, SourceProvider};
use backupman_core::{BackupKey, Drive, DriveError, SourceError, slugify};

use crate::wiring::SourcePlan;

/// The label of one part of a whole-server source, whose slug is its folder.
pub fn part_label(server: &str, database: &str) -> String {
    format!("{server}/{database}")
}

/// `--source` labels narrowed by `--database` names: each label with each name as
/// `{label}/{name}` (the labels as they are when no name is given).
pub fn with_databases(sources: &[String], databases: &[String]) -> Vec<String> {
    if databases.is_empty() {
        return sources.to_vec();
    }
    sources
        .iter()
        .flat_map(|s| databases.iter().map(move |d| part_label(s, d)))
        .collect()
}

/// One part of the whole-server source `server`, planned as a source of its own.
pub fn part(server: &SourcePlan, object: ServerObject) -> SourcePlan {
    let mut part = server.clone();
    let cfg = &mut part.config;
    cfg.label = part_label(server.label(), object.name());
    cfg.db_name = Some(match &object {
        ServerObject::Database(name) => name.clone(),
        // pg_dumpall and a restore of the globals connect to the maintenance database.
        ServerObject::Globals => "postgres".to_owned(),
    });
    cfg.databases = None;
    cfg.part_of = Some(ServerPart {
        server: server.label().to_owned(),
        object,
    });
    part
}

/// The part `{label}/{database}` names, when `label` is a whole-server source's (compared
/// without regard to case, as labels are).
pub fn named(sources: &[SourcePlan], wanted: &str) -> Option<SourcePlan> {
    let (label, database) = wanted.rsplit_once('/')?;
    let server = sources
        .iter()
        .find(|s| s.is_server() && s.label().eq_ignore_ascii_case(label))?;
    (!database.is_empty()).then(|| part(server, object_named(server, database)))
}

fn object_named(server: &SourcePlan, name: &str) -> ServerObject {
    if server.config.provider == SourceProvider::Postgres && name == GLOBALS {
        ServerObject::Globals
    } else {
        ServerObject::Database(name.to_owned())
    }
}

/// What a run backs up of a whole-server source.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// Each database to back up (and the globals), in name order.
    pub parts: Vec<SourcePlan>,
    /// Parts that cannot be backed up, and why: a listed database the server does not
    /// have, two databases whose names give one folder.
    pub refused: Vec<(SourcePlan, String)>,
}

/// Asks the server which databases it has, and keeps those `server`'s selection takes.
pub async fn expand(server: &SourcePlan) -> Result<Expansion, SourceError> {
    let Some(selection) = server.config.databases.clone() else {
        return Ok(Expansion {
            parts: vec![server.clone()],
            refused: Vec::new(),
        });
    };
    let settings = server.database_settings()?;
    let found = tokio::task::spawn_blocking(move || backupman_dump::list_databases(&settings))
        .await
        .map_err(|e| SourceError::new(format!("listing the databases failed: {e}")))??;
    let mut out = Expansion::default();
    let mut parts: Vec<SourcePlan> = found
        .iter()
        .filter(|d| selection.includes(&d.name, d.system))
        .map(|d| part(server, object_named(server, &d.name)))
        .collect();
    if let backupman_config::Databases::Only(names) = &selection.databases {
        for name in names
            .iter()
            .filter(|n| !found.iter().any(|d| &d.name == *n))
        {
            let missing = part(server, ServerObject::Database(name.clone()));
            out.refused
                .push((missing, format!("the server has no database {name:?}")));
        }
    }
    if server.config.provider == SourceProvider::Postgres {
        parts.push(part(server, ServerObject::Globals));
    }
    // Two names with one slug (`app_1`, `app-1`), a database named like the globals: sharing
    // a folder would mix their backups, and retention of one would delete the other's.
    let mut by_folder: HashMap<String, Vec<SourcePlan>> = HashMap::new();
    for p in parts {
        by_folder.entry(slugify(p.label())).or_default().push(p);
    }
    let mut folders: Vec<_> = by_folder.into_iter().collect();
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    for (folder, group) in folders {
        if group.len() == 1 {
            out.parts.extend(group);
            continue;
        }
        let names: Vec<String> = group
            .iter()
            .filter_map(|p| {
                let part_of = p.config.part_of.as_ref();
                part_of.map(|o| format!("{:?}", o.object.name()))
            })
            .collect();
        for p in group {
            let why = format!(
                "{} would share the folder {folder:?}: exclude all but one, or back them up with sources of their own",
                names.join(" and ")
            );
            out.refused.push((p, why));
        }
    }
    Ok(out)
}

/// The parts of the whole-server source `server` that `drive` holds backups of, found by
/// their folders (one listing of the drive under `{slug}-`), whether or not the server still
/// has the database. A part's name is its folder's, which is its database's name when that is
/// already a slug.
pub async fn on_drive(
    server: &SourcePlan,
    drive: &dyn Drive,
) -> Result<Vec<SourcePlan>, DriveError> {
    let prefix = format!("{}-", slugify(server.label()));
    let mut folders: Vec<String> = drive
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|o| BackupKey::parse(&o.key))
        .map(|k| k.source_slug)
        .collect();
    folders.sort();
    folders.dedup();
    // Listed databases are known by their own names; others by their folders'.
    let listed: &[String] = match server.config.databases.as_ref().map(|s| &s.databases) {
        Some(backupman_config::Databases::Only(names)) => names,
        _ => &[],
    };
    Ok(folders
        .into_iter()
        .filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned))
        .map(|folder| {
            let name = listed
                .iter()
                .find(|n| slugify(n) == folder)
                .cloned()
                .unwrap_or(folder);
            part(server, object_named(server, &name))
        })
        .collect())
}
