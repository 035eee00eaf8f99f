//! Slack and Discord incoming webhooks (`notifiers.slack`, `notifiers.discord`): one short
//! message per run. Their URLs are secrets (whoever has one can post to the channel), so no
//! message or log line shows them.

use backupman_config::IncomingWebhookConfig;
use serde_json::json;

use super::digest::Digest;
use super::retry;
use super::webhook::post;
use super::{Notifier, NotifyWarning};

/// Discord refuses a message longer than 2000 characters.
const DISCORD_LIMIT: usize = 2000;

/// Posts the run's short text to Slack (`{"text": …}`) or Discord (`{"content": …}`).
pub(crate) async fn notify(
    client: &reqwest::Client,
    notifier: Notifier,
    config: &IncomingWebhookConfig,
    digest: &Digest,
) -> Option<NotifyWarning> {
    let text = digest.chat_text();
    let body = match notifier {
        Notifier::Discord => json!({ "content": truncate(&text, DISCORD_LIMIT) }),
        _ => json!({ "text": text }),
    };
    let body = body.to_string().into_bytes();
    let what = notifier.to_string();
    let sent = retry::deliver(&what, || {
        post(client, config.webhook_url.expose(), None, body.clone())
    })
    .await;
    match sent {
        Ok(()) => {
            tracing::info!("{what}: notified");
            None
        }
        Err(failed) => Some(NotifyWarning {
            notifier,
            target: String::new(),
            attempts: failed.attempts,
            error: failed.message,
            undelivered: 1,
        }),
    }
}

/// `text` cut to at most `limit` characters, ending in `…` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(limit - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_to_the_limit() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(30), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
