//! gzip, on flate2's zlib-rs backend: encoding happens inside the engine's blocking stage,
//! decoding serves `verify` and `restore`.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

/// A decoder that reads every gzip member, as `gunzip` does, so a future multi-member
/// (parallel) encoder stays readable.
pub fn gzip_decoder<R: Read>(reader: R) -> MultiGzDecoder<R> {
    MultiGzDecoder::new(reader)
}

/// What reading a stored object end to end found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzipCheck {
    /// Bytes of the stored (gzipped) object.
    pub compressed_size: u64,
    /// Bytes it unpacks to.
    pub plain_size: u64,
    /// SHA-256 of the stored object, lower-case hex.
    pub sha256: String,
}

/// Hashes the compressed bytes and decodes them to the end: a truncated or corrupted object
/// fails here even when no manifest is at hand.
pub fn check_gzip<R: Read>(reader: R) -> io::Result<GzipCheck> {
    let mut hashing = HashingReader::new(reader);
    let plain_size = io::copy(&mut gzip_decoder(&mut hashing), &mut io::sink())?;
    // The decoder may stop before EOF of the last member's padding; hash whatever remains.
    io::copy(&mut hashing, &mut io::sink())?;
    let (compressed_size, sha256) = hashing.finish();
    Ok(GzipCheck {
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
        let check = check_gzip(&packed[..]).unwrap();
        assert_eq!(check.plain_size, data.len() as u64);
        assert_eq!(check.compressed_size, packed.len() as u64);
        assert_eq!(check.sha256, hex::encode(Sha256::digest(&packed)));
    }

    #[test]
    fn truncated_and_corrupted_objects_fail() {
        let packed = gz(&b"some rows\n".repeat(5000));
        assert!(check_gzip(&packed[..packed.len() - 10]).is_err());
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x01;
        assert!(check_gzip(&flipped[..]).is_err());
    }
}
