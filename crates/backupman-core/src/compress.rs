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
    let mut hashing = HashingReader::new(reader);
    let plain_size = match open(&mut hashing, identities) {
        Ok(mut plain) => Some(io::copy(&mut plain, &mut io::sink())?),
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
    fn truncated_and_corrupted_objects_fail() {
        let packed = gz(&b"some rows\n".repeat(5000));
        assert!(check_stored(&packed[..packed.len() - 10], None).is_err());
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x01;
        assert!(check_stored(&flipped[..], None).is_err());
    }
}
