//! From configuration to live sources and drives: the one place that knows which
//! implementation serves which provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use backupman_config::{Config, DriveConfig, Loaded, SourceConfig, SourceProvider};
use backupman_core::{Drive, LocalDrive, Source};
use backupman_dump::SqliteSource;
use backupman_dump::mysql::MysqlSource;
use backupman_dump::postgres::PostgresSource;
use backupman_s3::S3Drive;

use crate::Outcome;

/// Loads the configuration, printing warnings; on error prints every problem and says why
/// the command cannot go on.
pub fn load_config(path: &Path) -> Result<Config, Outcome> {
    match backupman_config::load(path) {
        Ok(Loaded {
            mut config,
            warnings,
        }) => {
            for warning in warnings {
                tracing::warn!("{warning}");
            }
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            resolve_relative_paths(&mut config, &dir);
            // Secrets are `Secret`s, whose Debug is redacted: this line is safe to log.
            tracing::debug!(?config, "configuration loaded from {}", path.display());
            Ok(config)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Err(Outcome::Invalid)
        }
    }
}

/// Relative paths in a configuration mean "next to the configuration file", so a config
/// works the same from any working directory.
fn resolve_relative_paths(config: &mut Config, base: &Path) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = normalize(&base.join(&*p));
        }
    };
    for source in &mut config.sources {
        if let Some(p) = source.db_path.as_mut() {
            fix(p);
        }
    }
    for drive in &mut config.drives {
        if let DriveConfig::Local(local) = drive {
            fix(&mut local.folder);
        }
    }
}

/// `a/b/../c` → `a/c`, without touching the file system (the path may not exist yet), so
/// messages show the path a person would write.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

pub fn source(cfg: &SourceConfig) -> Result<Arc<dyn Source>, String> {
    match cfg.provider {
        SourceProvider::Sqlite => SqliteSource::from_config(cfg)
            .map(|s| Arc::new(s) as Arc<dyn Source>)
            .map_err(|e| e.to_string()),
        SourceProvider::Postgres => Ok(Arc::new(PostgresSource::new(cfg))),
        SourceProvider::Mysql | SourceProvider::Mariadb => Ok(Arc::new(MysqlSource::new(cfg))),
    }
}

pub fn drive(cfg: &DriveConfig) -> Result<Arc<dyn Drive>, String> {
    match cfg {
        DriveConfig::Local(local) => Ok(Arc::new(LocalDrive::new(
            local.label.clone(),
            local.folder.clone(),
        ))),
        DriveConfig::S3(s3) => S3Drive::new(s3)
            .map(|d| Arc::new(d) as Arc<dyn Drive>)
            .map_err(|e| format!("drive {:?}: {e}", s3.label)),
    }
}

/// Picks the configured items whose labels were asked for (all when none were); an unknown
/// label is a command-line error that lists the known ones.
pub fn select<'a, T>(
    kind: &str,
    items: &'a [T],
    label: impl Fn(&T) -> &str,
    wanted: &[String],
) -> Result<Vec<&'a T>, Outcome> {
    if wanted.is_empty() {
        return Ok(items.iter().collect());
    }
    let mut picked = Vec::new();
    for want in wanted {
        match items.iter().find(|i| label(i).eq_ignore_ascii_case(want)) {
            Some(item) => picked.push(item),
            None => {
                let known = items
                    .iter()
                    .map(|i| format!("{:?}", label(i)))
                    .collect::<Vec<_>>();
                eprintln!(
                    "error: no {kind} labelled {want:?} in the configuration (known: {})",
                    known.join(", ")
                );
                return Err(Outcome::Invalid);
            }
        }
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_resolved_against_the_config_folder_lexically() {
        assert_eq!(
            normalize(Path::new("/etc/bm/../backups/./db")),
            PathBuf::from("/etc/backups/db")
        );
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }
}
