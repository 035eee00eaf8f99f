//! The `encryption` section, at the top level and in a source: the age public keys backups
//! are encrypted to. Each key is parsed by core's rule ([`Recipients::parse`]), so what loads
//! is exactly what the engine encrypts to.

use backupman_core::Recipients;
use serde_saphyr::Spanned;

use super::Checker;
use crate::raw::RawEncryption;

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
