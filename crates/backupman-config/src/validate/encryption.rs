//! The `encryption` section, at the top level and in a source: the age public keys backups
//! are encrypted to. Each key is parsed by core's rule ([`Recipients::parse`]), so what loads
//! is exactly what the engine encrypts to. And the `signing` section: the minisign keys of
//! the manifests, the public one parsed by core's rule ([`Verifier::parse`]).

use std::path::PathBuf;

use backupman_core::{Recipients, Verifier};
use serde_saphyr::Spanned;

use super::{Checker, text};
use crate::model::SigningConfig;
use crate::raw::{RawEncryption, RawSigning};

/// The `signing` section.
pub(super) fn signing(c: &mut Checker, raw: &Spanned<RawSigning>) -> Option<SigningConfig> {
    let secret_key_file = text(&raw.value.secret_key_file).map(PathBuf::from);
    let public_key = match &raw.value.public_key {
        None => None,
        Some(key) => match Verifier::parse(&key.value) {
            Ok(verifier) => Some(verifier),
            Err(err) => {
                c.problem(
                    key.referenced,
                    "signing.public_key".into(),
                    err.to_string(),
                    Some("`minisign -G -W -s backupman.key -p backupman.pub` makes a key pair"),
                );
                return None;
            }
        },
    };
    if secret_key_file.is_none() && public_key.is_none() {
        c.problem(
            raw.referenced,
            "signing".into(),
            "needs `secret_key_file` (to sign backups), `public_key` (to check them), or both",
            Some("`minisign -G -W -s backupman.key -p backupman.pub` makes a key pair"),
        );
        return None;
    }
    Some(SigningConfig {
        secret_key_file,
        public_key,
    })
}

/// The recipients of `raw`, found at `base` (`encryption` or `data_sources[i].encryption`).
pub(super) fn encryption(
    c: &mut Checker,
    base: &str,
    raw: &Spanned<RawEncryption>,
) -> Option<Recipients> {
    let path = format!("{base}.age_recipients");
    let hint =
        "age public keys, e.g. `age_recipients: [age1...]` (`age-keygen -y key.txt` prints one)";
    let Some(keys) = &raw.value.age_recipients else {
        c.problem(raw.referenced, path, "missing required option", Some(hint));
        return None;
    };
    if keys.value.is_empty() {
        c.problem(
            keys.referenced,
            path,
            "needs at least one recipient",
            Some(hint),
        );
        return None;
    }
    // Each key on its own first, so every bad one is reported, each at its line.
    let mut bad = false;
    for (i, key) in keys.value.iter().enumerate() {
        if let Err(err) = Recipients::parse(&[key.value.trim()]) {
            c.problem(
                key.referenced,
                format!("{path}[{i}]"),
                err.reason,
                Some(hint),
            );
            bad = true;
        }
    }
    if bad {
        return None;
    }
    let texts: Vec<&str> = keys.value.iter().map(|k| k.value.trim()).collect();
    match Recipients::parse(&texts) {
        Ok(recipients) => Some(recipients),
        Err(err) => {
            let at = keys
                .value
                .get(err.index)
                .map_or(keys.referenced, |k| k.referenced);
            c.problem(at, format!("{path}[{}]", err.index), err.reason, Some(hint));
            None
        }
    }
}
