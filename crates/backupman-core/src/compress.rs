//! Reading stored objects back: the decryption and the decoder of every codec (serving
//! `verify`, `restore` and test mode) and the end-to-end check. Encoding lives in the engine (`engine/encode.rs`).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::codec::Codec;
use crate::encryption::{self, AGE_MAGIC, Identities, OpenError, is_encrypted};

/// The plain dump inside a stored object, whatever its codec: the codec is told by the
/// object's first bytes ([`Codec::sniff`]). gzip is read member after member and zstd frame
/// after frame, as `gunzip` and `zstd -d` do. An age-encrypted object fails with
/// [`OpenError::NoIdentity`]: use [`open`] with its identities.
pub fn decoder<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(open(reader, None)?)
}

/// The plain dump inside a stored object: decrypted first when it is age-encrypted (told by
/// its first bytes, [`is_encrypted`]; that needs `identities`), then decoded as [`decoder`]
/// says.
pub fn open<'a, R: Read + 'a>(
    mut reader: R,
    identities: Option<&Identities>,
) -> Result<Box<dyn Read + 'a>, OpenError> {
    let mut head = [0u8; AGE_MAGIC.len()];
    let filled = read_head(&mut reader, &mut head)?;
    let whole = io::Cursor::new(head[..filled].to_vec()).chain(reader);
    if is_encrypted(&head[..filled]) {
        let identities = identities.ok_or(OpenError::NoIdentity)?;
        return open(encryption::decrypt(whole, identities)?, None);
    }
    Ok(match Codec::sniff(&head[..filled]) {
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Codec::Gzip => Box::new(MultiGzDecoder::new(whole)),
        _ => Box::new(whole),
    })
}

/// Fills `head` as far as the stream goes; how many bytes it got.
fn read_head(reader: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What reading a stored object end to end found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheck {
    /// Bytes of the stored (compressed, maybe encrypted) object.
    pub compressed_size: u64,
    /// Bytes it unpacks to; `None` when it is age-encrypted and was read without an identity,
    /// so only its stored bytes were checked.
    pub plain_size: Option<u64>,
    /// SHA-256 of the stored object, lower-case hex.
    pub sha256: String,
}

/// Hashes the stored bytes and decodes them to the end: a truncated or corrupted gzip or
/// zstd object fails here even when no manifest is at hand (a plain one can only be checked
/// against its manifest). An age-encrypted object is decrypted with `identities`, every
/// chunk authenticated; without identities only its bytes are hashed.
pub fn check_stored<R: Read>(
    reader: R,
    identities: Option<&Identities>,
) -> Result<StoredCheck, OpenError> {
    check_stored_within(reader, identities, None)
}

/// [`check_stored`], but decoding stops as soon as the plain bytes exceed `limit` (the
/// manifest's `size`): the error is then an [`OpenError::Io`] carrying [`Oversized`] (see
/// [`Oversized::find`]). A decompression bomb costs a read up to its first byte too many,
/// not the gigabytes it unpacks to.
pub fn check_stored_within<R: Read>(
    reader: R,
    identities: Option<&Identities>,
    limit: Option<u64>,
) -> Result<StoredCheck, OpenError> {
    let mut hashing = HashingReader::new(reader);
    let plain_size = match open(&mut hashing, identities) {
        Ok(plain) => Some(drain_within(plain, limit)?),
        Err(OpenError::NoIdentity) => None,
        Err(e) => return Err(e),
    };
    // The decoder may stop before EOF of the last member's padding; hash whatever remains.
    io::copy(&mut hashing, &mut io::sink())?;
    let (compressed_size, sha256) = hashing.finish();
    Ok(StoredCheck {
        compressed_size,
        plain_size,
        sha256,
    })
}

/// Reads `plain` to its end and returns its length, or fails with [`Oversized`] once more than
/// `limit` bytes came out.
fn drain_within(mut plain: impl Read, limit: Option<u64>) -> io::Result<u64> {
    let Some(limit) = limit else {
        return io::copy(&mut plain, &mut io::sink());
    };
    // One byte past the limit is enough to know the object is not what its manifest says.
    let read = io::copy(
        &mut plain.by_ref().take(limit.saturating_add(1)),
        &mut io::sink(),
    )?;
    if read > limit {
        return Err(io::Error::other(Oversized { limit }));
    }
    Ok(read)
}

/// An object that unpacks to more bytes than its manifest's `size`: decoding stopped at the
/// first byte beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("it unpacks to more than the {limit} bytes its manifest says (decoding stopped there)")]
pub struct Oversized {
    /// The manifest's `size`.
    pub limit: u64,
}

impl Oversized {
    /// The [`Oversized`] inside an I/O error from [`check_stored_within`], if that is what it is.
    pub fn find(err: &io::Error) -> Option<Oversized> {
        err.get_ref()?.downcast_ref::<Oversized>().copied()
    }
}

/// A reader that counts and SHA-256-hashes what passes through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R> HashingReader<R> {
    /// Counts and hashes everything read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read and their SHA-256, lower-case hex.
    pub fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn checks_sizes_and_hash() {
        let data = b"hello backup\n".repeat(1000);
        let packed = gz(&data);
        let check = check_stored(&packed[..], None).unwrap();
        assert_eq!(check.plain_size, Some(data.len() as u64));
        assert_eq!(check.compressed_size, packed.len() as u64);
        assert_eq!(check.sha256, hex::encode(Sha256::digest(&packed)));
    }

    #[test]
    fn decoding_stops_past_the_limit() {
        let data = vec![0u8; 4 << 20];
        let packed = gz(&data);
        let exact = check_stored_within(&packed[..], None, Some(data.len() as u64)).unwrap();
        assert_eq!(exact.plain_size, Some(data.len() as u64));
        let err = check_stored_within(&packed[..], None, Some(1000)).unwrap_err();
        let OpenError::Io(err) = err else {
            panic!("not an I/O error: {err}")
        };
        assert_eq!(Oversized::find(&err), Some(Oversized { limit: 1000 }));
        assert!(
            err.to_string().contains("more than the 1000 bytes"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_corrupted_objects_fail() {
        let packed = gz(&b"some rows\n".repeat(5000));
        assert!(check_stored(&packed[..packed.len() - 10], None).is_err());
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x01;
        assert!(check_stored(&flipped[..], None).is_err());
    }
}
