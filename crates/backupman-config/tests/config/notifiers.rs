//! `notifiers` as written by users of the original backupman and of this one: mail, webhook
//! endpoints with names and events, Slack and Discord, and what is refused.

use backupman_config::{ConfigError, Loaded, MailDestination, SmtpCrypto, WebhookEvent, parse};

const DRIVES: &str = "drives:\n  - provider: local\n    label: l\n    folder: /b\n";

fn load(notifiers: &str) -> Loaded {
    let text = format!("{DRIVES}notifiers:\n{notifiers}");
    parse(&text, "config.yml", env).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn env(name: &str) -> Option<String> {
    match name {
        "SMTP_PASSWORD" => Some("s3cret-pw".into()),
        "SLACK_URL" => Some("https://hooks.slack.com/services/T0/B0/secretpart".into()),
        _ => None,
    }
}

/// (line, path, message) of every problem.
fn problems(notifiers: &str) -> Vec<(usize, String, String)> {
    crate::common::problems_of(&format!("{DRIVES}notifiers:\n{notifiers}"), env)
}

#[test]
fn the_originals_mail_section_loads_with_every_key() {
    let loaded = load(
        "  mail:
    enabled: true
    smtp_host: smtp.example.com
    smtp_port: 587
    smtp_user: user
    smtp_password: ${SMTP_PASSWORD}
    smtp_crypto: ssl
    destinations:
      - name: Admin
        email: admin@yopmail.fr
      - name: Admin 2
        email: admin2@yopmail.fr
",
    );
    let mail = loaded.config.mail.expect("mail configured");
    assert_eq!(mail.smtp_host, "smtp.example.com");
    assert_eq!(mail.smtp_port, 587);
    assert_eq!(mail.smtp_user.as_deref(), Some("user"));
    assert_eq!(mail.smtp_password.as_ref().unwrap().expose(), "s3cret-pw");
    assert_eq!(mail.smtp_crypto, SmtpCrypto::ImplicitTls);
    assert_eq!(mail.smtp_ca_file, None);
    // `user` is no address, so the server's domain stands in.
    assert_eq!(mail.from, "no-reply@smtp.example.com");
    assert_eq!(
        mail.destinations,
        vec![
            MailDestination {
                name: Some("Admin".into()),
                email: "admin@yopmail.fr".into()
            },
            MailDestination {
                name: Some("Admin 2".into()),
                email: "admin2@yopmail.fr".into()
            },
        ]
    );
    let debug = format!("{mail:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn the_port_defaults_by_crypto_and_from_to_an_address_login() {
    for (crypto, expected, port) in [
        ("", SmtpCrypto::Plain, 25),
        ("tls", SmtpCrypto::StartTls, 587),
        ("SSL", SmtpCrypto::ImplicitTls, 465),
    ] {
        let mail = load(&format!(
            "  mail:\n    smtp_host: mx.test\n    smtp_user: bot@example.org\n    smtp_crypto: \"{crypto}\"\n    destinations: [{{email: ops@example.org}}]\n"
        ))
        .config
        .mail
        .unwrap();
        assert_eq!(
            (mail.smtp_crypto, mail.smtp_port),
            (expected, port),
            "{crypto:?}"
        );
        assert_eq!(mail.from, "bot@example.org");
        assert_eq!(mail.destinations[0].name, None);
        assert_eq!(expected.as_str(), crypto.to_ascii_lowercase());
    }
    let mail = load(
        "  mail:\n    smtp_host: mx.test\n    from: backups@example.org\n    smtp_ca_file: ca.pem\n    destinations: [{email: ops@example.org}]\n",
    )
    .config
    .mail
    .unwrap();
    assert_eq!(mail.smtp_crypto, SmtpCrypto::Plain);
    assert_eq!(mail.from, "backups@example.org");
    assert_eq!(mail.smtp_ca_file.unwrap().to_str(), Some("ca.pem"));
}

#[test]
fn disabled_mail_is_none_and_its_placeholders_are_not_checked() {
    let loaded = load("  mail:\n    enabled: false\n    smtp_host: \"\"\n    smtp_crypto: weird\n");
    assert_eq!(loaded.config.mail, None);
}

#[test]
fn mail_problems_are_located() {
    let found = problems(
        "  mail:
    smtp_crypto: starttls
    smtp_port: 0
    smtp_password: pw
    from: Backups <b@example.org>
    destinations:
      - name: A
        email: not-an-address
      - name: B
",
    );
    let want = [
        (7, "notifiers.mail.smtp_host", "missing required option"),
        (
            7,
            "notifiers.mail.smtp_crypto",
            "unknown SMTP crypto \"starttls\"",
        ),
        (8, "notifiers.mail.smtp_port", "port 0 is not a port"),
        (9, "notifiers.mail.smtp_password", "smtp_user is missing"),
        (10, "notifiers.mail.from", "invalid address"),
        (
            13,
            "notifiers.mail.destinations[0].email",
            "invalid address \"not-an-address\": it has no @",
        ),
        (
            14,
            "notifiers.mail.destinations[1].email",
            "missing required option",
        ),
    ];
    assert_eq!(found.len(), want.len(), "{found:#?}");
    for ((line, path, msg), (wl, wp, wm)) in found.iter().zip(want) {
        assert_eq!((*line, path.as_str()), (wl, wp), "{found:#?}");
        assert!(msg.contains(wm), "{msg} should say {wm}");
    }
}

#[test]
fn mail_needs_a_destination() {
    let found = problems("  mail:\n    smtp_host: mx.test\n    destinations: []\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "notifiers.mail.destinations");
    assert!(found[0].2.contains("no destinations"));
}

#[test]
fn addresses_are_checked_for_the_form_smtp_takes() {
    for bad in [
        "a@", "@b.c", "a b@c.d", "<a@b.c>", "a@b..c", "a@-b.c", "a..b@c.d", "a@b_c.d",
    ] {
        let found = problems(&format!(
            "  mail:\n    smtp_host: mx\n    destinations: [{{email: \"{bad}\"}}]\n"
        ));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(
            found[0].2.starts_with("invalid address"),
            "{bad}: {found:?}"
        );
    }
    for good in [
        "a@b",
        "first.last+tag@sub.example.org",
        "ops@localhost",
        "x@müller.de",
    ] {
        let loaded = load(&format!(
            "  mail:\n    smtp_host: mx\n    destinations: [{{email: \"{good}\"}}]\n"
        ));
        assert_eq!(loaded.config.mail.unwrap().destinations[0].email, good);
    }
}

#[test]
fn the_email_section_is_refused_with_a_pointer_to_mail() {
    let text = format!("{DRIVES}notifiers:\n  email:\n    enabled: true\n");
    let err = parse(&text, "config.yml", env).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err}")
    };
    let [problem] = &problems[..] else {
        panic!("{err}")
    };
    assert_eq!(problem.line, 6, "{err}");
    assert!(problem.message.contains("unknown option `email`"), "{err}");
    assert_eq!(problem.hint.as_deref(), Some("did you mean `mail`?"));
}

#[test]
fn webhook_endpoints_take_a_name_and_events() {
    let loaded = load(
        "  webhook:
    enabled: true
    endpoints:
      - name: My Webhook
        url: http://localhost:8080/webhook
        token: \"xxx \"
      - url: https://hooks.example.com/run
        events: [run_summary, backup_report, run_summary]
",
    );
    let hooks = &loaded.config.webhooks;
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0].name.as_deref(), Some("My Webhook"));
    assert_eq!(hooks[0].token.as_ref().unwrap().expose(), "xxx");
    assert_eq!(hooks[0].events, vec![WebhookEvent::BackupReport]);
    assert!(hooks[0].wants(WebhookEvent::BackupReport));
    assert!(!hooks[0].wants(WebhookEvent::RunSummary));
    assert_eq!(hooks[1].name, None);
    assert_eq!(
        hooks[1].events,
        vec![WebhookEvent::RunSummary, WebhookEvent::BackupReport]
    );
}

#[test]
fn webhook_event_mistakes_are_located() {
    let found = problems(
        "  webhook:
    endpoints:
      - url: http://a.test/x
        events: [backup_reports]
      - url: http://a.test/y
        events: []
",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, 9);
    assert_eq!(found[0].1, "notifiers.webhook.endpoints[0].events");
    assert!(found[0].2.contains("unknown event \"backup_reports\""));
    assert_eq!(found[1].0, 11);
    assert!(found[1].2.contains("no events"));
}

#[test]
fn a_disabled_webhook_section_sends_nothing() {
    let loaded =
        load("  webhook:\n    enabled: false\n    endpoints:\n      - url: http://a.test/x\n");
    assert!(loaded.config.webhooks.is_empty());
}

#[test]
fn slack_and_discord_take_an_incoming_webhook_url_kept_secret() {
    let loaded = load(
        "  slack:\n    enabled: true\n    webhook_url: ${SLACK_URL}\n  discord:\n    webhook_url: https://discord.com/api/webhooks/1/tok\n",
    );
    let slack = loaded.config.slack.as_ref().unwrap();
    assert_eq!(
        slack.webhook_url.expose(),
        "https://hooks.slack.com/services/T0/B0/secretpart"
    );
    let discord = loaded.config.discord.as_ref().unwrap();
    assert_eq!(
        discord.webhook_url.expose(),
        "https://discord.com/api/webhooks/1/tok"
    );
    let debug = format!("{:?}", loaded.config);
    assert!(
        !debug.contains("secretpart") && !debug.contains("/tok"),
        "{debug}"
    );

    let off = load("  slack:\n    enabled: false\n  discord:\n    enabled: false\n");
    assert_eq!((off.config.slack, off.config.discord), (None, None));
}

#[test]
fn a_bad_incoming_webhook_url_is_refused_without_repeating_it() {
    let found = problems("  discord:\n    webhook_url: discord.com/api/webhooks/1/hushhush\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (7, "notifiers.discord.webhook_url")
    );
    assert!(!found[0].2.contains("hushhush"), "{found:?}");
    let missing = problems("  slack:\n    enabled: true\n");
    assert_eq!(missing[0].1, "notifiers.slack.webhook_url");
}

#[test]
fn a_login_on_a_plain_connection_is_said_to_be_unused() {
    let mail = |crypto: &str| {
        load(&format!(
            "  mail:\n    smtp_host: smtp.example.com\n    smtp_user: backups@example.com\n    smtp_password: ${{SMTP_PASSWORD}}\n    smtp_crypto: \"{crypto}\"\n    destinations:\n      - email: ops@example.com\n"
        ))
    };
    let plain = mail("");
    assert_eq!(plain.warnings.len(), 1, "{:?}", plain.warnings);
    assert!(
        plain.warnings[0].contains("line 8: notifiers.mail.smtp_user: not used"),
        "{:?}",
        plain.warnings
    );
    assert!(!plain.warnings[0].contains("s3cret-pw"));
    for crypto in ["tls", "ssl"] {
        assert!(mail(crypto).warnings.is_empty(), "{crypto}");
    }
}
