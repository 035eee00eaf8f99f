//! The pump every restore shares: the stored bytes hashed as they stream, decoded into the
//! destination, and checked against the manifest once read to the end.

use std::io::{self, Read, Write};

use backupman_core::{HashingReader, Identities, Mismatch, OpenError, StoredCheck, open};

use super::{RestoreOptions, RestoreOutcome};

/// Why the pump stopped.
pub(crate) enum PumpError {
    /// Reading or decompressing the backup failed.
    Read(io::Error),
    /// The backup is encrypted and cannot be decrypted; nothing was written to the sink.
    Decrypt(OpenError),
    /// The destination stopped accepting (the client exited).
    Write(io::Error),
}

/// Hashes the stored bytes, decrypts (with `identities`) and decodes them (any codec) into `sink`, then hashes whatever trails the compressed
/// stream, so the hash covers the whole object.
pub(crate) fn pump<R: Read, W: Write>(
    reader: R,
    identities: Option<&Identities>,
    sink: &mut W,
) -> Result<RestoreOutcome, PumpError> {
    let mut hashing = HashingReader::new(reader);
    let mut plain_size = 0u64;
    {
        let mut decoder = open(&mut hashing, identities).map_err(|e| match e {
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
            sink.write_all(&buf[..n]).map_err(PumpError::Write)?;
            plain_size += n as u64;
        }
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
