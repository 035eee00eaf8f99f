//! Notifications after a run, whichever front end started it: webhooks in the original
//! backupman's shape ([`webhook`]), one mail per run ([`mail`]), Slack and Discord
//! incoming webhooks, and dead-man's-switch pings (`notifiers.ping`: [`before_run`] and
//! [`after_run`]). Delivery is best effort: each message is retried briefly, and what
//! still fails comes back as a [`NotifyWarning`] for the front end to show, never as a
//! failed backup. No warning or log line carries a password, token or secret URL.

mod chat;
mod digest;
pub mod mail;
mod mail_body;
mod ping;
mod retry;
pub mod webhook;

use std::fmt;

use backupman_config::PingConfig;
use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::backup::RunReport;
use crate::wiring::{Notifiers, Plan};
pub use retry::ATTEMPTS;

/// Which notifier a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Notifier {
    /// A `notifiers.webhook` endpoint.
    Webhook,
    /// `notifiers.mail`.
    Mail,
    /// `notifiers.slack`.
    Slack,
    /// `notifiers.discord`.
    Discord,
    /// A `notifiers.ping` endpoint.
    Ping,
}

impl fmt::Display for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Notifier::Webhook => "webhook",
            Notifier::Mail => "mail via",
            Notifier::Slack => "Slack",
            Notifier::Discord => "Discord",
            Notifier::Ping => "ping",
        })
    }
}

/// A notification that was not delivered. The backups themselves are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyWarning {
    /// Which notifier.
    pub notifier: Notifier,
    /// Which endpoint or server, as it may be shown: a webhook's name and URL without
    /// credentials or query, the SMTP server's `host:port`; empty for Slack and Discord,
    /// whose URL is a secret.
    pub target: String,
    /// Attempts made (0: the message could not even be prepared, e.g. a bad address).
    pub attempts: u32,
    /// Why the last attempt failed.
    pub error: String,
    /// Messages not delivered: after one fails for good, an endpoint's later ones are not
    /// tried.
    pub undelivered: usize,
}

impl fmt::Display for NotifyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.notifier)?;
        if !self.target.is_empty() {
            write!(f, " {}", self.target)?;
        }
        write!(
            f,
            ": not notified after {} attempt(s): {}",
            self.attempts, self.error
        )?;
        if self.undelivered > 1 {
            write!(f, " ({} messages not delivered)", self.undelivered)?;
        }
        f.write_str("; the backup itself is unaffected")
    }
}

/// The HTTP client every notifier posts with.
fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(webhook::TIMEOUT)
        .user_agent(concat!("backupman/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Tells the `notifiers.ping` endpoints that a run begins (`URL/start`), all at once, and
/// returns what could not be delivered. Front ends call it before a run that is not in test
/// mode, and [`after_run`] after it.
pub async fn before_run(plan: &Plan) -> Vec<NotifyWarning> {
    let pings = &plan.notifiers.pings;
    if pings.is_empty() {
        return Vec::new();
    }
    let client = match http_client() {
        Ok(client) => client,
        Err(err) => return client_failed(pings, &err),
    };
    let pings = pings
        .iter()
        .map(|p| ping::send(&client, p, ping::Ping::Start, String::new()));
    join_all(pings).await.into_iter().flatten().collect()
}

/// A warning per ping endpoint when no HTTP client can be made.
fn client_failed(pings: &[PingConfig], err: &reqwest::Error) -> Vec<NotifyWarning> {
    let error = format!("cannot set up the HTTP client: {}", retry::chain(err));
    pings
        .iter()
        .map(|p| NotifyWarning {
            notifier: Notifier::Ping,
            target: p.name.clone().unwrap_or_default(),
            attempts: 0,
            error: error.clone(),
            undelivered: 1,
        })
        .collect()
}

/// Tells every configured notifier about a finished run, all at once, and returns what could
/// not be delivered. Both front ends (the CLI's `run`, the service's scheduled and
/// API-started runs) call this one function, so a run notifies the same way however it was
/// started.
pub async fn after_run(plan: &Plan, report: &RunReport) -> Vec<NotifyWarning> {
    let digest = digest::Digest::new(plan, report);
    let config = &plan.notifiers;
    let client = http_client();
    let mut pending: Vec<BoxFuture<'_, Option<NotifyWarning>>> = Vec::new();
    // A test-mode run keeps nothing: it must not tell a dead man's switch a backup was made.
    let pings = if report.test_mode {
        &[][..]
    } else {
        &config.pings[..]
    };
    let end = if report.ok {
        ping::Ping::Success
    } else {
        ping::Ping::Fail
    };
    match &client {
        Ok(client) => {
            for endpoint in pings {
                pending.push(ping::send(client, endpoint, end, ping::summary(&digest)).boxed());
            }
            for hook in &config.webhooks {
                pending.push(webhook::notify(client, hook, &digest, report).boxed());
            }
            if let Some(slack) = &config.slack {
                pending.push(chat::notify(client, Notifier::Slack, slack, &digest).boxed());
            }
            if let Some(discord) = &config.discord {
                pending.push(chat::notify(client, Notifier::Discord, discord, &digest).boxed());
            }
        }
        Err(err) => {
            // Practically never (no TLS roots at all); each HTTP notifier still gets its line.
            let error = format!("cannot set up the HTTP client: {}", retry::chain(err));
            let hooks = config
                .webhooks
                .iter()
                .map(|h| (Notifier::Webhook, webhook::shown(h)));
            let chats = [
                (Notifier::Slack, config.slack.is_some()),
                (Notifier::Discord, config.discord.is_some()),
            ]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| (n, String::new()));
            let pings = pings
                .iter()
                .map(|p| (Notifier::Ping, p.name.clone().unwrap_or_default()));
            for (notifier, target) in hooks.chain(chats).chain(pings) {
                let error = error.clone();
                pending.push(
                    async move {
                        Some(NotifyWarning {
                            notifier,
                            target,
                            attempts: 0,
                            error,
                            undelivered: 1,
                        })
                    }
                    .boxed(),
                );
            }
        }
    }
    if let Some(mail) = &config.mail {
        pending.push(mail::notify(mail, &digest).boxed());
    }
    join_all(pending).await.into_iter().flatten().collect()
}

/// One notifier's `health` verdict.
#[derive(Debug, Clone, Serialize)]
pub struct NotifierHealth {
    /// Which notifier (only mail is checked: a check of the others would post a message).
    pub notifier: Notifier,
    /// The server checked: `host:port (STARTTLS)`.
    pub target: String,
    /// What was checked: `connected, certificate verified, logged in as USER`.
    pub checked: String,
    /// Every step passed.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// The notifiers' part of `health`: the SMTP server is reached, its certificate verified
/// and the login accepted, and no mail is sent.
pub async fn health(config: &Notifiers) -> Vec<NotifierHealth> {
    let Some(cfg) = &config.mail else {
        return Vec::new();
    };
    let mut checked = vec!["connected".to_owned()];
    if cfg.smtp_crypto != backupman_config::SmtpCrypto::Plain {
        checked.push("certificate verified".into());
        if let Some(user) = &cfg.smtp_user {
            checked.push(format!("logged in as {user}"));
        }
    } else if cfg.smtp_user.is_some() {
        checked.push("not logged in (smtp_user is only used over TLS)".into());
    }
    let result = match tokio::time::timeout(crate::health::CHECK_DEADLINE, mail::check(cfg)).await {
        Ok(checked) => checked.map_err(|e| e.to_string()),
        Err(_) => Err(crate::health::no_answer(&format!(
            "{}:{}",
            cfg.smtp_host, cfg.smtp_port
        ))),
    };
    vec![NotifierHealth {
        notifier: Notifier::Mail,
        target: format!("{}:{} ({})", cfg.smtp_host, cfg.smtp_port, cfg.smtp_crypto),
        checked: checked.join(", "),
        ok: result.is_ok(),
        error: result.err(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_names_the_notifier_and_what_was_lost() {
        let mut w = NotifyWarning {
            notifier: Notifier::Webhook,
            target: "Receiver (https://hooks.example.com/b)".into(),
            attempts: 3,
            error: "HTTP 503 Service Unavailable".into(),
            undelivered: 2,
        };
        assert_eq!(
            w.to_string(),
            "webhook Receiver (https://hooks.example.com/b): not notified after 3 attempt(s): \
             HTTP 503 Service Unavailable (2 messages not delivered); the backup itself is unaffected"
        );
        w.notifier = Notifier::Slack;
        w.target.clear();
        w.undelivered = 1;
        assert_eq!(
            w.to_string(),
            "Slack: not notified after 3 attempt(s): HTTP 503 Service Unavailable; \
             the backup itself is unaffected"
        );
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["notifier"], "slack");
        assert_eq!(json["attempts"], 3);
    }
}
