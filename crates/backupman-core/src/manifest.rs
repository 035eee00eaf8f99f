//! The JSON manifest stored beside every backup object: the drives are the only record, so
//! `list`, `verify`, `restore` and retention all read these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this manifest.
    pub version: u32,
    pub source: String,
    pub provider: String,
    pub database: String,
    /// Object key relative to the drive's prefix.
    pub key: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Bytes of the plain dump.
    pub size: u64,
    /// Bytes of the stored (gzipped) object.
    pub compressed_size: u64,
    /// SHA-256 of the stored object, lower-case hex.
    pub sha256: String,
    pub compression: String,
    pub tool_version: Option<String>,
    pub backupman_version: String,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        out.push(b'\n');
        out
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
