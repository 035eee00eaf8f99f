//! Checks `notifiers`: the mail settings (host, crypto, port, addresses), the webhook
//! endpoints (URL, events) and the Slack and Discord incoming webhooks.

use std::path::PathBuf;

use serde_saphyr::Spanned;

use super::drives::check_endpoint;
use super::{Checker, loc, text};
use crate::model::Secret;
use crate::notifiers::*;
use crate::raw::*;

/// What `notifiers` configures, each part already validated.
#[derive(Default)]
pub(super) struct Notifiers {
    pub webhooks: Vec<WebhookConfig>,
    pub mail: Option<MailConfig>,
    pub slack: Option<IncomingWebhookConfig>,
    pub discord: Option<IncomingWebhookConfig>,
    pub pings: Vec<PingConfig>,
}

pub(super) fn notifiers(c: &mut Checker, n: &Spanned<RawNotifiers>) -> Notifiers {
    let n = &n.value;
    Notifiers {
        webhooks: n
            .webhook
            .as_ref()
            .map(|w| webhooks(c, w))
            .unwrap_or_default(),
        mail: n.mail.as_ref().and_then(|m| mail(c, m)),
        slack: n
            .slack
            .as_ref()
            .and_then(|s| incoming(c, "notifiers.slack", s)),
        discord: n
            .discord
            .as_ref()
            .and_then(|d| incoming(c, "notifiers.discord", d)),
        pings: n.ping.as_ref().map(|p| pings(c, p)).unwrap_or_default(),
    }
}

fn pings(c: &mut Checker, ping: &Spanned<RawPing>) -> Vec<PingConfig> {
    if disabled(&ping.value.enabled) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, e) in ping.value.endpoints.iter().flatten().enumerate() {
        let base = format!("notifiers.ping.endpoints[{i}]");
        c.secret_at(e.value.url.as_ref(), format!("{base}.url"));
        let hint = "the check's ping URL, e.g. `url: https://hc-ping.com/<uuid>`";
        // The URL is a secret: a message names the option, not its value.
        let Some(url) = endpoint_url(c, &base, &e.value.url, e.referenced, hint, false) else {
            continue;
        };
        out.push(PingConfig {
            name: text(&e.value.name),
            url: Secret::new(url.trim_end_matches('/')),
        });
    }
    out
}

/// An endpoint's `url`: required, `http://` or `https://`; `shown` when it may appear in the
/// message (not when it is a secret).
fn endpoint_url(
    c: &mut Checker,
    base: &str,
    url: &Option<Spanned<String>>,
    at: serde_saphyr::Location,
    hint: &str,
    shown: bool,
) -> Option<String> {
    let value = c.required(url, at, format!("{base}.url"), hint)?;
    match check_endpoint(&value) {
        Ok(()) => Some(value),
        Err(why) => {
            let message = if shown {
                format!("invalid URL {value:?}: {why}")
            } else {
                format!("invalid URL: {why}")
            };
            c.problem(loc(url).unwrap_or(at), format!("{base}.url"), message, None);
            None
        }
    }
}

fn disabled(enabled: &Option<Spanned<bool>>) -> bool {
    enabled.as_ref().is_some_and(|e| !e.value)
}

fn webhooks(c: &mut Checker, webhook: &Spanned<RawWebhook>) -> Vec<WebhookConfig> {
    if disabled(&webhook.value.enabled) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, e) in webhook.value.endpoints.iter().flatten().enumerate() {
        let base = format!("notifiers.webhook.endpoints[{i}]");
        c.secret_at(e.value.token.as_ref(), format!("{base}.token"));
        let events = events(c, &base, &e.value.events);
        let hint = "the URL to POST to, e.g. `url: https://hooks.example.com/backups`";
        let Some(url) = endpoint_url(c, &base, &e.value.url, e.referenced, hint, true) else {
            continue;
        };
        let Some(events) = events else { continue };
        out.push(WebhookConfig {
            name: text(&e.value.name),
            url,
            // The original trims the token: a YAML block scalar's trailing newline is not part of it.
            token: text(&e.value.token).map(Secret::new),
            events,
        });
    }
    out
}

fn events(
    c: &mut Checker,
    base: &str,
    raw: &Option<Spanned<Vec<Spanned<String>>>>,
) -> Option<Vec<WebhookEvent>> {
    let Some(raw) = raw else {
        return Some(vec![WebhookEvent::BackupReport]);
    };
    if raw.value.is_empty() {
        c.problem(
            raw.referenced,
            format!("{base}.events"),
            "an endpoint with no events would never be called",
            Some("list at least one of backup_report, run_summary, or remove the endpoint"),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for e in &raw.value {
        let name = e.value.trim().to_ascii_lowercase();
        match WebhookEvent::ALL.iter().find(|ev| ev.as_str() == name) {
            Some(ev) if !out.contains(ev) => out.push(*ev),
            Some(_) => {}
            None => {
                ok = false;
                c.problem(
                    e.referenced,
                    format!("{base}.events"),
                    format!("unknown event {:?}", e.value),
                    Some("backup_report (one POST per backup) or run_summary (one POST per run)"),
                );
            }
        }
    }
    ok.then_some(out)
}

fn mail(c: &mut Checker, m: &Spanned<RawMail>) -> Option<MailConfig> {
    const BASE: &str = "notifiers.mail";
    let at = m.referenced;
    let m = &m.value;
    // Disabled settings are kept but not checked: the original's example disables sections
    // whose values are placeholders.
    if disabled(&m.enabled) {
        return None;
    }
    let host = c.required(
        &m.smtp_host,
        at,
        format!("{BASE}.smtp_host"),
        "the SMTP server, e.g. `smtp_host: smtp.example.com`",
    );
    let crypto = match m.smtp_crypto.as_ref() {
        None => Some(SmtpCrypto::Plain),
        Some(raw) => match raw.value.trim().to_ascii_lowercase().as_str() {
            "" => Some(SmtpCrypto::Plain),
            "tls" => Some(SmtpCrypto::StartTls),
            "ssl" => Some(SmtpCrypto::ImplicitTls),
            other => {
                c.problem(
                    raw.referenced,
                    format!("{BASE}.smtp_crypto"),
                    format!("unknown SMTP crypto {other:?}"),
                    Some("\"\" (none), tls (STARTTLS, usually port 587) or ssl (implicit TLS, usually port 465)"),
                );
                None
            }
        },
    };
    if let Some(p) = &m.smtp_port
        && p.value == 0
    {
        c.problem(
            p.referenced,
            format!("{BASE}.smtp_port"),
            "port 0 is not a port",
            Some("25 (plain), 587 (tls) or 465 (ssl); left out, the one of smtp_crypto"),
        );
    }
    let user = text(&m.smtp_user);
    c.secret_at(m.smtp_password.as_ref(), format!("{BASE}.smtp_password"));
    let password = m
        .smtp_password
        .as_ref()
        .map(|p| p.value.clone())
        .filter(|p| !p.is_empty());
    if let (None, Some(raw)) = (&user, &m.smtp_password)
        && password.is_some()
    {
        c.problem(
            raw.referenced,
            format!("{BASE}.smtp_password"),
            "smtp_password is set but smtp_user is missing or empty",
            Some("set smtp_user too, or remove smtp_password to send without logging in"),
        );
    }
    // The login goes over TLS only, so a plain connection's smtp_user would be silently
    // unused: say so where it is written.
    if let (Some(SmtpCrypto::Plain), Some(raw)) = (crypto, &m.smtp_user)
        && user.is_some()
    {
        c.warn(
            raw.referenced,
            &format!("{BASE}.smtp_user"),
            "not used: backupman logs in only over TLS (smtp_crypto: tls or ssl), so the password never travels in clear; this mail is sent without a login",
        );
    }
    let from = match &m.from {
        Some(raw) => {
            let from = raw.value.trim().to_owned();
            if let Err(why) = check_address(&from) {
                c.problem(
                    raw.referenced,
                    format!("{BASE}.from"),
                    format!("invalid address {from:?}: {why}"),
                    Some("an address such as backups@example.com"),
                );
            }
            from
        }
        None => default_from(user.as_deref(), host.as_deref().unwrap_or("localhost")),
    };
    let destinations = destinations(c, at, &m.destinations);
    Some(MailConfig {
        smtp_port: m
            .smtp_port
            .as_ref()
            .map(|p| p.value)
            .unwrap_or(crypto?.default_port()),
        smtp_host: host?,
        smtp_user: user,
        smtp_password: password.map(Secret::new),
        smtp_crypto: crypto?,
        smtp_ca_file: text(&m.smtp_ca_file).map(PathBuf::from),
        from,
        destinations: destinations?,
    })
}

/// The original sends from its login name; a login that is not an address cannot be a
/// sender, so the server's domain stands in.
fn default_from(user: Option<&str>, host: &str) -> String {
    match user {
        Some(user) if check_address(user).is_ok() => user.to_owned(),
        _ => format!("no-reply@{host}"),
    }
}

fn destinations(
    c: &mut Checker,
    at: serde_saphyr::Location,
    raw: &Option<Vec<Spanned<RawDestination>>>,
) -> Option<Vec<MailDestination>> {
    const BASE: &str = "notifiers.mail.destinations";
    let raw = raw.as_deref().unwrap_or_default();
    if raw.is_empty() {
        c.problem(
            at,
            BASE.to_owned(),
            "no destinations: the mail would go to nobody",
            Some("add one, e.g. `destinations: [{name: Admin, email: admin@example.com}]`, or set `enabled: false`"),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, d) in raw.iter().enumerate() {
        let path = format!("{BASE}[{i}].email");
        let Some(email) = c.required(
            &d.value.email,
            d.referenced,
            path.clone(),
            "the address, e.g. `email: admin@example.com`",
        ) else {
            ok = false;
            continue;
        };
        if let Err(why) = check_address(&email) {
            ok = false;
            c.problem(
                loc(&d.value.email).unwrap_or(d.referenced),
                path,
                format!("invalid address {email:?}: {why}"),
                Some("an address such as admin@example.com"),
            );
            continue;
        }
        out.push(MailDestination {
            name: text(&d.value.name),
            email,
        });
    }
    ok.then_some(out)
}

/// `local@domain`, as SMTP takes it: no display name, spaces or angle brackets (those belong
/// to `name`), and a domain of dot-separated labels.
pub(crate) fn check_address(address: &str) -> Result<(), &'static str> {
    let (local, domain) = address
        .rsplit_once('@')
        .ok_or("it has no @ between the name and the domain")?;
    if local.is_empty() {
        return Err("nothing before the @");
    }
    if local.len() > 64 {
        return Err("the part before the @ is longer than 64 characters");
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
    {
        return Err("the part before the @ holds a space or one of < > ( ) [ ] , ; : \\ \" @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before the @ has a misplaced dot");
    }
    if domain.is_empty() {
        return Err("nothing after the @");
    }
    if domain.len() > 253
        || !domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return Err("the domain is not a host name such as example.com");
    }
    Ok(())
}

fn incoming(
    c: &mut Checker,
    base: &str,
    raw: &Spanned<RawIncomingWebhook>,
) -> Option<IncomingWebhookConfig> {
    c.secret_at(
        raw.value.webhook_url.as_ref(),
        format!("{base}.webhook_url"),
    );
    if disabled(&raw.value.enabled) {
        return None;
    }
    let url = c.required(
        &raw.value.webhook_url,
        raw.referenced,
        format!("{base}.webhook_url"),
        "the incoming webhook's URL, e.g. `webhook_url: ${SLACK_WEBHOOK_URL}`",
    )?;
    if let Err(why) = check_endpoint(&url) {
        // The URL itself is a credential: say what is wrong without repeating it.
        c.problem(
            loc(&raw.value.webhook_url).unwrap_or(raw.referenced),
            format!("{base}.webhook_url"),
            format!("invalid URL: {why}"),
            Some("the https:// URL the service gave for the incoming webhook"),
        );
        return None;
    }
    Some(IncomingWebhookConfig {
        webhook_url: Secret::new(url),
    })
}
