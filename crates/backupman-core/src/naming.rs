//! Object keys: `{source-slug}/{source-slug}-{UTC YYYYmmddTHHMMSSZ}.{ext}.gz`, relative to a
//! drive's prefix, so two sources never collide and keys sort by time.

use chrono::{DateTime, NaiveDateTime, Utc};

const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Lower-case ASCII letters, digits and single dashes: safe as a folder and object name on
/// every store.
pub fn slugify(label: &str) -> String {
    let mut slug = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("source");
    }
    slug
}

/// The key of one backup object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    pub source_slug: String,
    pub taken_at: DateTime<Utc>,
    pub extension: String,
}

impl BackupKey {
    pub fn new(source_label: &str, taken_at: DateTime<Utc>, extension: &str) -> Self {
        Self {
            source_slug: slugify(source_label),
            taken_at,
            extension: extension.to_owned(),
        }
    }

    /// The folder all of a source's backups live in, with a trailing `/`.
    pub fn source_folder(source_label: &str) -> String {
        format!("{}/", slugify(source_label))
    }

    /// The object key, relative to the drive's prefix.
    pub fn object(&self) -> String {
        format!(
            "{slug}/{slug}-{time}.{ext}.gz",
            slug = self.source_slug,
            time = self.taken_at.format(TIME_FORMAT),
            ext = self.extension
        )
    }

    /// The key of the JSON manifest stored beside the object.
    pub fn manifest(&self) -> String {
        format!("{}.json", self.object())
    }

    /// Parses an object key back; `None` for anything that is not a backup object
    /// (manifests, foreign files).
    pub fn parse(key: &str) -> Option<Self> {
        let (folder, file) = key.rsplit_once('/')?;
        let folder = folder.rsplit('/').next()?;
        let rest = file.strip_prefix(folder)?.strip_prefix('-')?;
        let rest = rest.strip_suffix(".gz")?;
        let (time, ext) = rest.split_once('.')?;
        let taken_at = NaiveDateTime::parse_from_str(time, TIME_FORMAT)
            .ok()?
            .and_utc();
        Some(Self {
            source_slug: folder.to_owned(),
            taken_at,
            extension: ext.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slugs_are_safe_names() {
        assert_eq!(slugify("Production DB (main)"), "production-db-main");
        assert_eq!(slugify("  --Ünïcode__name-- "), "n-code-name");
        assert_eq!(slugify("!!!"), "source");
    }

    #[test]
    fn keys_round_trip() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap();
        let key = BackupKey::new("App DB", at, "sql");
        assert_eq!(key.object(), "app-db/app-db-20261127T030405Z.sql.gz");
        assert_eq!(key.manifest(), "app-db/app-db-20261127T030405Z.sql.gz.json");
        assert_eq!(BackupKey::parse(&key.object()), Some(key));
        assert_eq!(
            BackupKey::parse("app-db/app-db-20261127T030405Z.sql.gz.json"),
            None
        );
        assert_eq!(BackupKey::parse("app-db/notes.txt"), None);
    }
}
