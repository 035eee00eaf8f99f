//! Reading back what a drive holds, as a stranger's input: a listing says which backups exist
//! (their key carries the time, the listing the size), and a manifest is read only when an
//! operation needs it, bounded in size, checked against its key and, with a signing key
//! configured, against its signature. Each backup gets a [`Standing`]: only a trusted one may
//! become "latest", count as kept by retention, or be restored without being asked for.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};

use crate::drive::{Drive, DriveError, DriveErrorKind, ObjectInfo};
use crate::index::FolderIndex;
use crate::manifest::Manifest;
use crate::naming::BackupKey;
use crate::signing::{Verifier, signature_key};

/// The largest manifest read back. A genuine one is under 2 KiB; anything larger is damaged
/// or planted, and is refused before it costs memory.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// The largest signature file read back (a genuine one is about 300 bytes).
pub const MAX_SIGNATURE_BYTES: u64 = 4 * 1024;

/// How far a manifest's start time may be from its key's: they are taken a moment apart.
pub const MAX_CLOCK_DISAGREEMENT: Duration = Duration::minutes(5);

/// How far in the future a backup's time may be before it is suspect (clock skew between
/// hosts stays well under this).
pub const MAX_FUTURE: Duration = Duration::days(1);

/// Manifests read at once when many are needed (`list`, the service's catalog): enough to
/// hide the store's latency, few enough to stay polite to it.
pub const READ_CONCURRENCY: usize = 64;

/// What the reader may believe about a backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "standing", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Standing {
    /// Its manifest was not read: the listing is all that is known of it, and the listing
    /// gave no reason to doubt it. Retention, when no signature is required, reads nothing
    /// more.
    Unread,
    /// Its manifest checks out: bounded, about this very key, dated as its key is, encrypted
    /// when encryption is required, and signed by the configured key when one is.
    Trusted {
        /// A signature was checked (false: no signing key is configured).
        signed: bool,
    },
    /// A signing key is configured and the backup has no signature.
    Unsigned,
    /// The signature does not check out with the configured key.
    BadSignature(String),
    /// Encryption is configured and the backup is not encrypted.
    Unencrypted,
    /// Its dates cannot be right (in the future, or its manifest's time is not its key's).
    Suspect(String),
    /// Its manifest is too large, unreadable, or about another object.
    Damaged(String),
    /// No manifest lies beside it: nothing to check it against.
    NoManifest,
}

impl Standing {
    /// May stand for its source: be chosen as latest, count as kept, set the last success.
    pub fn is_trusted(&self) -> bool {
        matches!(self, Self::Trusted { .. })
    }

    /// Counts for retention (a trusted backup, or one nothing has been read of yet).
    pub fn counts(&self) -> bool {
        matches!(self, Self::Trusted { .. } | Self::Unread)
    }

    /// One word or two for a listing: `signed`, `ok`, `unsigned`, `bad signature`...
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unread => "unread",
            Self::Trusted { signed: true } => "signed",
            Self::Trusted { signed: false } => "ok",
            Self::Unsigned => "unsigned",
            Self::BadSignature(_) => "bad signature",
            Self::Unencrypted => "unencrypted",
            Self::Suspect(_) => "suspect",
            Self::Damaged(_) => "damaged",
            Self::NoManifest => "no manifest",
        }
    }

    /// Why it is not trusted, for a person; `None` when it is (or was not read).
    pub fn reason(&self) -> Option<String> {
        Some(match self {
            Self::Unread | Self::Trusted { .. } => return None,
            Self::Unsigned => {
                "it has no signature, and a signing key is configured (backups made before signing was turned on, or a planted one)".into()
            }
            Self::BadSignature(why) => format!("its signature does not check out: {why}"),
            Self::Unencrypted => {
                "it is not encrypted, and encryption is configured (a planted backup, or one made before encryption was turned on)".into()
            }
            Self::Suspect(why) => format!("suspect: {why}"),
            Self::Damaged(why) => format!("damaged manifest: {why}"),
            Self::NoManifest => "no manifest beside it, so it cannot be checked".into(),
        })
    }
}

/// What a reader requires of a backup before trusting it.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Manifests must be signed by this key.
    pub verifier: Option<Verifier>,
    /// Backups must be encrypted (the source has `encryption` configured).
    pub require_encryption: bool,
    /// The reader's clock, against which "in the future" is judged.
    pub now: DateTime<Utc>,
}

impl TrustPolicy {
    /// Believes what a consistent manifest says: no signature, no encryption required.
    pub fn unsigned(now: DateTime<Utc>) -> Self {
        Self {
            verifier: None,
            require_encryption: false,
            now,
        }
    }
}

/// One backup found on a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackup {
    /// The object's key, relative to the drive's prefix.
    pub key: String,
    /// When it was taken: its key's time (a manifest that disagrees makes it suspect).
    pub taken_at: DateTime<Utc>,
    /// Bytes of the stored object, from the listing.
    pub size: u64,
    /// The manifest, once read and parsed.
    pub manifest: Option<Manifest>,
    /// What may be believed of it.
    pub standing: Standing,
    /// Bytes of its manifest in the listing (`None`: there is none).
    manifest_size: Option<u64>,
    /// Its manifest's entity tag in the listing, where the store gives one.
    manifest_etag: Option<String>,
    /// Whether a signature file lies beside its manifest.
    has_signature: bool,
    /// Its signature's entity tag in the listing, where the store gives one.
    signature_etag: Option<String>,
    /// Whether the key says the object is age-encrypted.
    encrypted_key: bool,
}

impl StoredBackup {
    /// A backup known only by its key and size, with no manifest read: for tests and for
    /// callers that plan retention on backups of their own.
    pub fn unread(key: impl Into<String>, taken_at: DateTime<Utc>, size: u64) -> Self {
        Self {
            key: key.into(),
            taken_at,
            size,
            manifest: None,
            standing: Standing::Unread,
            manifest_size: Some(0),
            manifest_etag: None,
            has_signature: false,
            signature_etag: None,
            encrypted_key: false,
        }
    }

    /// A backup this process has just stored, with the manifest it wrote (and signed, when
    /// `signed`): not read back, since the writer is the one party that need not be doubted,
    /// but held to `policy` as any other (unsigned where a signature is required, say).
    pub fn written(
        key: &str,
        size: u64,
        manifest: Manifest,
        signed: bool,
        policy: &TrustPolicy,
    ) -> Option<Self> {
        let parsed = BackupKey::parse(key)?;
        let mut backup = Self {
            key: key.to_owned(),
            taken_at: parsed.taken_at,
            size,
            manifest: None,
            standing: Standing::Unread,
            manifest_size: Some(0),
            manifest_etag: None,
            has_signature: signed,
            signature_etag: None,
            encrypted_key: parsed.encrypted,
        };
        backup.standing = match backup.judge_listing(policy) {
            Some(condemned) => condemned,
            None => match judge_manifest(&backup, &manifest, policy) {
                Standing::Unread => Standing::Trusted { signed },
                condemned => condemned,
            },
        };
        backup.manifest = Some(manifest);
        Some(backup)
    }

    /// Whether the listing showed a manifest beside it: one without is no backup, only what
    /// a killed run left.
    pub fn has_manifest(&self) -> bool {
        self.manifest_size.is_some()
    }

    /// The key of its manifest.
    pub fn manifest_key(&self) -> String {
        format!("{}.json", self.key)
    }

    /// Its manifest's entity tag in the listing (see [`ObjectInfo::etag`]).
    pub fn manifest_etag(&self) -> Option<&str> {
        self.manifest_etag.as_deref()
    }

    /// Its signature's entity tag in the listing (see [`ObjectInfo::etag`]).
    pub fn signature_etag(&self) -> Option<&str> {
        self.signature_etag.as_deref()
    }

    /// The standing the listing alone gives, before any read, when it settles the matter.
    fn judge_listing(&self, policy: &TrustPolicy) -> Option<Standing> {
        if self.taken_at > policy.now + MAX_FUTURE {
            return Some(Standing::Suspect(format!(
                "its key is dated {}, in the future",
                self.taken_at.to_rfc3339()
            )));
        }
        let Some(manifest_size) = self.manifest_size else {
            return Some(Standing::NoManifest);
        };
        if manifest_size > MAX_MANIFEST_BYTES {
            return Some(Standing::Damaged(format!(
                "its manifest is {manifest_size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"
            )));
        }
        if policy.require_encryption && !self.encrypted_key {
            return Some(Standing::Unencrypted);
        }
        if policy.verifier.is_some() && !self.has_signature {
            return Some(Standing::Unsigned);
        }
        None
    }
}

/// Lists a source's backups on a drive, newest first, without reading any manifest: each is
/// [`Standing::Unread`] unless the listing alone condemns it (no manifest, dated in the
/// future, unencrypted or unsigned where that is required, a manifest over the size limit).
pub async fn list_source(
    drive: &dyn Drive,
    source_label: &str,
    policy: &TrustPolicy,
) -> Result<Vec<StoredBackup>, DriveError> {
    let objects = drive.list(&BackupKey::source_folder(source_label)).await?;
    Ok(backups_in(&objects, source_label, policy))
}

/// A source's backups taken before `cutoff`, judged as [`list_source`] judges them, listed
/// only as far as the first key at or after it: what retention by age can delete, for the
/// price of a page however many backups are kept.
pub async fn list_source_before(
    drive: &dyn Drive,
    source_label: &str,
    cutoff: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<StoredBackup>, DriveError> {
    let folder = BackupKey::source_folder(source_label);
    let slug = folder.trim_end_matches('/').to_owned();
    let past_cutoff = move |key: &str| {
        BackupKey::parse(key).is_some_and(|k| k.source_slug == slug && k.taken_at >= cutoff)
    };
    let objects = drive.list_range(&folder, None, &past_cutoff).await?;
    let mut backups = backups_in(&objects, source_label, policy);
    // The last page may end between a later backup and its manifest: only those before the
    // cutoff are known whole.
    backups.retain(|b| b.taken_at < cutoff);
    Ok(backups)
}

/// A source's backups taken in or after the second of `since`, judged as [`list_source`]
/// judges them, listed from there to the end of its folder.
pub async fn list_source_since(
    drive: &dyn Drive,
    source_label: &str,
    since: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<StoredBackup>, DriveError> {
    let folder = BackupKey::source_folder(source_label);
    let start = BackupKey::time_marker(source_label, since);
    let objects = drive.list_range(&folder, Some(&start), &|_| false).await?;
    Ok(backups_in(&objects, source_label, policy))
}

/// The backups of the source labelled `source_label` among a listing of its folder, judged
/// as [`list_source`] judges them.
pub fn backups_in(
    objects: &[ObjectInfo],
    source_label: &str,
    policy: &TrustPolicy,
) -> Vec<StoredBackup> {
    let folder = BackupKey::source_folder(source_label);
    let slug = folder.trim_end_matches('/');
    let by_key: HashMap<&str, &ObjectInfo> = objects.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut out = Vec::new();
    for object in objects {
        // Only this source's own backups: never a file in a sub-folder or of another layout.
        let Some(key) = BackupKey::parse(&object.key).filter(|k| k.source_slug == slug) else {
            continue;
        };
        let manifest_key = format!("{}.json", object.key);
        let manifest = by_key.get(manifest_key.as_str());
        let signature = by_key.get(signature_key(&manifest_key).as_str());
        let mut backup = StoredBackup {
            key: object.key.clone(),
            taken_at: key.taken_at,
            size: object.size,
            manifest: None,
            standing: Standing::Unread,
            manifest_size: manifest.map(|o| o.size),
            manifest_etag: manifest.and_then(|o| o.etag.clone()),
            has_signature: signature.is_some(),
            signature_etag: signature.and_then(|o| o.etag.clone()),
            encrypted_key: key.encrypted,
        };
        if let Some(standing) = backup.judge_listing(policy) {
            backup.standing = standing;
        }
        out.push(backup);
    }
    out.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.key.cmp(&a.key)));
    out
}

/// Reads and checks one backup's manifest (and signature), giving it its final standing. A
/// backup the listing already condemned is returned as it is. A read that fails for the
/// store's sake (unreachable, not permitted) is an error: the backup is not damaged, the
/// drive is failing.
pub async fn inspect(
    drive: &dyn Drive,
    backup: StoredBackup,
    policy: &TrustPolicy,
) -> Result<StoredBackup, DriveError> {
    Ok(inspect_with(drive, backup, policy, None).await?.backup)
}

/// A backup inspected, with the bytes it was judged on, so a folder index can keep them.
#[derive(Debug)]
pub(crate) struct Inspected {
    pub(crate) backup: StoredBackup,
    /// Its manifest's bytes, when they could be had.
    pub(crate) manifest: Option<Obtained>,
    /// Its signature's bytes, when a signing key asked for them and they could be had.
    pub(crate) signature: Option<Obtained>,
}

impl Inspected {
    /// A backup judged without reading anything now (condemned by the listing, or known).
    pub(crate) fn as_is(backup: StoredBackup) -> Self {
        Self {
            backup,
            manifest: None,
            signature: None,
        }
    }
}

/// The bytes of one small object, and whether they came from the drive (rather than from a
/// folder index the listing vouched for).
#[derive(Debug)]
pub(crate) struct Obtained {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fetched: bool,
}

/// [`inspect`], taking the manifest's and signature's bytes from `index` wherever the listing
/// vouches for its copy ([`FolderIndex::vouched`]) and reading the rest from the drive; both
/// kinds of bytes are judged alike, by [`judge`].
pub(crate) async fn inspect_with(
    drive: &dyn Drive,
    backup: StoredBackup,
    policy: &TrustPolicy,
    index: Option<&FolderIndex>,
) -> Result<Inspected, DriveError> {
    if backup.standing != Standing::Unread {
        return Ok(Inspected::as_is(backup));
    }
    let manifest_key = backup.manifest_key();
    let signature = async {
        match policy.verifier {
            // `judge_listing` left it unread, so a signature is listed beside it.
            Some(_) => {
                let key = signature_key(&manifest_key);
                let etag = backup.signature_etag.as_deref();
                obtain(drive, &key, etag, MAX_SIGNATURE_BYTES, index)
                    .await
                    .map(Some)
            }
            None => Ok(None),
        }
    };
    let manifest = obtain(
        drive,
        &manifest_key,
        backup.manifest_etag.as_deref(),
        MAX_MANIFEST_BYTES,
        index,
    );
    let (manifest, signature) = futures::try_join!(manifest, signature)?;
    let backup = judge(backup, &manifest, signature.as_ref(), policy);
    Ok(Inspected {
        backup,
        manifest: manifest.ok(),
        signature: signature.and_then(Result::ok),
    })
}

/// An object's bytes from `index` when the listing vouches for its copy, else read from the
/// drive, bounded by `limit`.
async fn obtain(
    drive: &dyn Drive,
    key: &str,
    listed_etag: Option<&str>,
    limit: u64,
    index: Option<&FolderIndex>,
) -> Result<Result<Obtained, Unreadable>, DriveError> {
    if let Some(text) = index.and_then(|i| i.vouched(key, listed_etag)) {
        return Ok(Ok(Obtained {
            bytes: text.as_bytes().to_vec(),
            fetched: false,
        }));
    }
    Ok(read_bounded(drive, key, limit)
        .await?
        .map(|bytes| Obtained {
            bytes,
            fetched: true,
        }))
}

/// The one judgement of a backup on its manifest's bytes and, where a signing key is
/// configured, its signature's: the same whether the bytes were read from the drive or taken
/// from a folder index.
fn judge(
    mut backup: StoredBackup,
    manifest: &Result<Obtained, Unreadable>,
    signature: Option<&Result<Obtained, Unreadable>>,
    policy: &TrustPolicy,
) -> StoredBackup {
    let bytes = match manifest {
        Ok(obtained) => &obtained.bytes,
        Err(damage) => {
            backup.standing = Standing::Damaged(damage.to_string());
            return backup;
        }
    };
    let manifest = match Manifest::from_json(bytes) {
        Ok(manifest) => manifest,
        Err(e) => {
            let key = backup.manifest_key();
            backup.standing = Standing::Damaged(format!("{key} does not parse: {e}"));
            return backup;
        }
    };
    backup.standing = judge_manifest(&backup, &manifest, policy);
    if backup.standing == Standing::Unread {
        backup.standing = match (&policy.verifier, signature) {
            (None, _) => Standing::Trusted { signed: false },
            (Some(_), None) => Standing::Unsigned,
            (Some(_), Some(Err(damage))) => Standing::BadSignature(damage.to_string()),
            (Some(verifier), Some(Ok(sig))) => {
                match verifier.verify(&backup.key, bytes, &sig.bytes) {
                    Ok(()) => Standing::Trusted { signed: true },
                    Err(bad) => Standing::BadSignature(bad.0),
                }
            }
        };
    }
    backup.manifest = Some(manifest);
    backup
}

/// The checks of a parsed manifest against its key and the policy; `Unread` when it passes.
fn judge_manifest(backup: &StoredBackup, manifest: &Manifest, policy: &TrustPolicy) -> Standing {
    if manifest.key != backup.key {
        return Standing::Damaged(format!(
            "it describes {:?}, not {:?}",
            manifest.key, backup.key
        ));
    }
    let apart = (manifest.started_at - backup.taken_at).abs();
    if apart > MAX_CLOCK_DISAGREEMENT {
        return Standing::Suspect(format!(
            "its manifest says it began at {}, {} minutes from its key's time {}",
            manifest.started_at.to_rfc3339(),
            apart.num_minutes(),
            backup.taken_at.to_rfc3339()
        ));
    }
    if manifest.finished_at > policy.now + MAX_FUTURE || manifest.finished_at < manifest.started_at
    {
        return Standing::Suspect(format!(
            "its manifest says it finished at {}",
            manifest.finished_at.to_rfc3339()
        ));
    }
    if manifest.is_encrypted() != backup.encrypted_key {
        return Standing::Damaged("its manifest and its key disagree on encryption".into());
    }
    if policy.require_encryption && !manifest.is_encrypted() {
        return Standing::Unencrypted;
    }
    Standing::Unread
}

/// Inspects every backup, [`READ_CONCURRENCY`] at a time, keeping their order. The first
/// store failure is returned (a listing half-read is no listing).
pub async fn inspect_all(
    drive: &dyn Drive,
    backups: Vec<StoredBackup>,
    policy: &TrustPolicy,
) -> Result<Vec<StoredBackup>, DriveError> {
    stream::iter(backups)
        .map(|b| inspect(drive, b, policy))
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Lists and inspects every backup of a source on a drive, newest first, through the
/// folder's index where the store allows one ([`crate::index::list_inspected`]).
pub async fn list_inspected(
    drive: &dyn Drive,
    source_label: &str,
    policy: &TrustPolicy,
) -> Result<Vec<StoredBackup>, DriveError> {
    crate::index::list_inspected(drive, source_label, policy, |_| None).await
}

/// The newest trusted backup of a source on a drive, reading manifests newest first only
/// until one checks out.
pub async fn latest_trusted(
    drive: &dyn Drive,
    source_label: &str,
    policy: &TrustPolicy,
) -> Result<Option<StoredBackup>, DriveError> {
    for backup in list_source(drive, source_label, policy).await? {
        let backup = inspect(drive, backup, policy).await?;
        if backup.standing.is_trusted() {
            return Ok(Some(backup));
        }
        tracing::warn!(
            drive = drive.label(),
            key = %backup.key,
            "passed over for latest: {}",
            backup.standing.reason().unwrap_or_default()
        );
    }
    Ok(None)
}

/// Why a small object read back is itself wrong, as opposed to the store failing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Unreadable {
    /// It was listed, and is no longer there.
    #[error("{key} is gone: {error}")]
    Gone {
        /// The object.
        key: String,
        /// The drive's answer.
        #[source]
        error: DriveError,
    },
    /// It is larger than anything of its kind may be.
    #[error("{key} is over the {limit}-byte limit")]
    TooLarge {
        /// The object.
        key: String,
        /// The bound it passed.
        limit: u64,
    },
}

/// Reads a small object whole, refusing it past `limit` bytes. The outer error is the
/// store's; the inner one says the object itself is wrong (too large, gone since listed).
pub async fn read_bounded(
    drive: &dyn Drive,
    key: &str,
    limit: u64,
) -> Result<Result<Vec<u8>, Unreadable>, DriveError> {
    let mut stream = match drive.read(key).await {
        Ok(stream) => stream,
        Err(error) if error.kind == DriveErrorKind::NotFound => {
            return Ok(Err(Unreadable::Gone {
                key: key.to_owned(),
                error,
            }));
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Ok(Err(Unreadable::TooLarge {
                key: key.to_owned(),
                limit,
            }));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Ok(out))
}
