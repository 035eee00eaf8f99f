//! A source folder's index: copies of its manifests (and signatures) in one object, so that
//! `list` and the service's catalog pay one read for a folder, not one per backup. On a store
//! far away, a thousand manifest reads cost seconds even 64 at a time, and a store on a small
//! machine can be saturated by them.
//!
//! The manifests stay the record: the index is a cache that nothing trusts. A copy stands in
//! for reading an object only when the listing of that very object gives an entity tag that
//! is a plain MD5 (32 hex digits, no `-N` of a multipart upload) and the MD5 of the copy's
//! text is that tag ([`vouches`]). The copy is then the object's bytes, and it goes through
//! exactly the checks read bytes go through (`listing::judge`: key, dates, encryption,
//! signature). A copy that does not match (forged, stale, of a replaced object) is ignored and
//! the object read as before; a lost, damaged, oversized or foreign index is no index at all
//! (a warning, never an error). Stores whose entity tags are not MD5s (SSE-KMS, SSE-C, a
//! local folder, a server that lists none) never use an index, and none is written there.
//!
//! The index of the folder `{slug}/` lives under `{slug}/.index/`, one object per writing
//! (`{UTC time}-{random}.json`); readers take the newest by key. [`list_inspected`] writes a
//! new one, best effort, after reading a whole folder when [`READ_CONCURRENCY`] or more of
//! the manifests it could cover had to be read from the drive, and then deletes the ones it
//! listed. `BackupKey::parse` refuses keys in a sub-folder, so to retention, the sweep of
//! objects left without a manifest, whole-server folders and the catalog an index object is
//! nothing.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt, stream};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::drive::{Drive, DriveError, DriveErrorKind, ObjectInfo, upload_bytes};
use crate::listing::{
    self, Inspected, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, Obtained, READ_CONCURRENCY, Standing,
    StoredBackup, TrustPolicy, Unreadable,
};
use crate::naming::{BackupKey, random_hex};
use crate::signing::signature_key;

/// The sub-folder of a source's folder holding its index objects.
pub const INDEX_FOLDER: &str = ".index/";

/// The largest index read back (about 30,000 entries of a typical manifest); a writer stops
/// adding older entries before it.
pub const MAX_INDEX_BYTES: u64 = 32 * 1024 * 1024;

/// The most entries an index may hold.
pub const MAX_INDEX_ENTRIES: usize = 100_000;

/// The only format written and read.
const FORMAT: u32 = 1;

/// Superseded index objects deleted after a new one is written, at most: a pile planted in
/// the folder costs a listing, never an unbounded number of requests.
const MAX_DELETES: usize = 64;

/// What an index object holds.
#[derive(Debug, Serialize, Deserialize)]
struct IndexFile {
    format: u32,
    /// The source folder it describes (`seed/`): an index copied into another folder is
    /// not used there.
    folder: String,
    /// Newest first.
    entries: Vec<Entry>,
}

/// One backup's manifest, and its signature when one was read.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The manifest's key.
    key: String,
    /// The entity tag the manifest was listed with when its text was taken.
    etag: String,
    /// The manifest's bytes.
    text: String,
    signature: Option<Copied>,
}

/// An object's bytes as text, and the entity tag it was listed with when they were taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Copied {
    etag: String,
    text: String,
}

/// A source folder's index as read back: copies by the key of the object they stand for.
#[derive(Debug, Default)]
pub struct FolderIndex {
    copies: HashMap<String, Copied>,
}

/// Why an index object is not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadIndex {
    /// It could not be read back whole (gone since listed, over the size limit).
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    /// Reading it failed on the store's side.
    #[error("it could not be read: {0}")]
    Store(#[from] DriveError),
    /// It is no index of this format.
    #[error("it does not parse: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format, from another version of backupman.
    #[error("it is of format {0}, not {FORMAT}")]
    Format(u32),
    /// It describes another folder.
    #[error("it describes the folder {found:?}, not {expected:?}")]
    Folder {
        /// The folder it names.
        found: String,
        /// The folder it lies in.
        expected: String,
    },
    /// More entries than any index holds.
    #[error("it has {0} entries, over the limit of {MAX_INDEX_ENTRIES}")]
    TooManyEntries(usize),
    /// A copy larger than the object it stands for may be.
    #[error("its copy of {key} is over the {limit}-byte limit")]
    CopyTooLarge {
        /// The object the copy stands for.
        key: String,
        /// The bound it passed.
        limit: u64,
    },
}

impl FolderIndex {
    /// Parses an index of `folder`, holding it to every bound.
    pub fn parse(bytes: &[u8], folder: &str) -> Result<Self, BadIndex> {
        let file: IndexFile = serde_json::from_slice(bytes)?;
        if file.format != FORMAT {
            return Err(BadIndex::Format(file.format));
        }
        if file.folder != folder {
            return Err(BadIndex::Folder {
                found: file.folder,
                expected: folder.to_owned(),
            });
        }
        if file.entries.len() > MAX_INDEX_ENTRIES {
            return Err(BadIndex::TooManyEntries(file.entries.len()));
        }
        let mut copies = HashMap::with_capacity(file.entries.len() * 2);
        for entry in file.entries {
            let signature_key = signature_key(&entry.key);
            let manifest = Copied {
                etag: entry.etag,
                text: entry.text,
            };
            for (key, copy, limit) in [
                (entry.key, Some(manifest), MAX_MANIFEST_BYTES),
                (signature_key, entry.signature, MAX_SIGNATURE_BYTES),
            ] {
                let Some(copy) = copy else { continue };
                if copy.text.len() as u64 > limit {
                    return Err(BadIndex::CopyTooLarge { key, limit });
                }
                copies.entry(key).or_insert(copy);
            }
        }
        Ok(Self { copies })
    }

    /// Reads the index object `key` of `folder`; any failure is no index, said in a warning.
    pub async fn read(drive: &dyn Drive, folder: &str, key: &str) -> Option<Self> {
        let parsed = match listing::read_bounded(drive, key, MAX_INDEX_BYTES).await {
            Ok(Ok(bytes)) => Self::parse(&bytes, folder),
            Ok(Err(unreadable)) => Err(unreadable.into()),
            Err(store) => Err(store.into()),
        };
        parsed
            .inspect_err(|why| {
                tracing::warn!(
                    drive = drive.label(),
                    "ignoring the folder index {key}: {why}; the manifests are read instead"
                );
            })
            .ok()
    }

    /// The copy of the object `key`, when the listing vouches for it: listed with `etag`, a
    /// plain MD5 that is the copy's.
    pub fn vouched(&self, key: &str, listed_etag: Option<&str>) -> Option<&str> {
        let copy = self.copies.get(key)?;
        (Some(copy.etag.as_str()) == listed_etag && vouches(copy.text.as_bytes(), listed_etag))
            .then_some(copy.text.as_str())
    }
}

/// Whether bytes are those of an object listed with `etag`: the tag is a plain MD5 (32 lower
/// hex digits; a multipart upload's `-N` tag or none at all vouches for nothing) and it is
/// the bytes' MD5.
pub fn vouches(bytes: &[u8], listed_etag: Option<&str>) -> bool {
    let Some(etag) = listed_etag else {
        return false;
    };
    let plain_md5 =
        etag.len() == 32 && etag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    plain_md5 && hex::encode(Md5::digest(bytes)) == etag
}

/// Whether `key` (relative to a drive's prefix) is a folder index object: `{slug}/.index/…`.
pub fn is_index_key(key: &str) -> bool {
    key.split_once('/')
        .is_some_and(|(_, rest)| rest.starts_with(INDEX_FOLDER))
}

/// The index objects of `folder` among a listing of it, oldest first.
fn index_objects<'a>(objects: &'a [ObjectInfo], folder: &str) -> Vec<&'a ObjectInfo> {
    let prefix = format!("{folder}{INDEX_FOLDER}");
    let mut found: Vec<&ObjectInfo> = objects
        .iter()
        .filter(|o| {
            o.key
                .strip_prefix(&prefix)
                .is_some_and(|name| name.ends_with(".json") && !name.contains('/'))
        })
        .collect();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// Lists a source's folder and inspects every backup in it, newest first: those `seen`
/// gives (backups the listing leaves unread that the caller inspected before) are taken as
/// they are, the rest judged on the folder index's copies where the listing vouches for
/// them and on their objects read from the drive otherwise, [`READ_CONCURRENCY`] at a time.
/// Then, best effort, a new index is written when enough had to be read (see the module's
/// documentation). The first store failure of a manifest read is returned (a listing
/// half-read is no listing); nothing about the index ever is.
pub async fn list_inspected<F>(
    drive: &dyn Drive,
    source_label: &str,
    policy: &TrustPolicy,
    seen: F,
) -> Result<Vec<StoredBackup>, DriveError>
where
    F: Fn(&StoredBackup) -> Option<StoredBackup> + Sync,
{
    let folder = BackupKey::source_folder(source_label);
    let objects = drive.list(&folder).await?;
    let listed = listing::backups_in(&objects, source_label, policy);
    let indexes = index_objects(&objects, &folder);
    let index = match indexes.last() {
        Some(newest) if newest.size > MAX_INDEX_BYTES => {
            tracing::warn!(
                drive = drive.label(),
                "ignoring the folder index {}: {} bytes, over the {MAX_INDEX_BYTES}-byte limit",
                newest.key,
                newest.size
            );
            None
        }
        Some(newest) => FolderIndex::read(drive, &folder, &newest.key).await,
        None => None,
    };
    let inspected: Vec<Inspected> = stream::iter(listed)
        .map(|backup| {
            let known = (backup.standing == Standing::Unread)
                .then(|| seen(&backup))
                .flatten();
            let index = index.as_ref();
            async move {
                match known {
                    Some(known) => Ok(Inspected::as_is(known)),
                    None => listing::inspect_with(drive, backup, policy, index).await,
                }
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let superseded: Vec<&str> = indexes.iter().map(|o| o.key.as_str()).collect();
    renew(drive, &folder, &inspected, &superseded).await;
    Ok(inspected.into_iter().map(|i| i.backup).collect())
}

/// The entries a new index of `inspected` (newest first) would hold, within its bounds, and
/// how many of them had to be read from the drive to be had.
fn entries_of(inspected: &[Inspected]) -> (Vec<Entry>, usize) {
    // Room for the envelope (format, folder) beside the entries.
    let budget = MAX_INDEX_BYTES - 4096;
    let mut used = 0;
    let mut entries = Vec::new();
    let mut fetched = 0;
    for inspected in inspected {
        let backup = &inspected.backup;
        let Some(manifest) = inspected
            .manifest
            .as_ref()
            .and_then(|m| copy_of(m, backup.manifest_etag()))
        else {
            continue;
        };
        let signature = inspected
            .signature
            .as_ref()
            .and_then(|s| copy_of(s, backup.signature_etag()));
        let (manifest, manifest_fetched) = manifest;
        let entry = Entry {
            key: backup.manifest_key(),
            etag: manifest.etag,
            text: manifest.text,
            signature: signature.as_ref().map(|(copy, _)| copy.clone()),
        };
        let size = serde_json::to_vec(&entry).map_or(usize::MAX, |json| json.len() + 1) as u64;
        if entries.len() == MAX_INDEX_ENTRIES || used + size > budget {
            break;
        }
        used += size;
        if manifest_fetched || signature.is_some_and(|(_, fetched)| fetched) {
            fetched += 1;
        }
        entries.push(entry);
    }
    (entries, fetched)
}

/// A copy of bytes that a later listing can vouch for (text whose MD5 is the tag they were
/// listed with), and whether they were read from the drive; `None` for a copy that could
/// never be used.
fn copy_of(obtained: &Obtained, listed_etag: Option<&str>) -> Option<(Copied, bool)> {
    let text = std::str::from_utf8(&obtained.bytes).ok()?;
    let etag = listed_etag.filter(|etag| vouches(text.as_bytes(), Some(etag)))?;
    Some((
        Copied {
            etag: etag.to_owned(),
            text: text.to_owned(),
        },
        obtained.fetched,
    ))
}

/// Writes a new index of `folder` when [`READ_CONCURRENCY`] or more of the manifests it
/// would cover had to be read, then deletes the `superseded` index objects. Best effort: a
/// store that refuses (read-only credentials, Object Lock) is said in a log line, and the
/// listing stands as it is.
async fn renew(drive: &dyn Drive, folder: &str, inspected: &[Inspected], superseded: &[&str]) {
    // Only a source's own folder: never a scratch area such as test mode's.
    if folder.starts_with('.') || folder.trim_end_matches('/').contains('/') {
        return;
    }
    // Counting what was read now is cheap; building the entries hashes and encodes every
    // copy, so it waits until enough was read for a write to be possible (a refresh of the
    // service's catalog usually reads nothing).
    let read_now = inspected
        .iter()
        .filter(|i| {
            [&i.manifest, &i.signature]
                .into_iter()
                .any(|o| o.as_ref().is_some_and(|o| o.fetched))
        })
        .count();
    if read_now < READ_CONCURRENCY {
        return;
    }
    let (entries, fetched) = entries_of(inspected);
    if fetched < READ_CONCURRENCY {
        return;
    }
    let count = entries.len();
    let file = IndexFile {
        format: FORMAT,
        folder: folder.to_owned(),
        entries,
    };
    let json = match serde_json::to_vec(&file) {
        Ok(json) => json,
        Err(e) => {
            tracing::warn!("cannot encode the folder index of {folder}: {e}");
            return;
        }
    };
    let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let key = format!("{folder}{INDEX_FOLDER}{time}-{}.json", random_hex(3));
    if let Err(e) = upload_bytes(drive, &key, json.into()).await {
        refused(drive, "write", &key, &e);
        return;
    }
    tracing::debug!(
        drive = drive.label(),
        "wrote the folder index {key}: {count} manifests, {fetched} of them read now"
    );
    stream::iter(superseded.iter().take(MAX_DELETES))
        .for_each_concurrent(8, |old| async move {
            if let Err(e) = drive.delete(old).await {
                refused(drive, "delete", old, &e);
            }
        })
        .await;
}

/// A write or delete of an index the store refused: expected of read-only credentials or
/// Object Lock, so only a debug line then; anything else a warning.
fn refused(drive: &dyn Drive, action: &str, key: &str, error: &DriveError) {
    if error.kind == DriveErrorKind::Auth {
        tracing::debug!(
            drive = drive.label(),
            "cannot {action} the folder index {key} ({error}); listings read every manifest"
        );
    } else {
        tracing::warn!(
            drive = drive.label(),
            "cannot {action} the folder index {key}: {error}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::backups_in;
    use chrono::Utc;

    fn md5_hex(bytes: &[u8]) -> String {
        hex::encode(Md5::digest(bytes))
    }

    fn index_json(folder: &str, key: &str, text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format": 1,
            "folder": folder,
            "entries": [{"key": key, "etag": md5_hex(text.as_bytes()), "text": text, "signature": null}]
        }))
        .unwrap()
    }

    #[test]
    fn only_a_plain_md5_of_the_very_bytes_vouches() {
        let text = b"{\"key\": \"x\"}";
        let md5 = md5_hex(text);
        assert!(vouches(text, Some(&md5)));
        assert!(!vouches(text, None), "a store without entity tags");
        assert!(!vouches(b"{\"key\": \"y\"}", Some(&md5)), "other bytes");
        assert!(
            !vouches(text, Some(&md5.to_uppercase())),
            "listed tags are lower-cased"
        );
        assert!(!vouches(text, Some(&format!("{md5}-2"))), "a multipart tag");
        assert!(!vouches(text, Some(&md5[..31])));
    }

    #[test]
    fn a_copy_stands_in_only_for_the_object_it_matches() {
        let text = "{\"key\": \"seed/seed-x.sql.gz\"}";
        let key = "seed/seed-x.sql.gz.json";
        let index = FolderIndex::parse(&index_json("seed/", key, text), "seed/").unwrap();
        let md5 = md5_hex(text.as_bytes());
        assert_eq!(index.vouched(key, Some(&md5)), Some(text));
        assert_eq!(index.vouched(key, None), None, "no tag listed");
        // The object listed now is not the one copied: a forged or stale copy is ignored.
        let other = md5_hex(b"the manifest as it is");
        assert_eq!(index.vouched(key, Some(&other)), None);
        assert_eq!(index.vouched("seed/other.json", Some(&md5)), None);

        // An entry whose tag is right but whose text is not: the text decides.
        let forged = serde_json::to_vec(&serde_json::json!({
            "format": 1, "folder": "seed/",
            "entries": [{"key": key, "etag": md5, "text": "{\"key\": \"forged\"}", "signature": null}]
        }))
        .unwrap();
        let index = FolderIndex::parse(&forged, "seed/").unwrap();
        assert_eq!(index.vouched(key, Some(&md5)), None);
    }

    #[test]
    fn an_index_out_of_bounds_or_of_another_folder_is_no_index() {
        let text = "{}";
        let key = "seed/seed-x.sql.gz.json";
        let err = |bytes: &[u8]| FolderIndex::parse(bytes, "seed/").unwrap_err().to_string();
        assert!(err(b"garbage").contains("does not parse"));
        assert!(err(&index_json("other/", key, text)).contains("describes the folder"));
        let mut wrong_format: serde_json::Value =
            serde_json::from_slice(&index_json("seed/", key, text)).unwrap();
        wrong_format["format"] = 2.into();
        assert!(err(&serde_json::to_vec(&wrong_format).unwrap()).contains("format 2"));
        let huge = "x".repeat(MAX_MANIFEST_BYTES as usize + 1);
        assert!(err(&index_json("seed/", key, &huge)).contains("over the 65536-byte limit"));
        let sig = serde_json::to_vec(&serde_json::json!({
            "format": 1, "folder": "seed/",
            "entries": [{"key": key, "etag": "0", "text": "{}",
                         "signature": {"etag": "0", "text": "s".repeat(5000)}}]
        }))
        .unwrap();
        assert!(err(&sig).contains(".minisig is over the 4096-byte limit"));
        let many: Vec<serde_json::Value> = (0..=MAX_INDEX_ENTRIES)
            .map(|_| serde_json::json!({"key": "k", "etag": "", "text": "", "signature": null}))
            .collect();
        let many = serde_json::json!({"format": 1, "folder": "seed/", "entries": many});
        assert!(err(&serde_json::to_vec(&many).unwrap()).contains("100001 entries"));
    }

    /// Retention, the sweep of objects left without a manifest, whole-server folders and the
    /// catalog all know a folder's contents through `BackupKey::parse` and `backups_in`.
    #[test]
    fn an_index_object_is_no_backup_to_anyone() {
        let key = "seed/.index/20261206T180000.000Z-1a2b3c.json";
        assert!(is_index_key(key));
        assert!(!is_index_key(
            "seed/seed-20261206T180000.000Z-1a2b3c.sql.gz"
        ));
        assert!(!is_index_key(".index/x.json"));
        assert_eq!(BackupKey::parse(key), None);
        let objects = vec![
            ObjectInfo::new(key, 10),
            ObjectInfo::new("seed/.index/20261206T180000.000Z-1a2b3c.sql.gz", 10),
            ObjectInfo::new("seed/.index/seed-20261206T180000.000Z-1a2b3c.sql.gz", 10),
        ];
        let policy = TrustPolicy::unsigned(Utc::now());
        assert_eq!(backups_in(&objects, "seed", &policy), vec![]);
        assert_eq!(index_objects(&objects, "seed/").len(), 1);
    }
}
