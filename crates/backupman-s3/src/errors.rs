//! The one place S3 failures become [`DriveError`]s: one line with the cause in the words of
//! the S3 drive documentation's troubleshooting section, and what to check.
//!
//! Nothing here prints an SDK `Debug` dump or a secret: messages are built from the error
//! code, the HTTP status, the operation, the bucket and key, and the endpoint.

use std::error::Error as StdError;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::dns::ResolveDnsError;
use backupman_core::{DriveError, DriveErrorKind};

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

/// The facts of one failure that classification looks at.
#[derive(Debug, Default, Clone)]
pub(crate) struct Facts {
    /// The S3 error code (`AccessDenied`), when the server answered with one.
    pub code: Option<String>,
    /// The server's own message for that code.
    pub server_message: Option<String>,
    pub status: Option<u16>,
    /// The region the server says the bucket is in (`x-amz-bucket-region`).
    pub bucket_region: Option<String>,
    /// The request timed out (connect or response).
    pub timeout: bool,
    /// The request never got an HTTP answer (connect, DNS, TLS, I/O).
    pub dispatch: bool,
    /// The `Display` texts of the error's source chain, joined by ` | `: for logs and for the
    /// cause shown in a message, never for telling one failure from another.
    pub chain: String,
    /// Nothing listened at the endpoint's port.
    pub connection_refused: bool,
    /// The host name did not resolve.
    pub dns_failure: bool,
    /// The TLS handshake failed on the server's certificate.
    pub untrusted_certificate: bool,
}

impl Facts {
    /// The store says the key does not exist. `NotFound` is how the SDK codes a 404 without a
    /// body (HEAD); with a 301 either code comes from the wrong region's redirect instead.
    pub(crate) fn is_missing_key(&self) -> bool {
        matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound")) && self.status != Some(301)
    }

    pub(crate) fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let mut facts = Facts {
            code: err.code().map(str::to_owned),
            server_message: err.message().map(str::to_owned),
            ..Facts::default()
        };
        if let Some(raw) = err.raw_response() {
            facts.status = Some(raw.status().as_u16());
            facts.bucket_region = raw.headers().get("x-amz-bucket-region").map(str::to_owned);
        }
        match err {
            SdkError::TimeoutError(_) => facts.timeout = true,
            SdkError::DispatchFailure(failure) => {
                facts.dispatch = true;
                facts.timeout = failure.is_timeout();
            }
            _ => {}
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = source {
            facts.chain.push_str(&e.to_string());
            facts.chain.push_str(" | ");
            facts.note_typed_cause(e);
            source = e.source();
        }
        facts
    }

    /// Recognises the causes that get their own message by their type: an I/O error's kind,
    /// the SDK resolver's error (the default client and any client built with a
    /// `ResolveDns`) and rustls's.
    fn note_typed_cause(&mut self, e: &(dyn StdError + 'static)) {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => self.connection_refused = true,
                std::io::ErrorKind::TimedOut => self.timeout = true,
                _ => {}
            }
            // An `io::Error`'s `source()` skips the error it wraps (it shows that one's text as
            // its own), and the HTTP client wraps the TLS library's `io::Error` in another.
            if let Some(inner) = io.get_ref() {
                self.note_typed_cause(inner);
            }
        }
        if e.is::<ResolveDnsError>() {
            self.dns_failure = true;
        }
        if let Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) =
            e.downcast_ref::<rustls::Error>()
        {
            self.untrusted_certificate = true;
        }
    }
}

/// The error of a write refused because something already exists under the key: the message
/// every no-clobber refusal shares, whichever request noticed it.
pub(crate) fn already_exists(url: &str) -> DriveError {
    DriveError::new(
        DriveErrorKind::AlreadyExists,
        format!("{url} already exists and is never replaced"),
    )
}

/// Whether the store answered that it does not implement what was asked (HTTP 501
/// `NotImplemented`), as stores without conditional writes answer `If-None-Match`.
pub(crate) fn is_not_implemented<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.code() == Some("NotImplemented")
        || err
            .raw_response()
            .is_some_and(|raw| raw.status().as_u16() == 501)
}

/// Whether the store says there is no object under the key.
pub(crate) fn is_no_such_key<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    Facts::from_sdk(err).is_missing_key()
}

/// Whether the store says there is no such multipart upload (already completed or aborted).
pub(crate) fn is_no_such_upload<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.code() == Some("NoSuchUpload")
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
        self.classify(op, target, &facts)
    }

    /// Turns the facts of a failure into the message and hint a person acts on.
    pub(crate) fn classify(&self, op: &str, target: &str, facts: &Facts) -> DriveError {
        use DriveErrorKind::{Auth, Connection, NotFound, Other};
        let at = format!("{op} {target}");
        let code = facts.code.as_deref().unwrap_or("");
        let region_hint = match &facts.bucket_region {
            Some(actual) if actual != &self.region => {
                format!(
                    "set `region: {actual}` (the bucket's region; now `{}`)",
                    self.region
                )
            }
            _ => format!(
                "set `region` to the region the bucket was created in (now `{}`)",
                self.region
            ),
        };
        // Named by its error code, or only by a redirect status when the body is empty (HEAD).
        let wrong_region = || {
            DriveError::new(
                Auth,
                format!(
                    "wrong region: bucket `{}` is not in `{}` ({at})",
                    self.bucket, self.region
                ),
            )
            .with_hint(region_hint.clone())
        };

        // Only writes carry `If-None-Match: *`, so a failed precondition there means the key
        // was taken (412), or taken by a write that finished while this one did (409).
        let conditional_write = matches!(op, "PutObject" | "CompleteMultipartUpload");
        if code == "ConditionalRequestConflict"
            || (conditional_write && (code == "PreconditionFailed" || facts.status == Some(412)))
        {
            return already_exists(target);
        }

        match code {
            "AccessDenied" | "AllAccessDisabled" | "Forbidden" if op == "ListMultipartUploads" => {
                return DriveError::new(Auth, format!("Access Denied: {at} was refused"))
                    .with_hint(
                        "optional: allow s3:ListBucketMultipartUploads on the bucket so uploads \
                         left by a killed backup can be found and aborted (or add a lifecycle \
                         rule that aborts incomplete multipart uploads)",
                    );
            }
            "AccessDenied" | "AllAccessDisabled" | "Forbidden" if op == "AbortMultipartUpload" => {
                return DriveError::new(Auth, format!("Access Denied: {at} was refused"))
                    .with_hint(
                        "allow s3:AbortMultipartUpload on bucket/* so a failed backup leaves no \
                         orphaned parts behind (or add a lifecycle rule that aborts incomplete \
                         multipart uploads)",
                    );
            }
            "AccessDenied" | "AllAccessDisabled" | "Forbidden" => {
                return DriveError::new(Auth, format!("Access Denied: {at} was refused"))
                    .with_hint(
                        "verify the access key and secret key are correct; check the IAM policy \
                         allows s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on \
                         the bucket and bucket/*; verify `region` matches the bucket's location",
                    );
            }
            "InvalidAccessKeyId"
            | "InvalidAccessKey"
            | "InvalidClientTokenId"
            | "AccessKeyNotFound"
            | "NotAuthorized"
            | "UnrecognizedClientException"
            | "NotSignedUp" => {
                return DriveError::new(
                    Auth,
                    format!("InvalidAccessKeyId: the access key is not known to the store ({at})"),
                )
                .with_hint(if self.custom_endpoint {
                    "check `access_key`; use this provider's own keys (e.g. Spaces keys, not AWS \
                     keys) and its region-specific `endpoint`"
                } else {
                    "check `access_key`: it must be an active key of this AWS account"
                });
            }
            "SignatureDoesNotMatch" => {
                return DriveError::new(
                    Auth,
                    format!(
                        "SignatureDoesNotMatch: the secret key does not match the access key ({at})"
                    ),
                )
                .with_hint(
                    "check `secret_key` for typos, extra spaces or quotes; put it in an \
                     environment variable (`secret_key: ${AWS_SECRET_ACCESS_KEY}`)",
                );
            }
            "InvalidToken" | "ExpiredToken" | "TokenRefreshRequired" | "InvalidSecurity" => {
                return DriveError::new(
                    Auth,
                    format!("InvalidToken: The provided token is malformed or expired ({at})"),
                )
                .with_hint(
                    "regenerate the access keys (or refresh the session token); check for extra \
                     spaces or special characters in the credentials; use environment variables \
                     instead of hardcoded values",
                );
            }
            "NoSuchBucket" => {
                return DriveError::new(
                    NotFound,
                    format!(
                        "NoSuchBucket: The specified bucket does not exist: `{}` ({at})",
                        self.bucket
                    ),
                )
                .with_hint(format!(
                    "verify the bucket name spelling and that it exists in region `{}`",
                    self.region
                ));
            }
            _ if facts.is_missing_key() => {
                return DriveError::new(NotFound, format!("NoSuchKey: {target} does not exist"));
            }
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException"
            | "Redirect"
            | "TemporaryRedirect" => return wrong_region(),
            _ => {}
        }
        if matches!(facts.status, Some(301 | 307)) {
            return wrong_region();
        }

        if facts.dispatch || facts.timeout {
            if facts.connection_refused {
                return DriveError::new(
                    Connection,
                    format!(
                        "connection refused: nothing is listening at {} ({at})",
                        self.endpoint
                    ),
                )
                .with_hint(
                    "check the endpoint URL includes the right port (MinIO: 9000) and that the \
                     server is running and reachable",
                );
            }
            if facts.dns_failure {
                let host = if self.force_path_style {
                    host_of(&self.endpoint).to_owned()
                } else {
                    format!("{}.{}", self.bucket, host_of(&self.endpoint))
                };
                let hint = if self.force_path_style {
                    "check the endpoint URL's host name and your DNS".to_owned()
                } else {
                    format!(
                        "check `force_path_style`: with `force_path_style: false` (virtual-hosted) \
                         the bucket is part of the host name ({host}); MinIO and most self-hosted \
                         stores need `force_path_style: true`; otherwise check the endpoint URL"
                    )
                };
                return DriveError::new(Connection, format!("cannot resolve host `{host}` ({at})"))
                    .with_hint(hint);
            }
            if facts.untrusted_certificate {
                return DriveError::new(
                    Connection,
                    format!(
                        "certificate is not trusted: {} presented a TLS certificate this machine \
                         does not accept ({at})",
                        self.endpoint
                    ),
                )
                .with_hint(
                    "check the endpoint URL matches the certificate's domain and that its CA is \
                     in the system trust store; use http:// only for local testing",
                );
            }
            if facts.timeout {
                return DriveError::new(
                    Connection,
                    format!(
                        "operation error S3: {op}, exceeded maximum number of attempts ({}), each \
                         timed out after {}s waiting for {} ({target})",
                        self.max_attempts, self.timeout_seconds, self.endpoint
                    ),
                )
                .with_hint(format!(
                    "check network connectivity and that a firewall allows HTTPS to the endpoint; \
                     for custom endpoints check the endpoint URL; raise `timeout_seconds` (now {}) \
                     or `max_attempts` (now {})",
                    self.timeout_seconds, self.max_attempts
                ));
            }
            let cause = last_cause(&facts.chain);
            return DriveError::new(
                Connection,
                format!(
                    "operation error S3: {op}, exceeded maximum number of attempts ({}): cannot \
                     reach {}: {cause} ({target})",
                    self.max_attempts, self.endpoint
                ),
            )
            .with_hint(format!(
                "check the endpoint URL and network connectivity; raise `max_attempts` (now {}) \
                 for flaky networks",
                self.max_attempts
            ));
        }

        let status = facts
            .status
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_else(|| "no HTTP status".to_owned());
        match facts.status {
            Some(403) => {
                DriveError::new(Auth, format!("Access Denied: {at} was refused ({status})"))
                    .with_hint("verify the access key, secret key, IAM permissions and `region`")
            }
            Some(404) => DriveError::new(NotFound, format!("{at}: not found ({status})"))
                .with_hint(format!(
                    "verify the bucket name `{}` and the endpoint URL",
                    self.bucket
                )),
            _ => {
                let what = match (&facts.code, &facts.server_message) {
                    (Some(c), Some(m)) => format!("{c}: {}", one_line(m)),
                    (Some(c), None) => c.clone(),
                    (None, Some(m)) => one_line(m),
                    (None, None) => last_cause(&facts.chain),
                };
                DriveError::new(Other, format!("{at} failed: {what} ({status})"))
            }
        }
    }
}

/// The host (and port) of an endpoint URL.
fn host_of(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The innermost cause of a source chain, on one line.
fn last_cause(chain: &str) -> String {
    let cause = chain
        .rsplit(" | ")
        .find(|s| !s.trim().is_empty())
        .unwrap_or("unknown error");
    one_line(cause)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(force_path_style: bool) -> ErrorContext {
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

    fn code(code: &str, status: u16) -> Facts {
        Facts {
            code: Some(code.into()),
            server_message: Some("server says\nsomething".into()),
            status: Some(status),
            ..Facts::default()
        }
    }

    fn map(facts: Facts) -> DriveError {
        ctx(false).classify("PutObject", "s3://backups/k", &facts)
    }

    #[test]
    fn service_codes_use_the_documented_wording() {
        let e = map(code("AccessDenied", 403));
        assert_eq!(e.kind, DriveErrorKind::Auth);
        assert!(
            e.message
                .starts_with("Access Denied: PutObject s3://backups/k"),
            "{e}"
        );
        assert!(e.hint.as_deref().unwrap().contains("s3:ListBucket"));

        for c in ["InvalidAccessKeyId", "NotSignedUp", "InvalidClientTokenId"] {
            let e = map(code(c, 403));
            assert!(e.message.starts_with("InvalidAccessKeyId"), "{e}");
        }
        let e = map(code("SignatureDoesNotMatch", 403));
        assert!(e.message.starts_with("SignatureDoesNotMatch"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("`secret_key`"));
        let e = map(code("InvalidToken", 400));
        assert!(
            e.message
                .starts_with("InvalidToken: The provided token is malformed"),
            "{e}"
        );
        let e = map(code("NoSuchBucket", 404));
        assert_eq!(e.kind, DriveErrorKind::NotFound);
        assert!(
            e.message
                .starts_with("NoSuchBucket: The specified bucket does not exist: `backups`"),
            "{e}"
        );
        let e = map(code("NoSuchKey", 404));
        assert_eq!(e.kind, DriveErrorKind::NotFound);
    }

    #[test]
    fn wrong_region_names_the_right_one() {
        let mut facts = code("PermanentRedirect", 301);
        facts.bucket_region = Some("eu-west-1".into());
        let e = map(facts);
        assert!(e.message.starts_with("wrong region"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("`region: eu-west-1`"));
        let mut facts = Facts {
            status: Some(301),
            ..Facts::default()
        };
        facts.bucket_region = Some("ap-south-1".into());
        assert!(map(facts).hint.unwrap().contains("ap-south-1"));
        let e = map(code("AuthorizationHeaderMalformed", 400));
        assert!(e.message.starts_with("wrong region"), "{e}");
    }

    #[test]
    fn connection_failures() {
        let refused = Facts {
            dispatch: true,
            connection_refused: true,
            chain: "dispatch failure | io error | tcp connect error | connection refused (os error 111) | ".into(),
            ..Facts::default()
        };
        let e = map(refused);
        assert_eq!(e.kind, DriveErrorKind::Connection);
        assert!(e.message.starts_with("connection refused"), "{e}");
        assert!(e.hint.unwrap().contains("port"));

        let dns = Facts {
            dispatch: true,
            dns_failure: true,
            chain: "dispatch failure | dns error | failed to lookup address information: name or service not known | ".into(),
            ..Facts::default()
        };
        let e = map(dns.clone());
        assert!(e.message.contains("`backups.localhost:9000`"), "{e}");
        assert!(e.hint.unwrap().contains("`force_path_style: true`"));
        let e = ctx(true).classify("PutObject", "s3://backups/k", &dns);
        assert!(e.message.contains("`localhost:9000`"), "{e}");

        let tls = Facts {
            dispatch: true,
            untrusted_certificate: true,
            chain: "dispatch failure | invalid peer certificate: unknownissuer | ".into(),
            ..Facts::default()
        };
        assert!(map(tls).message.starts_with("certificate is not trusted"));

        let timeout = Facts {
            dispatch: true,
            timeout: true,
            chain: "timeout | http read timeout occurred after 7s | ".into(),
            ..Facts::default()
        };
        let e = map(timeout);
        assert!(
            e.message.starts_with(
                "operation error S3: PutObject, exceeded maximum number of attempts (2)"
            ),
            "{e}"
        );
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("`timeout_seconds` (now 7)") && hint.contains("`max_attempts` (now 2)")
        );
    }

    /// A request that got no answer, failing with `cause`, as the HTTP client hands it over.
    fn dispatch_error(
        cause: std::io::Error,
    ) -> SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse> {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        SdkError::dispatch_failure(ConnectorError::io(Box::new(cause)))
    }

    #[test]
    fn causes_are_recognised_by_type_not_by_text() {
        use std::io::{Error, ErrorKind};
        let dns = Facts::from_sdk(&dispatch_error(Error::other(ResolveDnsError::new(
            Error::other("no such host"),
        ))));
        assert!(dns.dispatch && dns.dns_failure && !dns.untrusted_certificate);

        // Wrapped twice, as the HTTP client hands it over.
        let tls = Facts::from_sdk(&dispatch_error(Error::other(Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ))));
        assert!(tls.untrusted_certificate && !tls.dns_failure);

        let refused = Facts::from_sdk(&dispatch_error(Error::from(ErrorKind::ConnectionRefused)));
        assert!(refused.connection_refused);

        // Words in a message decide nothing.
        let words = Facts::from_sdk(&dispatch_error(Error::other(
            "dns error: connection refused: invalid peer certificate",
        )));
        assert!(!words.dns_failure && !words.untrusted_certificate && !words.connection_refused);
        assert!(map(words).message.contains("cannot reach"));
    }

    #[test]
    fn a_refused_conditional_write_is_already_exists() {
        for (op, code_, status) in [
            ("PutObject", "PreconditionFailed", 412),
            ("CompleteMultipartUpload", "PreconditionFailed", 412),
            ("CompleteMultipartUpload", "ConditionalRequestConflict", 409),
        ] {
            let e = ctx(false).classify(op, "s3://backups/k", &code(code_, status));
            assert_eq!(e.kind, DriveErrorKind::AlreadyExists, "{op}: {e}");
            assert_eq!(
                e.to_string(),
                "s3://backups/k already exists and is never replaced"
            );
        }
        // A 412 with no code (a HEAD-like empty body) is the precondition too.
        let bare = Facts {
            status: Some(412),
            ..Facts::default()
        };
        assert_eq!(map(bare).kind, DriveErrorKind::AlreadyExists);
        // Reads send no precondition: a 412 there is not about the key being taken.
        let e = ctx(false).classify(
            "GetObject",
            "s3://backups/k",
            &code("PreconditionFailed", 412),
        );
        assert_eq!(e.kind, DriveErrorKind::Other, "{e}");
    }

    /// A service error as the SDK hands it over: `code` in the body, `status` on the response.
    fn sdk_error(
        code: Option<&str>,
        status: u16,
    ) -> SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse> {
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(
            aws_sdk_s3::operation::put_object::PutObjectError::generic(meta.build()),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn not_implemented_is_told_by_code_or_status() {
        assert!(is_not_implemented(&sdk_error(Some("NotImplemented"), 501)));
        assert!(is_not_implemented(&sdk_error(None, 501)), "no body");
        assert!(!is_not_implemented(&sdk_error(
            Some("PreconditionFailed"),
            412
        )));
        assert!(!is_not_implemented(&sdk_error(Some("InternalError"), 500)));
        assert!(is_no_such_upload(&sdk_error(Some("NoSuchUpload"), 404)));
        assert!(!is_no_such_upload(&sdk_error(Some("NoSuchBucket"), 404)));
    }

    #[test]
    fn a_missing_key_is_told_by_code_never_by_message() {
        assert!(is_no_such_key(&sdk_error(Some("NoSuchKey"), 404)));
        assert!(is_no_such_key(&sdk_error(Some("NotFound"), 404)), "HEAD");
        assert!(
            !is_no_such_key(&sdk_error(Some("NoSuchKey"), 301)),
            "redirect"
        );
        assert!(!is_no_such_key(&sdk_error(Some("NoSuchBucket"), 404)));
        assert!(
            !is_no_such_key(&sdk_error(None, 404)),
            "a bare 404 says nothing of the key"
        );
    }

    #[test]
    fn optional_permissions_say_they_are_optional() {
        let e = ctx(false).classify(
            "ListMultipartUploads",
            "s3://backups/p/",
            &code("AccessDenied", 403),
        );
        assert_eq!(e.kind, DriveErrorKind::Auth);
        let hint = e.hint.unwrap();
        assert!(
            hint.starts_with("optional") && hint.contains("s3:ListBucketMultipartUploads"),
            "{hint}"
        );
    }

    #[test]
    fn unknown_errors_stay_on_one_line() {
        let e = map(code("SlowDown", 503));
        assert_eq!(
            e.message,
            "PutObject s3://backups/k failed: SlowDown: server says something (HTTP 503)"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
