//! The one place an S3 client is built from a drive's settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider, SharedHttpClient,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use backupman_core::{DriveError, DriveErrorKind};
use tokio::sync::OnceCell;

use crate::S3Settings;

/// Seconds to connect, and to wait for a response, when `timeout_seconds` is not set.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Attempts per request (the first try plus retries) when `max_attempts` is not set.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Builds the S3 client for `cfg`: region, endpoint (absent = Amazon S3), URL style,
/// credentials (static keys, or the default AWS chain when there are none), timeouts, retries,
/// and checksums only where the API requires them (so third-party stores accept our requests).
///
/// `http_client` replaces the default HTTPS client (tests use it for a loopback DNS resolver);
/// the default one trusts the system's CAs plus those of `ca_file` (or `AWS_CA_BUNDLE`).
/// The credentials provider comes back beside the client because the SDK no longer lets a
/// built client hand it out, and `health` asks it where the credentials came from.
pub(crate) fn build_client(
    cfg: &S3Settings,
    http_client: Option<SharedHttpClient>,
) -> Result<(Client, SharedCredentialsProvider), DriveError> {
    let invalid = |message: String, hint: &str| {
        DriveError::new(DriveErrorKind::Other, message).with_hint(hint.to_owned())
    };
    let region = cfg.region.trim();
    if region.is_empty() {
        return Err(invalid(
            format!("drive `{}`: Missing region", cfg.label),
            "set `region` to the bucket's region, e.g. `region: us-east-1`",
        ));
    }
    let region = Region::new(region.to_owned());
    let timeout = Duration::from_secs(
        cfg.timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .max(1),
    );
    let attempts = cfg.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);

    let credentials = match &cfg.credentials {
        Some(keys) => {
            let mut keys = Credentials::new(
                keys.access_key.trim(),
                keys.secret_key.expose().trim(),
                None,
                None,
                "backupman-settings",
            );
            keys.set_property(CredentialSource::ConfigFile);
            SharedCredentialsProvider::new(keys)
        }
        None => SharedCredentialsProvider::new(DefaultChain {
            region: region.clone(),
            chain: OnceCell::new(),
        }),
    };

    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials.clone())
        .force_path_style(cfg.force_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .interceptor(crate::compat::InitiateMultipartUploadRoot)
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .read_timeout(timeout)
                .build(),
        );
    if let Some(endpoint) = cfg.endpoint.as_deref().map(str::trim)
        && !endpoint.is_empty()
    {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(invalid(
                format!(
                    "drive `{}`: endpoint `{endpoint}` is not an http(s) URL",
                    cfg.label
                ),
                "write the endpoint as a URL, e.g. `endpoint: http://localhost:9000`",
            ));
        }
        builder = builder.endpoint_url(endpoint.trim_end_matches('/'));
    }
    let http_client = match http_client {
        Some(client) => client,
        None => default_http_client(extra_ca(cfg)?)?,
    };
    builder = builder.http_client(http_client);
    Ok((Client::from_conf(builder.build()), credentials))
}

/// The SDK's default HTTPS client (rustls on aws-lc), except that `*.localhost` names resolve
/// like `localhost` (RFC 6761, as curl and browsers do): a virtual-hosted bucket host such as
/// `backups.localhost:9000` then reaches a store on this machine. It trusts the system's CAs
/// (which `SSL_CERT_FILE` replaces) plus the certificates of `extra_ca`; certificates are
/// always verified.
fn default_http_client(extra_ca: Option<Vec<u8>>) -> Result<SharedHttpClient, DriveError> {
    let mut trust = TrustStore::default();
    if let Some(pem) = extra_ca {
        trust = trust.with_pem_certificate(pem);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| DriveError::new(DriveErrorKind::Other, format!("cannot set up TLS: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_with_resolver(LocalhostAware))
}

/// The environment variable the AWS CLI and SDKs read a CA bundle from.
pub(crate) const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// The PEM of the CA certificates to trust besides the system's: the drive's `ca_file`, else
/// the file `AWS_CA_BUNDLE` names, else none. Checked here, when the drive is built, because
/// the HTTP client would panic on a certificate it cannot parse.
fn extra_ca(cfg: &S3Settings) -> Result<Option<Vec<u8>>, DriveError> {
    let (path, origin) = match &cfg.ca_file {
        Some(path) if !path.as_os_str().is_empty() => (path.clone(), "ca_file"),
        _ => match std::env::var_os(AWS_CA_BUNDLE).filter(|v| !v.is_empty()) {
            Some(path) => (PathBuf::from(path), AWS_CA_BUNDLE),
            None => return Ok(None),
        },
    };
    read_ca(&path).map(Some).map_err(|why| {
        DriveError::new(
            DriveErrorKind::Other,
            format!("drive `{}`: {origin} {}: {why}", cfg.label, path.display()),
        )
        .with_hint(
            "name a readable PEM file of CA certificates (-----BEGIN CERTIFICATE-----), \
                 e.g. the private CA that signed the store's certificate",
        )
        .with_cause(why)
    })
}

/// Why a CA file cannot be trusted.
#[derive(Debug, thiserror::Error)]
enum CaError {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("not a valid PEM file: {0}")]
    NotPem(#[source] rustls::pki_types::pem::Error),
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty,
    #[error("certificate {number} cannot be trusted as a CA: {error}")]
    NotCa {
        number: usize,
        #[source]
        error: rustls::Error,
    },
}

/// The file's bytes when it holds PEM certificates only a trust store accepts; else why not.
fn read_ca(path: &Path) -> Result<Vec<u8>, CaError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(CaError::Read)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(CaError::NotPem)?;
    if certs.is_empty() {
        return Err(CaError::Empty);
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|error| CaError::NotCa {
            number: i + 1,
            error,
        })?;
    }
    Ok(pem)
}

/// The system resolver, with `<anything>.localhost` answered as `localhost`.
#[derive(Debug, Clone, Copy)]
struct LocalhostAware;

impl ResolveDns for LocalhostAware {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let name = if name.to_ascii_lowercase().ends_with(".localhost") {
            "localhost".to_owned()
        } else {
            name.to_owned()
        };
        DnsFuture::new(async move {
            tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

/// Where a drive's credentials came from, as `health` names it: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// `access_key`/`secret_key` in the configuration file.
    ConfigFile,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A profile of the shared config and credentials files, by name.
    Profile(String),
    /// STS `AssumeRoleWithWebIdentity` with a token file (Kubernetes service accounts).
    WebIdentity,
    /// The ECS or EKS container credentials endpoint.
    Container,
    /// The EC2 instance metadata service.
    Instance,
    /// A source of the default chain not named above.
    DefaultChain,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConfigFile => f.write_str("config file"),
            Self::Environment => f.write_str("environment"),
            Self::Profile(name) => write!(f, "profile {name}"),
            Self::WebIdentity => f.write_str("web identity"),
            Self::Container => f.write_str("container role"),
            Self::Instance => f.write_str("instance role"),
            Self::DefaultChain => f.write_str("default AWS credential chain"),
        }
    }
}

impl CredentialSource {
    /// Reads the source off credentials of the default chain, from the features its providers
    /// record (the SDK keeps no other trace of which provider answered).
    fn of_chain(credentials: &Credentials) -> Self {
        use aws_credential_types::credential_feature::AwsCredentialFeature as F;
        let features = credentials
            .get_property::<Vec<F>>()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let has = |f: F| features.contains(&f);
        // A profile may itself name a token file or a role: the most specific source wins.
        if has(F::CredentialsProfileStsWebIdToken)
            || has(F::CredentialsEnvVarsStsWebIdToken)
            || has(F::CredentialsStsAssumeRoleWebId)
        {
            Self::WebIdentity
        } else if has(F::CredentialsProfile) {
            let name = std::env::var("AWS_PROFILE")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_owned());
            Self::Profile(name)
        } else if has(F::CredentialsEnvVars) {
            Self::Environment
        } else if has(F::CredentialsHttp) {
            Self::Container
        } else if has(F::CredentialsImds) {
            Self::Instance
        } else {
            Self::DefaultChain
        }
    }
}

/// Which source `provider`'s credentials come from, asking for them as a request would; the
/// chain's own error when none of its sources has any.
pub(crate) async fn credential_source(
    provider: &SharedCredentialsProvider,
) -> Result<CredentialSource, provider::error::CredentialsError> {
    let credentials = provider.provide_credentials().await?;
    Ok(credentials
        .get_property::<CredentialSource>()
        .cloned()
        .unwrap_or(CredentialSource::DefaultChain))
}

/// The default AWS credential chain (environment, profile, web identity, container and
/// instance roles), set up on first use so that building a drive stays synchronous.
#[derive(Debug)]
struct DefaultChain {
    region: Region,
    chain: OnceCell<DefaultCredentialsChain>,
}

impl ProvideCredentials for DefaultChain {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| {
                    DefaultCredentialsChain::builder()
                        .region(self.region.clone())
                        .build()
                })
                .await;
            let mut credentials = chain.provide_credentials().await?;
            let source = CredentialSource::of_chain(&credentials);
            credentials.set_property(source);
            Ok(credentials)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_hosts_under_localhost_resolve_to_loopback() {
        for name in ["backups.localhost", "Dev-Backups.LOCALHOST"] {
            let ips = LocalhostAware.resolve_dns(name).await.unwrap();
            assert!(!ips.is_empty(), "{name}");
            assert!(ips.iter().all(|ip| ip.is_loopback()), "{name}: {ips:?}");
        }
        assert!(
            LocalhostAware
                .resolve_dns("backupman-test.invalid")
                .await
                .is_err()
        );
    }
}
