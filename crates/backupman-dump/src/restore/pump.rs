//! The pump every restore shares: the stored bytes hashed as they stream, decoded into the
//! destination through the engine's filter, stopped as soon as they unpack to more than the
//! manifest says, and checked against the manifest once read to the end.

use std::io::{self, Read, Write};

use backupman_core::{HashingReader, Mismatch, OpenError, StoredCheck, open};

use super::filter::{Filter, Refusal};
use super::{RestoreOptions, RestoreOutcome};

/// Why the pump stopped.
pub(crate) enum PumpError {
    /// Reading or decompressing the backup failed.
    Read(io::Error),
    /// The backup is encrypted and cannot be decrypted; nothing was written to the sink.
    Decrypt(OpenError),
    /// The destination stopped accepting (the client exited).
    Write(io::Error),
    /// The filter refused the dump; the chunk holding what it refused was not written.
    Refused(Refusal),
    /// The dump unpacks to more than `limit` bytes (the manifest's `size`); no byte beyond
    /// it was written.
    TooLarge {
        /// The manifest's `size`.
        limit: u64,
    },
}

/// Hashes the stored bytes, decrypts (with the options' identities) and decodes them (any
/// codec), passes each chunk through `filter` and writes it to `sink`, then hashes whatever
/// trails the compressed stream, so the hash covers the whole object. With a manifest,
/// decoding stops at the first byte beyond its `size`.
pub(crate) fn pump<R: Read, W: Write>(
    reader: R,
    options: &RestoreOptions,
    mut filter: Option<&mut dyn Filter>,
    sink: &mut W,
) -> Result<RestoreOutcome, PumpError> {
    let limit = options.expected.as_ref().map(|m| m.size);
    let mut hashing = HashingReader::new(reader);
    let mut plain_size = 0u64;
    {
        let mut decoder = open(&mut hashing, options.identities.as_ref()).map_err(|e| match e {
            OpenError::Io(e) => PumpError::Read(e),
            e => PumpError::Decrypt(e),
        })?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PumpError::Read(e)),
            };
            plain_size += n as u64;
            if let Some(limit) = limit.filter(|&limit| plain_size > limit) {
                return Err(PumpError::TooLarge { limit });
            }
            if let Some(filter) = filter.as_deref_mut() {
                filter.check(&buf[..n]).map_err(PumpError::Refused)?;
            }
            sink.write_all(&buf[..n]).map_err(PumpError::Write)?;
        }
    }
    if let Some(filter) = filter {
        filter.finish().map_err(PumpError::Refused)?;
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(PumpError::Read)?;
    let (compressed_size, sha256) = hashing.finish();
    Ok(RestoreOutcome {
        compressed_size,
        plain_size: Some(plain_size),
        sha256,
    })
}

/// The manifest's check of what was read, when there is a manifest.
pub(crate) fn check_read(options: &RestoreOptions, read: &StoredCheck) -> Result<(), Mismatch> {
    options.expected.as_ref().map_or(Ok(()), |m| m.check(read))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use backupman_core::Manifest;

    use super::*;

    fn options_claiming(size: u64) -> RestoreOptions {
        RestoreOptions {
            expected: Some(Manifest {
                version: 1,
                source: "s".into(),
                provider: "sqlite".into(),
                database: "d".into(),
                key: "s/s.sqlite.gz".into(),
                started_at: chrono::Utc::now(),
                finished_at: chrono::Utc::now(),
                size,
                compressed_size: 0,
                sha256: String::new(),
                compression: "gzip-1".into(),
                encryption: None,
                recipients: Vec::new(),
                tool_version: None,
                backupman_version: "test".into(),
            }),
            force: false,
            identities: None,
        }
    }

    #[test]
    fn no_byte_beyond_the_manifests_size_reaches_the_sink() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![0u8; 8 << 20]).unwrap();
        let packed = gz.finish().unwrap();
        for claimed in [0, 1_000, 300_000, (8 << 20) - 1] {
            let mut sink = Vec::new();
            let err = pump(&packed[..], &options_claiming(claimed), None, &mut sink);
            assert!(
                matches!(err, Err(PumpError::TooLarge { limit }) if limit == claimed),
                "{claimed}"
            );
            assert!(sink.len() as u64 <= claimed, "{} > {claimed}", sink.len());
        }
        let mut sink = Vec::new();
        let read = pump(&packed[..], &options_claiming(8 << 20), None, &mut sink);
        assert_eq!(read.ok().and_then(|r| r.plain_size), Some(8 << 20));
        assert_eq!(sink.len(), 8 << 20);
    }
}
