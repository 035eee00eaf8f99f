//! The notifiers' settings as the senders use them (`notifiers` in `config.yml`): mail,
//! webhook endpoints, and Slack and Discord incoming webhooks. Validated; secrets are
//! [`Secret`]s.

use std::fmt;
use std::path::PathBuf;

use crate::model::Secret;

/// `notifiers.mail`: one mail per run to every destination. Present only when the section
/// is there and not `enabled: false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// `smtp_host`: the SMTP server's host name (also the name its certificate is checked for).
    pub smtp_host: String,
    /// `smtp_port`; when left out, the standard port of `smtp_crypto` ([`SmtpCrypto::default_port`]).
    pub smtp_port: u16,
    /// `smtp_user`: log in as this user; `None` sends without logging in.
    pub smtp_user: Option<String>,
    /// `smtp_password`, for `smtp_user`.
    pub smtp_password: Option<Secret>,
    /// `smtp_crypto`: how the connection is protected.
    pub smtp_crypto: SmtpCrypto,
    /// `smtp_ca_file`: a PEM file of CA certificates to trust besides the system's (a
    /// self-signed or private CA). A relative path is taken from the configuration file's folder.
    pub smtp_ca_file: Option<PathBuf>,
    /// `from`: the sender address; by default `smtp_user` when it is an address, else
    /// `no-reply@<smtp_host>`.
    pub from: String,
    /// `destinations`: who receives the mail; at least one.
    pub destinations: Vec<MailDestination>,
}

/// How the SMTP connection is protected (`smtp_crypto`). Certificates are always verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpCrypto {
    /// `smtp_crypto: ""` (or left out): no encryption.
    Plain,
    /// `smtp_crypto: tls`: a plain connection upgraded with STARTTLS, which must succeed.
    StartTls,
    /// `smtp_crypto: ssl`: TLS from the first byte (SMTPS).
    ImplicitTls,
}

impl SmtpCrypto {
    /// The port used when `smtp_port` is left out: 25 (plain), 587 (STARTTLS), 465 (implicit TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Plain => 25,
            Self::StartTls => 587,
            Self::ImplicitTls => 465,
        }
    }

    /// The value as written in `config.yml`: `""`, `tls` or `ssl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "",
            Self::StartTls => "tls",
            Self::ImplicitTls => "ssl",
        }
    }
}

impl fmt::Display for SmtpCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::StartTls => "STARTTLS",
            Self::ImplicitTls => "implicit TLS",
        })
    }
}

/// One receiver of the run's mail (`notifiers.mail.destinations[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDestination {
    /// `name`: shown beside the address (`Admin <admin@example.com>`); `None` when left out
    /// or empty.
    pub name: Option<String>,
    /// `email`: the address, checked to have the form `local@domain`.
    pub email: String,
}

/// One webhook endpoint (`notifiers.webhook.endpoints[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `name`: a name for the endpoint in messages; `None` when left out.
    pub name: Option<String>,
    /// `url`: where the events are POSTed (`http://` or `https://`).
    pub url: String,
    /// `token`: sent as `X-Webhook-Token: <token>` and `Authorization: Bearer <token>`;
    /// `None` sends neither header.
    pub token: Option<Secret>,
    /// `events`: what the endpoint receives; `[backup_report]` when left out. Never empty.
    pub events: Vec<WebhookEvent>,
}

impl WebhookConfig {
    /// Whether this endpoint asked for `event`.
    pub fn wants(&self, event: WebhookEvent) -> bool {
        self.events.contains(&event)
    }
}

/// What a webhook endpoint receives (`notifiers.webhook.endpoints[].events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// `backup_report`: one POST per backup, in the original backupman's shape
    /// (`{"Event":"backup_report","Payload":{…}}`). The default.
    BackupReport,
    /// `run_summary`: one POST per run with the whole run's report (opt-in).
    RunSummary,
}

impl WebhookEvent {
    /// Every event, in the order the documentation lists them.
    pub const ALL: [WebhookEvent; 2] = [Self::BackupReport, Self::RunSummary];

    /// The event's name as written in `config.yml` and sent in the body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackupReport => "backup_report",
            Self::RunSummary => "run_summary",
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `notifiers.slack` or `notifiers.discord`: an incoming webhook that gets one message per run.
/// Present only when the section is there and not `enabled: false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingWebhookConfig {
    /// `webhook_url`: the incoming webhook's URL. A secret: whoever has it can post to the
    /// channel, so it is never shown.
    pub webhook_url: Secret,
}

/// One dead-man's-switch endpoint (`notifiers.ping.endpoints[]`), in the healthchecks.io
/// convention: `URL/start` when a run begins, `URL` when it succeeded, `URL/fail` when it did
/// not, so the service alerts when none arrives in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// `name`: a name for the endpoint in messages; `None` when left out.
    pub name: Option<String>,
    /// `url`: the check's ping URL (`http://` or `https://`), without a trailing `/`. A
    /// secret: whoever has it can report the check as up.
    pub url: Secret,
}
