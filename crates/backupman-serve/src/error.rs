//! Why the service could not start.

use std::net::SocketAddr;

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// `/api` would be open to anyone: the configuration has no `http.api_keys`.
    #[error(
        "http.api_keys is empty: the API needs at least one key (add `http: {{api_keys: [...]}}` to the configuration)"
    )]
    NoApiKeys,
    /// The address could not be listened on (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `signing` is configured and its key cannot be used.
    #[error(transparent)]
    Signing(#[from] backupman_core::SigningKeyError),
}
