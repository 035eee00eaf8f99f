//! Webhook notifications (`notifiers.webhook.endpoints[]`): after each run, its
//! [`RunReport`] with where and when it ran is POSTed to every endpoint, whichever front end
//! started the run. Delivery is best effort: a failing endpoint is a
//! warning, never a failed backup.

use std::time::Duration;

use backupman_config::{Config, WebhookConfig};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde::Serialize;

use crate::backup::RunReport;

/// How long one attempt may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per endpoint before giving up.
pub const ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled before each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What an endpoint receives: `run --json`'s report plus where and when it ran.
#[derive(Debug, Serialize)]
pub struct RunSummary<'a> {
    /// The run's report, its fields at the top level.
    #[serde(flatten)]
    pub run: &'a RunReport,
    /// The machine that ran it.
    pub hostname: String,
    /// When the run began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Whether it was a test-mode run (nothing kept).
    pub test_mode: bool,
    /// The version of backupman that ran it.
    pub backupman_version: &'static str,
}

impl<'a> RunSummary<'a> {
    /// The summary of `run`, from this machine.
    pub fn new(run: &'a RunReport) -> Self {
        Self {
            run,
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            test_mode: run.test_mode,
            backupman_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Tells every configured notifier about a finished run. Both front ends (the CLI's `run`,
/// the service's scheduled and API-started runs) call this one function, so a run notifies
/// the same way however it was started.
pub async fn after_run(config: &Config, report: &RunReport) {
    send_all(&config.webhooks, &RunSummary::new(report)).await;
}

/// POSTs `summary` to every endpoint at once. Failures are logged as warnings and otherwise
/// ignored: the caller's outcome never depends on a webhook.
pub async fn send_all(webhooks: &[WebhookConfig], summary: &RunSummary<'_>) {
    if webhooks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("backupman/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(
                "webhooks not sent: cannot set up the HTTP client: {}",
                chain(&err)
            );
            return;
        }
    };
    join_all(webhooks.iter().map(|hook| send(&client, hook, summary))).await;
}

async fn send(client: &reqwest::Client, hook: &WebhookConfig, summary: &RunSummary<'_>) {
    let shown = redact(&hook.url);
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut request = client.post(&hook.url).json(summary);
        if let Some(token) = &hook.token {
            request = request.bearer_auth(token.expose());
        }
        let (message, retry) = match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!("webhook {shown}: notified (HTTP {})", response.status());
                return;
            }
            Ok(response) => {
                let status = response.status();
                (format!("HTTP {status}"), retryable(status))
            }
            Err(err) if err.is_timeout() => {
                (format!("no answer within {} s", TIMEOUT.as_secs()), true)
            }
            Err(err) => (chain(&err.without_url()), true),
        };
        if !retry || attempt == ATTEMPTS {
            tracing::warn!(
                "webhook {shown}: not notified after {attempt} attempt(s): {message}; the backup itself is unaffected"
            );
            return;
        }
        tracing::debug!("webhook {shown}: attempt {attempt} failed ({message}), retrying");
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

/// Server trouble is worth another try; any other refusal (401, 404, ...) will not change.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The URL as logs may show it: no user info, query or fragment, which may carry secrets.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let hidden = url.query().is_some();
            url.set_query(None);
            url.set_fragment(None);
            if hidden {
                format!("{url}?…")
            } else {
                url.to_string()
            }
        }
        Err(_) => "(invalid URL)".to_owned(),
    }
}

/// An error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_carry_no_credentials() {
        assert_eq!(
            redact("https://user:pw@hooks.example.com/x?token=abc#f"),
            "https://hooks.example.com/x?…"
        );
        assert_eq!(
            redact("http://127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/hook"
        );
    }

    #[test]
    fn only_server_trouble_is_retried() {
        assert!(retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
        assert!(!retryable(StatusCode::NOT_FOUND));
    }
}
