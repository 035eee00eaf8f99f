//! From configuration to what the operations run on: the one place that reads a `Config`.
//! [`plan()`] resolves it once into a [`Plan`] (the sources and drives, the signing keys, the
//! engine's settings, the notifiers); the operations take that plan, never the
//! configuration. `settings` maps each configured source and drive onto its own crate's
//! settings, so this is also the one place that knows which implementation serves which
//! provider.

mod plan;
mod settings;

use std::path::{Path, PathBuf};

use backupman_config::{Config, ConfigError, DriveConfig, Loaded};
use backupman_core::{DriveError, DriveErrorKind, SourceError};

pub use plan::{Notifiers, Plan, Signing, SourcePlan, UnknownLabel, plan};
pub use settings::{
    BrokenDrive, build_drives, database_settings, drive, mysql_settings, postgres_settings,
    s3_settings, source, sqlite_settings, whereabouts,
};

/// Loads a configuration file. Relative paths in it (SQLite files and staging folders,
/// local folders, the SMTP and S3 CA files) are resolved against the file's own folder, so a
/// configuration works the same from any working directory.
pub fn load_config(path: &Path) -> Result<Loaded, ConfigError> {
    let mut loaded = backupman_config::load(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    resolve_relative_paths(&mut loaded.config, &dir);
    // Secrets are `Secret`s, whose Debug is redacted: this line is safe to log.
    tracing::debug!(config = ?loaded.config, "configuration loaded from {}", path.display());
    Ok(loaded)
}

fn resolve_relative_paths(config: &mut Config, base: &Path) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = normalize(&base.join(&*p));
        }
    };
    for source in &mut config.sources {
        for p in [source.db_path.as_mut(), source.tmp_folder.as_mut()]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
    }
    if let Some(ca) = config.mail.as_mut().and_then(|m| m.smtp_ca_file.as_mut()) {
        fix(ca);
    }
    if let Some(key) = config
        .signing
        .as_mut()
        .and_then(|s| s.secret_key_file.as_mut())
    {
        fix(key);
    }
    for drive in &mut config.drives {
        match drive {
            DriveConfig::Local(local) => fix(&mut local.folder),
            DriveConfig::S3(s3) => {
                if let Some(ca) = s3.ca_file.as_mut() {
                    fix(ca);
                }
            }
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

/// Why a configured source or drive could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// The source's settings cannot make a source (an SQLite source without `db_path`).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The drive cannot be built (an S3 endpoint that does not parse, say).
    #[error("drive {label:?}: {error}")]
    Drive {
        /// The drive's label.
        label: String,
        /// Why it cannot be built.
        error: DriveError,
    },
}

impl WiringError {
    /// The failure as a drive's, for the report line of a drive that could not be built.
    pub fn to_drive_error(&self) -> DriveError {
        match self {
            Self::Drive { label, error } => error.clone().context(format_args!("drive {label:?}")),
            Self::Source(_) => {
                DriveError::new(DriveErrorKind::Other, self.to_string()).with_cause(self.clone())
            }
        }
    }
}

/// The failure as a source's, for the report of a source that could not be set up.
impl From<WiringError> for SourceError {
    fn from(err: WiringError) -> Self {
        match err {
            WiringError::Source(err) => err,
            other => SourceError::new(other.to_string()).with_cause(other),
        }
    }
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

    #[test]
    fn staging_folders_and_the_smtp_ca_file_are_resolved_too() {
        let text = "data_sources:\n  - provider: sqlite\n    label: s\n    db_path: app.db\n    tmp_folder: ./tmp/stage\ndrives:\n  - provider: local\n    label: l\n    folder: /abs\nnotifiers:\n  mail:\n    smtp_host: mx\n    smtp_ca_file: certs/ca.pem\n    destinations: [{email: a@b.c}]\n";
        let mut config = backupman_config::parse(text, "c.yml", |_| None)
            .unwrap()
            .config;
        resolve_relative_paths(&mut config, Path::new("/etc/bm"));
        let source = &config.sources[0];
        assert_eq!(source.db_path, Some(PathBuf::from("/etc/bm/app.db")));
        assert_eq!(source.tmp_folder, Some(PathBuf::from("/etc/bm/tmp/stage")));
        let ca = config.mail.unwrap().smtp_ca_file;
        assert_eq!(ca, Some(PathBuf::from("/etc/bm/certs/ca.pem")));
    }
}
