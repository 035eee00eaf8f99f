//! Webhook endpoints (`notifiers.webhook.endpoints[]`), as the original backupman calls them:
//! one POST per backup with `{"Event":"backup_report","Payload":<BackupRecord>}` and the
//! token in `X-Webhook-Token` (and `Authorization: Bearer`), so receivers written for it keep
//! working. The whole run's summary is the opt-in `run_summary` event.

use backupman_config::{Secret, WebhookConfig, WebhookEvent};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Serialize;

use super::digest::Digest;
use super::retry::{self, Failure, chain};
use super::{Notifier, NotifyWarning};
use crate::backup::RunReport;

/// How long one attempt may take, connection included.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The body of every POST: the event's name and what it is about, with the original's
/// field names.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T> {
    /// `backup_report` or `run_summary`.
    #[serde(rename = "Event")]
    pub(crate) event: &'static str,
    /// A [`BackupRecord`](crate::record::BackupRecord) or a [`RunSummary`].
    #[serde(rename = "Payload")]
    pub(crate) payload: T,
}

/// The `run_summary` event's payload: `run --json`'s report plus where and when it ran.
#[derive(Debug, Serialize)]
pub(crate) struct RunSummary<'a> {
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
    pub(crate) fn new(run: &'a RunReport) -> Self {
        Self {
            run,
            hostname: super::digest::hostname(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            test_mode: run.test_mode,
            backupman_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The bodies `hook` receives for this run, in order: a `backup_report` per backup (none in
/// test mode, whose backups are deleted again), then the `run_summary` if asked for.
fn bodies(hook: &WebhookConfig, digest: &Digest, report: &RunReport) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if hook.wants(WebhookEvent::BackupReport) && !digest.test_mode {
        for record in &digest.backups {
            out.push(to_json(&Envelope {
                event: WebhookEvent::BackupReport.as_str(),
                payload: record,
            }));
        }
    }
    if hook.wants(WebhookEvent::RunSummary) {
        out.push(to_json(&Envelope {
            event: WebhookEvent::RunSummary.as_str(),
            payload: RunSummary::new(report),
        }));
    }
    out
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Plain structs of strings, numbers and timestamps: serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Sends `hook` its events one after another. After a message that cannot be delivered the
/// rest are not tried (the endpoint is down); the warning counts them.
pub(crate) async fn notify(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    digest: &Digest,
    report: &RunReport,
) -> Option<NotifyWarning> {
    let shown = shown(hook);
    let bodies = bodies(hook, digest, report);
    for (i, body) in bodies.iter().enumerate() {
        let what = format!("webhook {shown}");
        let sent = retry::deliver(&what, || {
            post(client, &hook.url, hook.token.as_ref(), body.clone())
        })
        .await;
        if let Err(failed) = sent {
            return Some(NotifyWarning {
                notifier: Notifier::Webhook,
                target: shown,
                attempts: failed.attempts,
                error: failed.message,
                undelivered: bodies.len() - i,
            });
        }
        tracing::info!("webhook {shown}: notified");
    }
    None
}

/// How messages name `hook`: its name, if any, and its URL without secrets.
pub(crate) fn shown(hook: &WebhookConfig) -> String {
    match &hook.name {
        Some(name) => format!("{name} ({})", redact(&hook.url)),
        None => redact(&hook.url),
    }
}

/// One POST of a JSON `body` to `url`, with `token` in both the original's header and
/// `Authorization`. Errors never show the URL, which may carry a secret.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    body: Vec<u8>,
) -> Result<(), Failure> {
    post_as(client, url, token, "application/json", body).await
}

/// [`post`] of a body of any `content_type`.
pub(crate) async fn post_as(
    client: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(token) = token {
        request = request
            .header("X-Webhook-Token", token.expose())
            .bearer_auth(token.expose());
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            Err(Failure {
                message: format!("HTTP {status}"),
                retry: retryable(status),
            })
        }
        Err(err) if err.is_timeout() => Err(Failure {
            message: format!("no answer within {} s", TIMEOUT.as_secs()),
            retry: true,
        }),
        Err(err) => Err(Failure {
            message: chain(&err.without_url()),
            retry: true,
        }),
    }
}

/// Server trouble is worth another try; any other refusal (401, 404, ...) will not change.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The URL as logs may show it: no user info, query or fragment, which may carry secrets.
pub(crate) fn redact(url: &str) -> String {
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
