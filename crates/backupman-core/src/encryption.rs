//! age encryption of stored objects: the public keys a backup is encrypted to
//! ([`Recipients`]), the private keys that read it back ([`Identities`]), the engine's
//! encrypting stage and the reader that decrypts.
//!
//! An encrypted object is a standard age file (`age-encryption.org/v1`) whose payload is the
//! compressed dump, so `age -d -i key.txt | gunzip` reads it without backupman. age
//! authenticates its payload in 64 KiB chunks: a decrypting reader hands out only bytes that
//! passed their check, and a wrong identity fails on the header, before any payload is read.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;

use age::x25519;

/// What an age file starts with; how a reader tells an encrypted object from a plain one.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// What an encrypted object's key ends with, after the codec's suffix (`.sql.gz.age`).
pub const AGE_KEY_SUFFIX: &str = ".age";

/// The manifest's `encryption` value for an age-encrypted object.
pub const AGE_ENCRYPTION: &str = "age";

/// True when `head`, an object's first bytes, starts an age file.
pub fn is_encrypted(head: &[u8]) -> bool {
    head.starts_with(AGE_MAGIC)
}

/// The age public keys (`age1...`) backups are encrypted to: any one of the matching
/// identities decrypts them. Public, so `Debug` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipients(Arc<[x25519::Recipient]>);

/// A recipient that is not an age public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RecipientError {
    /// Which one, counted from 0 in the order given.
    pub index: usize,
    /// Why it is refused.
    pub reason: String,
}

impl Recipients {
    /// Parses `keys`, each an age X25519 public key (`age1` and 58 more characters). At
    /// least one is needed. SSH keys are refused: backupman reads plain age identity files
    /// only.
    pub fn parse<S: AsRef<str>>(keys: &[S]) -> Result<Self, RecipientError> {
        if keys.is_empty() {
            return Err(RecipientError {
                index: 0,
                reason: "at least one recipient is needed".into(),
            });
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for (index, key) in keys.iter().enumerate() {
            let key = key.as_ref().trim();
            let reason = if key.starts_with("ssh-") {
                "SSH public keys are not supported: give an age public key (age1...), made with `age-keygen`"
            } else if key.starts_with("AGE-SECRET-KEY-") {
                "this is an age identity (a private key), not a recipient: give its public key (`age-keygen -y FILE`) and keep the identity off this host"
            } else {
                "not an age public key (age1 followed by 58 characters, as `age-keygen` prints)"
            };
            match x25519::Recipient::from_str(key) {
                Ok(recipient) => parsed.push(recipient),
                Err(_) => {
                    return Err(RecipientError {
                        index,
                        reason: reason.into(),
                    });
                }
            }
        }
        Ok(Self(parsed.into()))
    }

    /// The public keys, as `age1...` text.
    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// The age identities (private keys, `AGE-SECRET-KEY-1...`) of one identity file, for reading
/// encrypted backups. `Debug` names the file only.
#[derive(Clone)]
pub struct Identities {
    path: PathBuf,
    keys: Arc<[x25519::Identity]>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("path", &self.path)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// An identity file that cannot be used. Never quotes the file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The file cannot be read.
    #[error("cannot read the age identity file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// A line is neither a comment nor an age identity.
    #[error(
        "{path}: line {line} is not an age identity (AGE-SECRET-KEY-1..., as `age-keygen` writes); SSH keys and plugin identities are not supported"
    )]
    NotAnIdentity {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
    },
    /// The file holds no identity.
    #[error("{path} holds no age identity (AGE-SECRET-KEY-1...)")]
    Empty {
        /// The file.
        path: String,
    },
}

impl Identities {
    /// Reads an age identity file: one `AGE-SECRET-KEY-1...` per line, `#` comments and blank
    /// lines allowed, as `age-keygen -o` writes it.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key =
                x25519::Identity::from_str(line).map_err(|_| IdentityError::NotAnIdentity {
                    path: shown.clone(),
                    line: n + 1,
                })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(IdentityError::Empty { path: shown });
        }
        Ok(Self {
            path: path.to_owned(),
            keys: keys.into(),
        })
    }

    /// The file the identities were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's permission bits when its group or others may read it (a private key should
    /// be readable by its owner only), else `None`.
    pub fn readable_by_others(&self) -> Option<u32> {
        readable_by_others(&self.path)
    }
}

/// The permission bits of `path` when its group or others may read it, else `None` (also
/// when it cannot be examined).
pub fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

/// Why an object could not be opened for reading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// It is age-encrypted and no identity was given: only its stored bytes can be checked.
    #[error(
        "it is age-encrypted and no identity was given (--identity FILE or BACKUPMAN_AGE_IDENTITY)"
    )]
    NoIdentity,
    /// None of the identities given is one it was encrypted to.
    #[error("no identity matches: it is not encrypted to any identity in {file}")]
    NoIdentityMatches {
        /// The identity file.
        file: String,
    },
    /// Its age header is damaged (or it is not an age file after all).
    #[error("its age header cannot be read: {0}")]
    Header(String),
    /// Reading, decrypting or decompressing failed: truncated or corrupt.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<OpenError> for io::Error {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// The plaintext of the age file read from `reader`.
pub(crate) fn decrypt<'a, R: Read + 'a>(
    reader: R,
    identities: &Identities,
) -> Result<Box<dyn Read + 'a>, OpenError> {
    let decryptor = age::Decryptor::new(reader).map_err(|e| match e {
        age::DecryptError::Io(e) => OpenError::Io(e),
        other => OpenError::Header(other.to_string()),
    })?;
    let keys = identities.keys.iter().map(|k| k as &dyn age::Identity);
    match decryptor.decrypt(keys) {
        Ok(plain) => Ok(Box::new(plain)),
        Err(age::DecryptError::NoMatchingKeys) => Err(OpenError::NoIdentityMatches {
            file: identities.path.display().to_string(),
        }),
        Err(age::DecryptError::Io(e)) => Err(OpenError::Io(e)),
        Err(other) => Err(OpenError::Header(other.to_string())),
    }
}

/// Where the sealing stage writes: a buffer the engine drains after every write.
#[derive(Clone, Default)]
struct Drained(Rc<RefCell<Vec<u8>>>);

impl Write for Drained {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The engine's encrypting stage, with the encoder's face: compressed bytes in, ciphertext
/// out. It holds at most one 64 KiB age chunk besides what the caller has not taken yet.
pub(crate) struct Sealer {
    writer: age::stream::StreamWriter<Drained>,
    out: Drained,
}

impl Sealer {
    pub(crate) fn new(recipients: &Recipients) -> io::Result<Self> {
        let encryptor =
            age::Encryptor::with_recipients(recipients.0.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        let out = Drained::default();
        let writer = encryptor.wrap_output(out.clone())?;
        Ok(Self { writer, out })
    }

    /// Encrypts `data`; the ciphertext ready so far.
    pub(crate) fn seal(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        self.writer.write_all(data)?;
        Ok(std::mem::take(&mut *self.out.0.borrow_mut()))
    }

    /// Encrypts `last`, the end of the input; the rest of the ciphertext, its last chunk
    /// included.
    pub(crate) fn finish(mut self, last: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = self.seal(last)?;
        drop(self.writer.finish()?);
        out.append(&mut self.out.0.borrow_mut());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Recipients, Identities, tempfile::TempDir) {
        let identity = x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        use age::secrecy::ExposeSecret;
        std::fs::write(
            &path,
            format!("# created: now\n{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
        let recipients = Recipients::parse(&[identity.to_public().to_string()]).unwrap();
        (recipients, Identities::load(&path).unwrap(), dir)
    }

    fn seal(recipients: &Recipients, plain: &[u8], piece: usize) -> (Vec<u8>, usize) {
        let mut sealer = Sealer::new(recipients).unwrap();
        let mut out = Vec::new();
        let mut most_pending = 0;
        for part in plain.chunks(piece) {
            let ready = sealer.seal(part).unwrap();
            most_pending = most_pending.max(ready.len());
            out.extend(ready);
        }
        out.extend(sealer.finish(b"").unwrap());
        (out, most_pending)
    }

    #[test]
    fn sealing_round_trips_and_buffers_one_chunk_at_most() {
        let (recipients, identities, _dir) = pair();
        let plain: Vec<u8> = (0..(5u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
        let piece = 100_003;
        let (sealed, most_pending) = seal(&recipients, &plain, piece);
        assert!(is_encrypted(&sealed));
        // Whatever is written comes out by the next take, give or take one 64 KiB chunk (and
        // each chunk's 16-byte tag, and the header on the first take).
        assert!(
            most_pending <= piece + 64 * 1024 + 1024,
            "{most_pending} bytes pending"
        );
        // 16 bytes of tag per 64 KiB chunk, plus a header of about 200 bytes.
        assert!(sealed.len() - plain.len() < plain.len() / 4096 + 512);
        let mut back = Vec::new();
        decrypt(&sealed[..], &identities)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
    }

    #[test]
    fn a_wrong_identity_and_a_damaged_chunk_fail() {
        let (recipients, identities, _dir) = pair();
        let (_, other, _other_dir) = pair();
        let (sealed, _) = seal(&recipients, &[7u8; 300_000], 65_536);
        let err = decrypt(&sealed[..], &other).err().unwrap().to_string();
        assert!(err.contains("no identity matches"), "{err}");
        assert!(err.contains("key.txt"), "{err}");

        let mut damaged = sealed;
        let at = damaged.len() - 1000;
        damaged[at] ^= 1;
        let mut out = Vec::new();
        let read = decrypt(&damaged[..], &identities)
            .unwrap()
            .read_to_end(&mut out);
        assert!(read.is_err());
        // What came out before the damaged chunk had passed its check: it is all plaintext.
        assert!(out.len() < 300_000 && out.iter().all(|b| *b == 7));
    }

    #[test]
    fn recipients_and_identity_files_are_checked() {
        let (recipients, _, _dir) = pair();
        assert_eq!(recipients.keys().len(), 1);
        assert!(recipients.keys()[0].starts_with("age1"));
        let err = Recipients::parse(&["age1nope"]).unwrap_err();
        assert!(err.reason.contains("not an age public key"));
        let err =
            Recipients::parse(&[recipients.keys()[0].as_str(), "ssh-ed25519 AAAA"]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.reason.contains("SSH"));
        let secret = "AGE-SECRET-KEY-1QQQ";
        let err = Recipients::parse(&[secret]).unwrap_err();
        assert!(err.reason.contains("private key"));
        assert!(!err.to_string().contains(secret));
        assert!(Recipients::parse::<&str>(&[]).is_err());

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "# comment\nAGE-SECRET-KEY-1NOTAKEY-SECRETPART\n").unwrap();
        let err = Identities::load(&bad).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("SECRETPART"), "{err}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "# nothing\n").unwrap();
        assert!(matches!(
            Identities::load(&empty),
            Err(IdentityError::Empty { .. })
        ));
        assert!(matches!(
            Identities::load(&dir.path().join("missing")),
            Err(IdentityError::Read { .. })
        ));
    }
}
