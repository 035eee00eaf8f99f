//! The one place S3 failures become [`DriveError`]s: one line with the cause in the words of
//! the S3 drive documentation's troubleshooting section, and what to check.
//!
//! Nothing here prints an SDK `Debug` dump or a secret: messages are built from the error
//! code, the HTTP status, the operation, the bucket and key, and the endpoint.
//!
//! This module holds what an error is about ([`ErrorContext`]) and [`ErrorContext::map`],
//! the one entry point; `facts` reads an SDK error into the facts classification looks at,
//! and `hints` turns those facts into a one-line message with a hint.

mod facts;
mod hints;

use std::error::Error as StdError;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use backupman_core::DriveError;

use facts::Facts;
pub(crate) use facts::{is_no_such_key, is_no_such_upload, is_not_implemented};
pub(crate) use hints::already_exists;

/// What an error is about, for the message and the hint.
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    pub bucket: String,
    pub region: String,
    /// The endpoint as configured, or the Amazon S3 one for the region.
    pub endpoint: String,
    pub custom_endpoint: bool,
    pub force_path_style: bool,
    pub timeout_seconds: u64,
    pub max_attempts: u32,
}

impl ErrorContext {
    /// Maps a failed SDK call of operation `op` on `target` (an `s3://` URL) to a drive error.
    pub(crate) fn map<E>(
        &self,
        op: &str,
        target: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> DriveError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let facts = Facts::from_sdk(err);
        // The SDK's error metadata displays as a struct dump (`Error { code: .. }`); the code
        // and status are logged as fields instead, so debug output stays one readable line.
        let readable = facts
            .chain
            .split(" | ")
            .filter(|part| !part.is_empty() && !part.contains(" { "))
            .collect::<Vec<_>>()
            .join(" | ");
        tracing::debug!(op, target, code = ?facts.code, status = ?facts.status, chain = %readable, "S3 request failed");
        let cause = S3Failure {
            request: format!("{op} {target}"),
            code: facts.code.clone(),
            status: facts.status,
            chain: readable,
        };
        self.classify(op, target, &facts).with_cause(cause)
    }
}

/// What an S3 request's failure was, kept as its [`DriveError`]'s cause (`source()`): the
/// error code, the HTTP status and the client's chain of causes (their texts, without the
/// SDK's struct dumps), for whoever wants more than the line with its hint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{request} failed: code {}, HTTP status {}: {chain}", .code.as_deref().unwrap_or("none"), .status.map_or_else(|| "none".to_owned(), |s| s.to_string()))]
pub struct S3Failure {
    /// The operation and its `s3://` URL.
    pub request: String,
    /// The S3 error code (`AccessDenied`), when the server answered with one.
    pub code: Option<String>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The texts of the client's error chain, joined by ` | `.
    pub chain: String,
}

/// The context and facts the unit tests of `facts` and `hints` classify.
#[cfg(test)]
mod testing {
    use super::*;

    pub(super) fn ctx(force_path_style: bool) -> ErrorContext {
        ErrorContext {
            bucket: "backups".into(),
            region: "us-east-1".into(),
            endpoint: "http://localhost:9000".into(),
            custom_endpoint: true,
            force_path_style,
            timeout_seconds: 7,
            max_attempts: 2,
        }
    }

    pub(super) fn code(code: &str, status: u16) -> Facts {
        Facts {
            code: Some(code.into()),
            server_message: Some("server says\nsomething".into()),
            status: Some(status),
            ..Facts::default()
        }
    }

    pub(super) fn map(facts: Facts) -> DriveError {
        ctx(false).classify("PutObject", "s3://backups/k", &facts)
    }
}
