//! The classification of a failure's [`Facts`] into a [`DriveError`]: one line with the
//! cause in the words of the S3 drive documentation's troubleshooting section, and a hint
//! saying what to check.

use backupman_core::{DriveError, DriveErrorKind};

use super::{ErrorContext, Facts};

/// The error of a write refused because something already exists under the key: the message
/// every no-clobber refusal shares, whichever request noticed it.
pub(crate) fn already_exists(url: &str) -> DriveError {
    DriveError::new(
        DriveErrorKind::AlreadyExists,
        format!("{url} already exists and is never replaced"),
    )
}

impl ErrorContext {
    /// Turns the facts of a failure into the message and hint a person acts on.
    pub(crate) fn classify(&self, op: &str, target: &str, facts: &Facts) -> DriveError {
        use DriveErrorKind::{Auth, Busy, Certificate, Connection, NotFound, Other};
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
                let error = DriveError::new(
                    NotFound,
                    format!(
                        "NoSuchBucket: The specified bucket does not exist: `{}` ({at})",
                        self.bucket
                    ),
                );
                return error.with_hint(self.path_style_hint().unwrap_or_else(|| {
                    format!(
                        "verify the bucket name spelling and that it exists in region `{}`",
                        self.region
                    )
                }));
            }
            // A server that does not take bucket host names reads the request's first path
            // segment, or nothing, as the bucket.
            "InvalidBucketName" if let Some(hint) = self.path_style_hint() => {
                return DriveError::new(
                    NotFound,
                    format!(
                        "InvalidBucketName: the store did not find bucket `{}` in the request ({at})",
                        self.bucket
                    ),
                )
                .with_hint(hint);
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

        if facts.no_credentials {
            return DriveError::new(
                Auth,
                format!(
                    "no credentials: the drive has no `access_key`/`secret_key` and the AWS \
                     credential chain found none ({at})"
                ),
            )
            .with_hint(CREDENTIAL_CHAIN_HINT);
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
                    Certificate,
                    format!(
                        "certificate is not trusted: {} presented a TLS certificate this machine \
                         does not accept ({at})",
                        self.endpoint
                    ),
                )
                .with_hint(
                    "check the endpoint URL matches the certificate's domain; trust its CA in \
                     one of three ways: the system trust store (or `SSL_CERT_FILE`), the \
                     `AWS_CA_BUNDLE` environment variable, or the drive's `ca_file` option \
                     (a PEM file; it wins over `AWS_CA_BUNDLE`); verification is never \
                     switched off",
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
                // Busy or failing on the store's side: worth another attempt a little later.
                let busy = matches!(facts.status, Some(500 | 502 | 503 | 504))
                    || matches!(
                        facts.code.as_deref(),
                        Some(
                            "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout"
                        )
                    );
                if busy {
                    return DriveError::new(Busy, format!("{at} failed: {what} ({status})"))
                        .with_hint(format!(
                            "the store is overloaded or failing on its side; backupman retried \
                             with growing pauses before giving up; raise `max_attempts` (now {}) \
                             if it is often this busy",
                            self.max_attempts
                        ));
                }
                DriveError::new(Other, format!("{at} failed: {what} ({status})"))
            }
        }
    }
}

/// Where the AWS credential chain looks, in its order, for a drive without `access_key` and
/// `secret_key`.
const CREDENTIAL_CHAIN_HINT: &str = "set `access_key` and `secret_key` on the drive, or give \
     credentials in one of the places the AWS credential chain looks: the environment \
     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), a profile (AWS_PROFILE, else `default`, in \
     ~/.aws/credentials or ~/.aws/config), web identity (AWS_WEB_IDENTITY_TOKEN_FILE and \
     AWS_ROLE_ARN), the container's credentials endpoint (ECS) or the instance metadata \
     service (an EC2 instance role)";

impl ErrorContext {
    /// Why a bucket that exists is not found, when the drive addresses it virtual-hosted on a
    /// host that cannot have a name per bucket.
    fn path_style_hint(&self) -> Option<String> {
        self.virtual_host_without_dns().map(|host| {
            format!(
                "with `force_path_style: false` (virtual-hosted) the bucket is part of the host \
                 name, `{}.{host}`, and needs DNS for it, which `{host}` cannot have: set \
                 `force_path_style: true`",
                self.bucket
            )
        })
    }

    /// The endpoint's host, when the drive addresses buckets virtual-hosted on a custom
    /// endpoint whose host cannot have a DNS name per bucket (`localhost`, `minio`).
    fn virtual_host_without_dns(&self) -> Option<&str> {
        if self.force_path_style || !self.custom_endpoint {
            return None;
        }
        let host_port = host_of(&self.endpoint);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
        };
        // An IP address is left out: the SDK addresses buckets path-style there by itself.
        let no_dns = host.parse::<std::net::IpAddr>().is_err()
            && (host.eq_ignore_ascii_case("localhost") || !host.contains('.'));
        no_dns.then_some(host)
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
    use crate::errors::testing::{code, ctx, map};

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
    fn no_such_bucket_on_localhost_virtual_hosted_names_path_style() {
        let e = map(code("NoSuchBucket", 404));
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("`backups.localhost`") && hint.contains("`force_path_style: true`"),
            "{hint}"
        );
        let e = ctx(true).classify("PutObject", "s3://backups/k", &code("NoSuchBucket", 404));
        assert!(e.hint.unwrap().contains("spelling"));
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
        let e = map(tls);
        assert!(e.message.starts_with("certificate is not trusted"));
        let hint = e.hint.unwrap();
        for way in ["SSL_CERT_FILE", "AWS_CA_BUNDLE", "`ca_file`"] {
            assert!(hint.contains(way), "{hint}");
        }

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
    fn busy_errors_stay_on_one_line_and_are_worth_another_attempt() {
        let e = map(code("SlowDown", 503));
        assert_eq!(
            e.message,
            "PutObject s3://backups/k failed: SlowDown: server says something (HTTP 503)"
        );
        assert!(!e.to_string().contains('\n'));
        assert_eq!(e.kind, DriveErrorKind::Busy);
        assert!(e.is_transient());
        let other = map(code("InvalidArgument", 400));
        assert_eq!(other.kind, DriveErrorKind::Other);
        assert!(!other.is_transient());
    }
}
