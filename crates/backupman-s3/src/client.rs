//! The one place an S3 client is built from a drive's settings.

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
use aws_smithy_http_client::tls;
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
/// `http_client` replaces the default HTTPS client (tests use it for a loopback DNS resolver).
pub(crate) fn build_client(
    cfg: &S3Settings,
    http_client: Option<SharedHttpClient>,
) -> Result<Client, DriveError> {
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
        Some(keys) => SharedCredentialsProvider::new(Credentials::new(
            keys.access_key.trim(),
            keys.secret_key.expose().trim(),
            None,
            None,
            "backupman-settings",
        )),
        None => SharedCredentialsProvider::new(DefaultChain {
            region: region.clone(),
            chain: OnceCell::new(),
        }),
    };

    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
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
    builder = builder.http_client(http_client.unwrap_or_else(default_http_client));
    Ok(Client::from_conf(builder.build()))
}

/// The SDK's default HTTPS client (rustls on aws-lc), except that `*.localhost` names resolve
/// like `localhost` (RFC 6761, as curl and browsers do): a virtual-hosted bucket host such as
/// `backups.localhost:9000` then reaches a store on this machine.
fn default_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(LocalhostAware)
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
            chain.provide_credentials().await
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
