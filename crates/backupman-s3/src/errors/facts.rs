//! How an SDK error is read into [`Facts`]: the error code, HTTP status, bucket region and
//! the causes recognised by their type (connection refused, DNS, untrusted certificate,
//! timeout, no credentials anywhere in the chain), plus the yes/no questions callers ask of an error (no such key, no such
//! upload, not implemented).

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::dns::ResolveDnsError;

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
    /// No place of the AWS credential chain held credentials: the request was never signed.
    pub no_credentials: bool,
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
        if let Some(CredentialsError::CredentialsNotLoaded(_)) =
            e.downcast_ref::<CredentialsError>()
        {
            self.no_credentials = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::testing::map;

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
}
