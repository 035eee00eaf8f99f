//! Object keys and the one slug rule.
//!
//! A backup's key is `{slug}/{slug}-{UTC YYYYmmddTHHMMSS.mmmZ}-{6 hex}.{ext}{codec}{age}`,
//! relative to a drive's prefix, where `{codec}` is `.gz`, `.zst` or nothing
//! ([`Codec::key_suffix`]) and `{age}` is `.age` for an age-encrypted object:
//! the millisecond time keeps keys sorting by time, and the random suffix keeps two backups of
//! one source taken in the same millisecond (two processes, a retry) apart. Keys of the first
//! format, `{slug}/{slug}-{YYYYmmddTHHMMSSZ}.{ext}.gz`, still parse.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::codec::Codec;
use crate::encryption::AGE_KEY_SUFFIX;

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const TIME_LEN: usize = "20261127T031322.123Z".len();
/// The first key format, to the second, without a suffix.
const SECONDS_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const SECONDS_LEN: usize = "20261127T031322Z".len();
/// Slugs longer than this are cut (on a character boundary), so a key stays well inside the
/// 255-byte file-name limit of local file systems.
const MAX_SLUG_CHARS: usize = 48;

/// The database name a whole PostgreSQL server's roles and tablespaces are stored under,
/// beside its databases (`{label}/globals`, so in the folder `{slug}-globals`).
pub const GLOBALS_DATABASE: &str = "globals";

/// The folder name of a source label: letters and digits of any script, lower-cased, every
/// other run of characters one `-`, no `-` at either end (`Продакшн DB` → `продакшн-db`).
///
/// Labels with no letter or digit have an empty slug; the configuration refuses them, as it
/// refuses two labels with the same slug (`App` and `app!`), so two sources never share a
/// folder.
pub fn slugify(label: &str) -> String {
    let mut slug = String::with_capacity(label.len());
    let mut chars = 0;
    for c in label.chars() {
        if chars >= MAX_SLUG_CHARS {
            break;
        }
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
            chars += 1;
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
            chars += 1;
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// The key of one backup object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    /// The source label's slug: the folder and the start of the file name.
    pub source_slug: String,
    /// When the backup was taken, to the millisecond (to the second in the first format).
    pub taken_at: DateTime<Utc>,
    /// The random part that keeps keys unique; `None` for keys of the first format.
    pub suffix: Option<String>,
    /// The plain dump's extension, before the codec's suffix: `sql` or `sqlite`.
    pub extension: String,
    /// What the object is compressed with, told by the key's codec suffix.
    pub codec: Codec,
    /// The object is age-encrypted: its key ends in `.age`.
    pub encrypted: bool,
}

impl BackupKey {
    /// A new, unique key for a backup of `source_label` taken at `taken_at`, compressed with
    /// `codec`.
    pub fn new(source_label: &str, taken_at: DateTime<Utc>, extension: &str, codec: Codec) -> Self {
        let mut random = [0u8; 3];
        // Without the OS's randomness the time still orders keys, and a collision is refused
        // by the no-clobber write, never a replacement.
        if getrandom::fill(&mut random).is_err() {
            random = std::process::id().to_le_bytes()[..3]
                .try_into()
                .expect("three bytes");
        }
        Self {
            source_slug: slugify(source_label),
            taken_at,
            suffix: Some(hex::encode(random)),
            extension: extension.to_owned(),
            codec,
            encrypted: false,
        }
    }

    /// The same key for an age-encrypted object (`.age` appended) when `encrypted`.
    pub fn encrypted(self, encrypted: bool) -> Self {
        Self { encrypted, ..self }
    }

    /// The folder all of a source's backups live in, with a trailing `/`.
    pub fn source_folder(source_label: &str) -> String {
        format!("{}/", slugify(source_label))
    }

    /// A key that sorts before every key of the source's backups taken in or after the
    /// second of `at`, and after those of earlier seconds (both key formats): where a
    /// listing of the newest backups starts.
    pub fn time_marker(source_label: &str, at: DateTime<Utc>) -> String {
        let slug = slugify(source_label);
        format!("{slug}/{slug}-{}", at.format("%Y%m%dT%H%M%S"))
    }

    /// The object key, relative to the drive's prefix.
    pub fn object(&self) -> String {
        let slug = &self.source_slug;
        let ext = &self.extension;
        let codec = self.codec.key_suffix();
        let age = if self.encrypted { AGE_KEY_SUFFIX } else { "" };
        match &self.suffix {
            Some(suffix) => {
                let time = self.taken_at.format(TIME_FORMAT);
                format!("{slug}/{slug}-{time}-{suffix}.{ext}{codec}{age}")
            }
            None => {
                let time = self.taken_at.format(SECONDS_FORMAT);
                format!("{slug}/{slug}-{time}.{ext}{codec}{age}")
            }
        }
    }

    /// The key of the JSON manifest stored beside the object.
    pub fn manifest(&self) -> String {
        format!("{}.json", self.object())
    }

    /// Parses an object key (`{slug}/{file}`, nothing before the folder) back; `None` for
    /// anything that is not a backup object: manifests, foreign files, and files in another
    /// source's folder or in a sub-folder.
    pub fn parse(key: &str) -> Option<Self> {
        let (folder, file) = key.split_once('/')?;
        if folder.is_empty() || file.contains('/') {
            return None;
        }
        let rest = file.strip_prefix(folder)?.strip_prefix('-')?;
        let (encrypted, rest) = match rest.strip_suffix(AGE_KEY_SUFFIX) {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        // A plain dump's key ends in its extension; anything with a further dot (a manifest,
        // `.sql.bak`) is refused below.
        let (codec, rest) = [Codec::Gzip, Codec::Zstd]
            .into_iter()
            .find_map(|c| Some((c, rest.strip_suffix(c.key_suffix())?)))
            .unwrap_or((Codec::None, rest));
        let (taken_at, suffix, ext) = parse_unique(rest).or_else(|| parse_seconds(rest))?;
        if ext.is_empty() || ext.contains('.') {
            return None;
        }
        Some(Self {
            source_slug: folder.to_owned(),
            taken_at,
            suffix,
            extension: ext.to_owned(),
            codec,
            encrypted,
        })
    }
}

/// `20261127T031322.123Z-7f3a9c.sql`
fn parse_unique(rest: &str) -> Option<(DateTime<Utc>, Option<String>, &str)> {
    let time = rest.get(..TIME_LEN)?;
    let (suffix, ext) = rest.get(TIME_LEN..)?.strip_prefix('-')?.split_once('.')?;
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if suffix.is_empty() || !suffix.chars().all(hex) {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?;
    Some((at.and_utc(), Some(suffix.to_owned()), ext))
}

/// `20261127T031322Z.sql`
fn parse_seconds(rest: &str) -> Option<(DateTime<Utc>, Option<String>, &str)> {
    let time = rest.get(..SECONDS_LEN)?;
    let ext = rest.get(SECONDS_LEN..)?.strip_prefix('.')?;
    let at = NaiveDateTime::parse_from_str(time, SECONDS_FORMAT).ok()?;
    Some((at.and_utc(), None, ext))
}

/// `2 × bytes` random hex digits for scratch names (health probes, temp files), so that two
/// of them, in one process or several, never meet. Without the OS's randomness, the clock and
/// a counter of this process still keep names apart within it.
pub fn random_hex(bytes: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = vec![0u8; bytes];
    if getrandom::fill(&mut random).is_ok() {
        return hex::encode(random);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}{:x}{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slugs_keep_every_script_and_drop_punctuation() {
        assert_eq!(slugify("Production DB (main)"), "production-db-main");
        assert_eq!(slugify("  --Ünïcode__name-- "), "ünïcode-name");
        assert_eq!(slugify("Продакшн"), "продакшн");
        assert_eq!(slugify("日本"), "日本");
        assert_ne!(slugify("Продакшн"), slugify("日本"));
        assert_eq!(slugify("App"), slugify("app!"));
        assert_eq!(slugify("!!!"), "");
        assert_eq!(slugify(&"x".repeat(200)).chars().count(), MAX_SLUG_CHARS);
    }

    #[test]
    fn keys_round_trip_and_sort_by_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap()
            + chrono::Duration::milliseconds(123);
        let key = BackupKey::new("App DB", at, "sql", Codec::Gzip);
        let object = key.object();
        let suffix = key.suffix.clone().unwrap();
        assert_eq!(suffix.len(), 6);
        assert_eq!(
            object,
            format!("app-db/app-db-20261127T030405.123Z-{suffix}.sql.gz")
        );
        assert_eq!(key.manifest(), format!("{object}.json"));
        assert_eq!(BackupKey::parse(&object), Some(key.clone()));
        let later = BackupKey::new(
            "App DB",
            at + chrono::Duration::milliseconds(1),
            "sql",
            Codec::Gzip,
        );
        assert!(later.object() > object);
        assert_eq!(BackupKey::parse(&key.manifest()), None);
        assert_eq!(BackupKey::parse("app-db/notes.txt"), None);
    }

    #[test]
    fn the_time_marker_sorts_between_the_seconds_in_both_formats() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap();
        let marker = BackupKey::time_marker("App DB", at);
        let second = chrono::Duration::seconds(1);
        for taken_at in [at - second, at, at + second] {
            for suffix in [Some("7f3a9c".to_owned()), None] {
                let key = BackupKey {
                    suffix,
                    ..BackupKey::new("App DB", taken_at, "sql", Codec::Gzip)
                }
                .object();
                assert_eq!(
                    key.as_str() > marker.as_str(),
                    taken_at >= at,
                    "{key} against {marker}"
                );
            }
        }
    }

    #[test]
    fn two_keys_of_one_instant_differ() {
        let at = Utc::now();
        let keys: std::collections::HashSet<String> = (0..50)
            .map(|_| BackupKey::new("Demo", at, "sqlite", Codec::Zstd).object())
            .collect();
        assert_eq!(keys.len(), 50);
    }

    #[test]
    fn first_format_keys_still_parse() {
        let key = BackupKey::parse("app-db/app-db-20261127T030405Z.sql.gz").unwrap();
        assert_eq!(
            key.taken_at,
            Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap()
        );
        assert_eq!(key.suffix, None);
        assert_eq!(key.codec, Codec::Gzip);
        assert_eq!(key.object(), "app-db/app-db-20261127T030405Z.sql.gz");
        assert_eq!(
            BackupKey::parse("продакшн/продакшн-20261127T030405Z.sqlite.gz")
                .unwrap()
                .extension,
            "sqlite"
        );
    }

    #[test]
    fn every_codec_has_its_key_and_parses_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap();
        for (codec, end) in [
            (Codec::Gzip, ".sql.gz"),
            (Codec::Zstd, ".sql.zst"),
            (Codec::None, ".sql"),
        ] {
            let key = BackupKey::new("app", at, "sql", codec);
            assert!(key.object().ends_with(end), "{}", key.object());
            assert_eq!(BackupKey::parse(&key.object()), Some(key.clone()));
            assert_eq!(BackupKey::parse(&key.manifest()), None);
        }
        let plain = BackupKey::parse("app/app-20261127T030405.123Z-7f3a9c.sqlite").unwrap();
        assert_eq!(
            (plain.codec, plain.extension.as_str()),
            (Codec::None, "sqlite")
        );
        assert_eq!(
            BackupKey::parse("app/app-20261127T030405.123Z-7f3a9c.sql.bak"),
            None
        );
        assert_eq!(
            BackupKey::parse("app/app-20261127T030405.123Z-7f3a9c.zst"),
            None
        );
    }

    #[test]
    fn encrypted_keys_end_in_age_after_the_codec_and_parse_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 4, 5).unwrap();
        for (codec, end) in [
            (Codec::Gzip, ".sql.gz.age"),
            (Codec::Zstd, ".sql.zst.age"),
            (Codec::None, ".sql.age"),
        ] {
            let key = BackupKey::new("app", at, "sql", codec).encrypted(true);
            assert!(key.object().ends_with(end), "{}", key.object());
            assert_eq!(BackupKey::parse(&key.object()), Some(key.clone()));
            assert_eq!(BackupKey::parse(&key.manifest()), None);
        }
        let old = BackupKey::parse("app/app-20261127T030405Z.sqlite.gz.age").unwrap();
        assert!(old.encrypted && old.codec == Codec::Gzip && old.extension == "sqlite");
        assert_eq!(BackupKey::parse("app/app-20261127T030405Z.age"), None);
        assert_eq!(
            BackupKey::parse("app/app-20261127T030405.123Z-7f3a9c.sql.gz.age.json"),
            None
        );
    }

    #[test]
    fn keys_outside_the_folder_layout_are_not_backups() {
        assert_eq!(BackupKey::parse("a/b/b-20261127T030405Z.sql.gz"), None);
        assert_eq!(BackupKey::parse("a/b-20261127T030405Z.sql.gz"), None);
        assert_eq!(BackupKey::parse("a/a-20261127T030405Z.gz"), None);
        assert_eq!(
            BackupKey::parse("a/a-20261127T030405.123Z-XYZ.sql.gz"),
            None
        );
    }
}
