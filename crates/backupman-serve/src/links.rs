//! Signed download links for drives that cannot presign (local folders): the server's own
//! `/api/backups/{id}/download?expires=T&signature=S`, where `S` is an HMAC-SHA256 of the
//! drive file id and the expiry. The HMAC key is derived from the API keys, so links survive
//! a restart and stop working when the keys are rotated.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use backupman_config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks download links.
#[derive(Debug)]
pub(crate) struct LinkSigner {
    /// A block-sized HMAC key: the derived 32 bytes, zero-padded as HMAC pads any short key.
    key: [u8; 64],
}

impl LinkSigner {
    pub(crate) fn new(api_keys: &[Secret]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"backupman download links");
        for key in api_keys {
            // Length-prefixed, so no two lists of keys derive the same link key.
            hasher.update((key.expose().len() as u64).to_le_bytes());
            hasher.update(key.expose().as_bytes());
        }
        let mut key = [0; 64];
        key[..32].copy_from_slice(&hasher.finalize());
        Self { key }
    }

    fn mac(&self, id: &str, expires: i64) -> HmacSha256 {
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&self.key.into());
        mac.update(id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature of a link to drive file `id` valid until `expires` (Unix seconds).
    pub(crate) fn sign(&self, id: &str, expires: i64) -> String {
        hex::encode(self.mac(id, expires).finalize().into_bytes())
    }

    /// The server-relative signed link to drive file `id`, valid until `expires`.
    pub(crate) fn path(&self, id: &str, expires: i64) -> String {
        format!(
            "/api/backups/{id}/download?expires={expires}&signature={}",
            self.sign(id, expires)
        )
    }

    /// The link is genuine (in constant time) and not expired at `now`.
    pub(crate) fn verify(&self, id: &str, expires: i64, signature: &str, now: i64) -> bool {
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        now <= expires && self.mac(id, expires).verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_until_it_expires_and_only_for_its_file() {
        let signer = LinkSigner::new(&[Secret::new("k")]);
        let sig = signer.sign("abc", 100);
        assert!(signer.verify("abc", 100, &sig, 99));
        assert!(signer.verify("abc", 100, &sig, 100));
        assert!(!signer.verify("abc", 100, &sig, 101), "expired");
        assert!(!signer.verify("abd", 100, &sig, 99), "another file");
        assert!(!signer.verify("abc", 1000, &sig, 99), "a later expiry");
        assert!(!signer.verify("abc", 100, "zz", 99), "not hex");
        let rotated = LinkSigner::new(&[Secret::new("k2")]);
        assert!(!rotated.verify("abc", 100, &sig, 99), "keys rotated");
    }
}
