//! `Content-Disposition: attachment` for a download, whatever the object's name holds: an
//! RFC 6266 `filename="..."` for old clients, with every character that could end the quoted
//! string, escape it or leave ASCII replaced by `_`, and the exact name in RFC 8187's
//! `filename*=UTF-8''<percent-encoded>`, which clients that know it prefer.

use axum::http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 8187's `attr-char` is percent-encoded.
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The header value offering `name` as the file name to save a download under.
pub(crate) fn attachment(name: &str) -> HeaderValue {
    // `%` too: some clients percent-decode the plain parameter.
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NOT_ATTR_CHAR);
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    // Visible ASCII and spaces only, by construction: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's parameters, as a client splits them (`;` outside quotes).
    fn parameters(value: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = value.strip_prefix("attachment").unwrap();
        while let Some(after) = rest.strip_prefix("; ") {
            let (name, after) = after.split_once('=').unwrap();
            let (param, tail) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"').expect("a closing quote");
                (quoted[..end].to_owned(), &quoted[end + 1..])
            } else {
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].to_owned(), &after[end..])
            };
            out.push((name.to_owned(), param));
            rest = tail;
        }
        assert_eq!(rest, "", "nothing after the parameters in {value:?}");
        out
    }

    #[test]
    fn a_hostile_name_gets_exactly_two_safe_parameters() {
        for name in [
            "app-20261127T031322.123Z-7f3a9c.sql.gz",
            "x\"; filename=\"evil.exe",
            "bäckup-日本-\"q\".sql.gz",
            "back\\slash%41;semi\r\nInjected: 1",
        ] {
            let value = attachment(name);
            let text = value.to_str().expect("visible ASCII");
            let params = parameters(text);
            assert_eq!(params.len(), 2, "{text}");
            let (fallback_name, fallback) = &params[0];
            assert_eq!(fallback_name, "filename");
            assert!(
                fallback.chars().all(|c| c == ' ' || c.is_ascii_graphic())
                    && !fallback.contains(['"', '\\', '%']),
                "{text}"
            );
            assert_eq!(fallback.chars().count(), name.chars().count(), "{text}");
            let (star_name, star) = &params[1];
            assert_eq!(star_name, "filename*");
            let encoded = star.strip_prefix("UTF-8''").expect("RFC 8187 charset");
            let decoded = percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, name, "{text}");
        }
        // An ordinary key is unchanged in both.
        assert_eq!(
            attachment("db/app-1.sql.gz".rsplit('/').next().unwrap()),
            "attachment; filename=\"app-1.sql.gz\"; filename*=UTF-8''app-1.sql.gz"
        );
    }
}
