//! The JSON manifest stored beside every backup object: the drives are the only record, so
//! `list`, `verify`, `restore` and retention all read these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::compress::StoredCheck;

/// What one stored backup is: where it came from, when, and the sizes and hash to check it
/// against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this manifest.
    pub version: u32,
    /// The source's label.
    pub source: String,
    /// The source's provider: `postgres`, `mysql`, `mariadb` or `sqlite`.
    pub provider: String,
    /// The database name, or the SQLite file.
    pub database: String,
    /// Object key relative to the drive's prefix.
    pub key: String,
    /// When the dump began.
    pub started_at: DateTime<Utc>,
    /// When the dump and its compression ended.
    pub finished_at: DateTime<Utc>,
    /// Bytes of the plain dump.
    pub size: u64,
    /// Bytes of the stored (compressed) object.
    pub compressed_size: u64,
    /// SHA-256 of the stored object, lower-case hex.
    pub sha256: String,
    /// How the object is compressed: `gzip-<level>`, `zstd-<level>` or `none`.
    pub compression: String,
    /// `age` when the object is age-encrypted (its key then ends in `.age`); left out of the
    /// JSON otherwise. The sizes and SHA-256 above are then those of the ciphertext, except
    /// `size`, the plain dump's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// The age public keys (`age1...`) it is encrypted to, so an operator knows which
    /// identity reads it. Public keys only: never an identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The dump tool's own version line, when it has one.
    pub tool_version: Option<String>,
    /// The version of backupman that wrote the backup.
    pub backupman_version: String,
}

impl Manifest {
    /// The manifest as stored: pretty JSON ending in a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        out.push(b'\n');
        out
    }

    /// Parses a stored manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// True when the object is age-encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// The one check of a stored object against its manifest, used by `run --test-mode`,
    /// `verify` and `restore` alike: what was read end to end (decoded to its end)
    /// must have the manifest's SHA-256, stored size and plain size (the plain size only
    /// when the object was looked inside: an encrypted one read without an identity was not).
    pub fn check(&self, read: &StoredCheck) -> Result<(), Mismatch> {
        if !self.sha256.eq_ignore_ascii_case(&read.sha256) {
            return Err(Mismatch::Sha256 {
                expected: self.sha256.clone(),
                actual: read.sha256.clone(),
            });
        }
        if self.compressed_size != read.compressed_size {
            return Err(Mismatch::StoredSize {
                expected: self.compressed_size,
                actual: read.compressed_size,
            });
        }
        match read.plain_size {
            Some(actual) if actual != self.size => Err(Mismatch::PlainSize {
                expected: self.size,
                actual,
            }),
            _ => Ok(()),
        }
    }
}

/// How a stored object differs from its manifest: it is not the backup that was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The stored object's SHA-256 differs.
    #[error("its SHA-256 is {actual} but the manifest says {expected}")]
    Sha256 {
        /// The manifest's.
        expected: String,
        /// The object's.
        actual: String,
    },
    /// The stored object's size differs.
    #[error("it is {actual} bytes but the manifest says {expected}")]
    StoredSize {
        /// The manifest's.
        expected: u64,
        /// The object's.
        actual: u64,
    },
    /// The size it unpacks to differs.
    #[error("it unpacks to {actual} bytes but the manifest says {expected}")]
    PlainSize {
        /// The manifest's.
        expected: u64,
        /// What the object unpacks to.
        actual: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            version: 1,
            source: "S".into(),
            provider: "sqlite".into(),
            database: "d".into(),
            key: "s/s-20261127T030405Z.sqlite.gz".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            size: 100,
            compressed_size: 40,
            sha256: "ab".repeat(32),
            compression: "gzip-6".into(),
            encryption: None,
            recipients: Vec::new(),
            tool_version: None,
            backupman_version: "0".into(),
        }
    }

    #[test]
    fn every_field_of_the_check_counts() {
        let m = manifest();
        let read = StoredCheck {
            compressed_size: 40,
            plain_size: Some(100),
            sha256: "AB".repeat(32),
        };
        assert_eq!(m.check(&read), Ok(()));
        let other_hash = StoredCheck {
            sha256: "cd".repeat(32),
            ..read.clone()
        };
        assert!(matches!(m.check(&other_hash), Err(Mismatch::Sha256 { .. })));
        let longer = StoredCheck {
            compressed_size: 41,
            ..read.clone()
        };
        assert_eq!(
            m.check(&longer),
            Err(Mismatch::StoredSize {
                expected: 40,
                actual: 41
            })
        );
        let shorter_plain = StoredCheck {
            plain_size: Some(99),
            ..read.clone()
        };
        assert!(matches!(
            m.check(&shorter_plain),
            Err(Mismatch::PlainSize { .. })
        ));
        let not_looked_inside = StoredCheck {
            plain_size: None,
            ..read
        };
        assert_eq!(m.check(&not_looked_inside), Ok(()));
    }
}
