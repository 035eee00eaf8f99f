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
