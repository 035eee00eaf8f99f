//! Dead-man's-switch pings (`notifiers.ping`), in the healthchecks.io convention: `URL/start`
//! when a run begins, `URL` when every backup was stored, `URL/fail` when one was not, with
//! the run's one-line summary as the body. The service on the other end alerts when the
//! success ping does not arrive in time, so a backup that never ran alerts someone too.

use backupman_config::PingConfig;

use super::digest::Digest;
use super::retry;
use super::webhook::post_as;
use super::{Notifier, NotifyWarning};

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ping {
    /// A run begins: `URL/start`.
    Start,
    /// Every backup of the run was stored: `URL`.
    Success,
    /// At least one was not: `URL/fail`.
    Fail,
}

impl Ping {
    /// The URL this ping goes to on the endpoint `url` (which has no trailing `/`).
    fn url(self, url: &str) -> String {
        match self {
            Self::Start => format!("{url}/start"),
            Self::Success => url.to_owned(),
            Self::Fail => format!("{url}/fail"),
        }
    }
}

/// The endpoint as it may be shown: its name; the URL is a secret.
fn shown(endpoint: &PingConfig) -> String {
    endpoint.name.clone().unwrap_or_default()
}

/// Sends `ping` with `body` to one endpoint, retried briefly as every notification is.
pub(crate) async fn send(
    client: &reqwest::Client,
    endpoint: &PingConfig,
    ping: Ping,
    body: String,
) -> Option<NotifyWarning> {
    let url = ping.url(endpoint.url.expose());
    let body = body.into_bytes();
    let what = format!("ping {}", shown(endpoint));
    let sent = retry::deliver(&what, || {
        post_as(
            client,
            &url,
            None,
            "text/plain; charset=utf-8",
            body.clone(),
        )
    })
    .await;
    match sent {
        Ok(()) => {
            tracing::debug!("{what}: {ping:?} sent");
            None
        }
        Err(failed) => Some(NotifyWarning {
            notifier: Notifier::Ping,
            target: shown(endpoint),
            attempts: failed.attempts,
            error: failed.message,
            undelivered: 1,
        }),
    }
}

/// The body of the ping that ends a run: `backupman on HOST: all 3 backups stored`.
pub(crate) fn summary(digest: &Digest) -> String {
    format!("backupman on {}: {}", digest.hostname, digest.outcome())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_follow_the_healthchecks_convention() {
        let url = "https://hc-ping.com/5f0c";
        assert_eq!(Ping::Start.url(url), "https://hc-ping.com/5f0c/start");
        assert_eq!(Ping::Success.url(url), "https://hc-ping.com/5f0c");
        assert_eq!(Ping::Fail.url(url), "https://hc-ping.com/5f0c/fail");
    }
}
