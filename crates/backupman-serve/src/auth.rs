//! API keys (`X-Api-Key`), compared in constant time: hashes of equal length are compared,
//! every key is tried whatever the outcome, so the time taken tells nothing about a key.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use backupman_config::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::unauthorized;
use crate::service::Service;

/// The header the original backupman reads the key from.
pub(crate) const HEADER: &str = "X-Api-Key";

/// The configured keys, kept only as SHA-256 digests.
#[derive(Debug)]
pub(crate) struct ApiKeys(Vec<[u8; 32]>);

impl ApiKeys {
    pub(crate) fn new(keys: &[Secret]) -> Self {
        Self(keys.iter().map(|k| digest(k.expose())).collect())
    }

    /// The request carries one of the keys.
    pub(crate) fn accepts(&self, headers: &HeaderMap) -> bool {
        headers
            .get(HEADER)
            .is_some_and(|given| self.accepts_key(given.as_bytes()))
    }

    /// `given` is one of the keys (the status page's sign-in form sends it).
    pub(crate) fn accepts_key(&self, given: &[u8]) -> bool {
        let given = digest_bytes(given);
        let mut ok = subtle::Choice::from(0);
        for key in &self.0 {
            ok |= key.ct_eq(&given);
        }
        ok.into()
    }
}

fn digest(text: &str) -> [u8; 32] {
    digest_bytes(text.as_bytes())
}

fn digest_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Middleware for `/api`: 401 without a valid key, as the original answers.
pub(crate) async fn require_key(
    State(service): State<std::sync::Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    if service.keys.accepts(request.headers()) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_key_is_accepted() {
        let keys = ApiKeys::new(&[Secret::new("one"), Secret::new("two")]);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(HEADER, v.parse().unwrap());
            h
        };
        assert!(keys.accepts(&with("one")));
        assert!(keys.accepts(&with("two")));
        assert!(!keys.accepts(&with("on")));
        assert!(!keys.accepts(&with("")));
        assert!(!keys.accepts(&HeaderMap::new()));
    }
}
