//! Signed manifests: a backup host holds a minisign secret key and signs each manifest (which
//! carries the object's SHA-256); restore hosts hold only the public key. The signature is
//! minisign's own format, stored beside the manifest as `KEY.json.minisig`, so an operator can
//! check a backup by hand with `minisign -Vm KEY.json -P PUBLIC_KEY` and `sha256sum`.

use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// What a signature file's name adds to its manifest's: minisign's default.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The signature file of the manifest `manifest_key`.
pub fn signature_key(manifest_key: &str) -> String {
    format!("{manifest_key}{SIGNATURE_SUFFIX}")
}

/// The trusted comment of a manifest's signature: signed along with it, so a genuine
/// signature cannot be moved onto another backup's manifest.
fn trusted_comment(object_key: &str) -> String {
    format!("backupman manifest of {object_key}")
}

/// Why a signing key could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The key file could not be read.
    #[error("cannot read signing key {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::sync::Arc<std::io::Error>,
    },
    /// The text is not a minisign secret key.
    #[error("{path} is not a minisign secret key ({reason})")]
    NotASecretKey {
        /// The key file.
        path: PathBuf,
        /// What minisign said.
        reason: String,
    },
    /// The secret key is protected by a password: an unattended service cannot type it.
    #[error(
        "{path} is protected by a password, which an unattended backup cannot type: make a key without one (`minisign -G -W -s backupman.key -p backupman.pub`) and protect the file with its permissions (chmod 600)"
    )]
    Encrypted {
        /// The key file.
        path: PathBuf,
    },
    /// The text is not a minisign public key.
    #[error(
        "not a minisign public key ({reason}): give the `RW...` line of the .pub file, or the whole file"
    )]
    NotAPublicKey {
        /// What minisign said.
        reason: String,
    },
    /// The public key given does not belong to the secret key given.
    #[error(
        "the public key is not the secret key's own: a backup signed with it would never verify"
    )]
    Mismatch,
}

/// Signs manifests. Holds the secret key; `Debug` never shows it.
#[derive(Clone)]
pub struct Signer {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("public", &self.verifier())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads an unencrypted minisign secret key file (`minisign -G -W`).
    pub fn from_file(path: &Path) -> Result<Self, SigningKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningKeyError::Read {
            path: path.to_owned(),
            source: source.into(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a secret key file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SigningKeyError> {
        let not_a_key = |e: minisign::PError| SigningKeyError::NotASecretKey {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        // Decoded here rather than by minisign's own box reader: that one would prompt on the
        // terminal for a password-protected key, and refuses the keys minisign's own CLI
        // writes with `-W`, whose checksum field it leaves zero.
        let encoded = text.trim().lines().nth(1).unwrap_or_default().trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| SigningKeyError::NotASecretKey {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        // `Ed`, then the KDF: none (two zero bytes) or scrypt (`Sc`) when a password protects it.
        if bytes.get(2..4) != Some(&[0, 0][..]) {
            return Err(SigningKeyError::Encrypted {
                path: path.to_owned(),
            });
        }
        let secret = minisign::SecretKey::from_bytes(&bytes).map_err(not_a_key)?;
        let public = minisign::PublicKey::from_secret_key(&secret).map_err(not_a_key)?;
        // A damaged key would sign what its public half cannot check: signing with the public
        // key given makes minisign check its own signature.
        minisign::sign(Some(&public), &secret, Cursor::new(b"probe"), None, None)
            .map_err(not_a_key)?;
        Ok(Self { secret, public })
    }

    /// The public key that checks this signer's signatures.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            public: self.public.clone(),
        }
    }

    /// The `.minisig` file's text for the manifest `manifest_json` of `object_key`.
    pub fn sign(&self, object_key: &str, manifest_json: &[u8]) -> Vec<u8> {
        let comment = trusted_comment(object_key);
        minisign::sign(
            Some(&self.public),
            &self.secret,
            Cursor::new(manifest_json),
            Some(&comment),
            Some("signature from backupman secret key"),
        )
        // Signing in memory with a decoded key whose public half was derived from it has no
        // failure left but the OS's random source.
        .expect("signing a manifest in memory cannot fail")
        .into_string()
        .into_bytes()
    }
}

/// Checks manifest signatures with a public key.
#[derive(Clone)]
pub struct Verifier {
    public: minisign::PublicKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.public.to_base64())
    }
}

impl PartialEq for Verifier {
    fn eq(&self, other: &Self) -> bool {
        self.public.to_base64() == other.public.to_base64()
    }
}

impl Eq for Verifier {}

impl Verifier {
    /// Parses a public key: the `RW...` line alone, or a whole `.pub` file.
    pub fn parse(text: &str) -> Result<Self, SigningKeyError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or_default();
        let public =
            minisign::PublicKey::from_base64(line).map_err(|e| SigningKeyError::NotAPublicKey {
                reason: e.to_string(),
            })?;
        Ok(Self { public })
    }

    /// The key as minisign's `-P` takes it.
    pub fn to_base64(&self) -> String {
        self.public.to_base64()
    }

    /// Fails unless `signature` is this key's signature of `manifest_json` as the manifest
    /// of `object_key`.
    pub fn verify(
        &self,
        object_key: &str,
        manifest_json: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let text = std::str::from_utf8(signature)
            .map_err(|_| BadSignature("the signature file is not text".into()))?;
        let sig_box = minisign::SignatureBox::from_string(text)
            .map_err(|e| BadSignature(format!("the signature file does not parse: {e}")))?;
        minisign::verify(
            &self.public,
            &sig_box,
            Cursor::new(manifest_json),
            true,
            false,
            false,
        )
        .map_err(|e| BadSignature(e.to_string()))?;
        let comment = sig_box
            .trusted_comment()
            .map_err(|e| BadSignature(e.to_string()))?;
        if comment != trusted_comment(object_key) {
            return Err(BadSignature(format!(
                "the signature is for another backup (its trusted comment is {comment:?})"
            )));
        }
        Ok(())
    }
}

/// A signature that does not check out, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSignature(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (String, String) {
        let minisign::KeyPair { pk, sk } =
            minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        (
            sk.to_box(None).unwrap().to_string(),
            pk.to_box().unwrap().to_string(),
        )
    }

    #[test]
    fn a_signature_binds_the_manifest_and_its_key() {
        let (sk, pk) = keypair();
        let signer = Signer::parse(&sk, Path::new("k")).unwrap();
        let verifier = Verifier::parse(&pk).unwrap();
        assert_eq!(signer.verifier(), verifier);
        let sig = signer.sign("db/db-1.sql.gz", b"{\"a\":1}\n");
        assert_eq!(
            verifier.verify("db/db-1.sql.gz", b"{\"a\":1}\n", &sig),
            Ok(())
        );
        assert!(
            verifier
                .verify("db/db-1.sql.gz", b"{\"a\":2}\n", &sig)
                .is_err()
        );
        let moved = verifier.verify("db/db-2.sql.gz", b"{\"a\":1}\n", &sig);
        assert!(moved.unwrap_err().0.contains("another backup"));
        let (_, other_pk) = keypair();
        let stranger = Verifier::parse(&other_pk).unwrap();
        assert!(
            stranger
                .verify("db/db-1.sql.gz", b"{\"a\":1}\n", &sig)
                .is_err()
        );
        assert!(
            verifier
                .verify("db/db-1.sql.gz", b"{}", b"garbage")
                .is_err()
        );
    }

    #[test]
    fn a_password_protected_key_is_refused_without_prompting() {
        let minisign::KeyPair { sk, .. } =
            minisign::KeyPair::generate_encrypted_keypair(Some("pw".into())).unwrap();
        let text = sk.to_box(None).unwrap().to_string();
        let err = Signer::parse(&text, Path::new("k.key")).unwrap_err();
        assert!(matches!(err, SigningKeyError::Encrypted { .. }), "{err}");
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let (sk, _) = keypair();
        let signer = Signer::parse(&sk, Path::new("k")).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains("RW"), "{shown}");
        let secret_line = sk.lines().nth(1).unwrap();
        assert!(!shown.contains(secret_line), "{shown}");
    }
}
