//! The run's mail against a real SMTP server (aiosmtpd, from the test kit) in plain, STARTTLS
//! and implicit-TLS mode, each TLS server with a CA of its own: certificates are verified, so
//! the mail goes only when `smtp_ca_file` names that CA. A mail that cannot be sent is a
//! warning, never a failed backup; `health` checks the connection and login without sending.
//! Run with `cargo xtask test` (it provisions aiosmtpd).

use std::path::Path;
use std::time::Duration;

use crate::common::{Run, backupman, notify_setup};
use backupman_testkit::smtp::{ReceivedMail, SmtpMode, SmtpOptions, SmtpServer};

const FROM: &str = "backupman@example.com";

/// `notifiers.mail` for `server`, trusting its CA (if it has one) when `ca` is set; `password`
/// overrides the one the server accepts.
fn mail_yaml(server: &SmtpServer, ca: bool, password: Option<&str>) -> String {
    let mut yaml = format!(
        "  mail:\n    smtp_host: 127.0.0.1\n    smtp_port: {}\n    smtp_crypto: \"{}\"\n\
         \x20   from: {FROM}\n    destinations:\n\
         \x20     - name: Ops Team\n        email: ops@example.com\n\
         \x20     - name: On Call\n        email: oncall@example.org\n",
        server.port,
        server.mode.smtp_crypto()
    );
    if let Some(user) = &server.user {
        let password = password.or(server.password.as_deref()).unwrap();
        yaml.push_str(&format!(
            "    smtp_user: {user}\n    smtp_password: {password}\n"
        ));
    }
    if let Some(file) = server.ca_file().filter(|_| ca) {
        yaml.push_str(&format!("    smtp_ca_file: {}\n", file.display()));
    }
    yaml
}

fn bm(dir: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["-c", "config.yml"]);
    backupman(dir, &all)
}

/// The warning line `run` prints for the mail via `server`.
fn warning(server: &SmtpServer) -> String {
    format!("⚠ mail via 127.0.0.1:{}: not notified after ", server.port)
}

/// One run (`Demo` stored, `Copy` failed) mails both destinations a report of both backups.
fn mails_the_report(mode: SmtpMode) {
    let server = SmtpServer::start(mode);
    let tmp = notify_setup(&mail_yaml(&server, true, None));
    std::fs::remove_file(tmp.path().join("copy.sqlite")).unwrap();
    let out = bm(tmp.path(), &["run", "--json", "--debug"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!out.stderr.contains("⚠ mail"), "{}", out.stderr);
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let demo = &printed["sources"][0];
    let location = demo["drives"][0]["location"].as_str().unwrap();
    let key = demo["key"].as_str().unwrap();
    let copy_error = printed["sources"][1]["error"].as_str().unwrap();

    let got = server.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.messages().len(), 1, "one mail per run");
    let mail: &ReceivedMail = &got[0];
    assert_eq!(mail.rcpt_tos, ["ops@example.com", "oncall@example.org"]);
    assert_eq!(mail.mail_from, FROM);
    assert_eq!(mail.from, FROM);
    assert!(
        mail.to.contains("Ops Team <ops@example.com>")
            && mail.to.contains("On Call <oncall@example.org>"),
        "{}",
        mail.to
    );
    assert!(
        mail.subject
            .starts_with("Backup Report: 1 of 2 backups FAILED on "),
        "{}",
        mail.subject
    );
    assert_eq!(mail.tls, mode != SmtpMode::Plain, "{mode:?}");
    assert_eq!(mail.login, server.user, "{mode:?}");
    assert_eq!(mail.content_type, "multipart/alternative");

    let text = mail.text.as_deref().expect("a text/plain part");
    for expected in [
        "Demo (finished)",
        &format!("Key:       {key}"),
        &format!("✔ drive Disk (local): {location}"),
        "Copy (failed)",
        &format!("Error:     {copy_error}"),
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    let size = backupman_core::human_bytes(demo["compressed_size"].as_u64().unwrap());
    assert!(text.contains(&format!("Size:      {size}")), "{text}");
    assert!(text.contains("Time:      "), "{text}");

    let html = mail.html.as_deref().expect("a text/html part");
    assert!(html.contains("<h3>Demo <span"), "{html}");
    assert!(html.contains(location), "{html}");
    assert!(html.contains(&format!("<td>{size}</td>")), "{html}");
    assert!(html.contains("<h3>Copy <span"), "{html}");
    assert!(html.contains("Error"), "{html}");

    if let Some(password) = &server.password {
        assert!(
            !mail.raw.contains(password.as_str()),
            "password in the mail"
        );
        assert!(!out.all().contains(password.as_str()), "{}", out.all());
    }

    // `health` checks the same connection (the `Copy` source is unhealthy: its file is gone).
    let health = bm(tmp.path(), &["health"]);
    let expected = match &server.user {
        None => "connected".to_owned(),
        Some(user) => format!("connected, certificate verified, logged in as {user}"),
    };
    assert!(
        health.stdout.contains(&format!(
            "✔ mail via 127.0.0.1:{} ({}): {expected}\n",
            server.port,
            crypto_name(mode)
        )),
        "{}",
        health.stdout
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.messages().len(), 1, "health sent a mail");
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn plain_mail_reaches_both_destinations() {
    mails_the_report(SmtpMode::Plain);
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn starttls_mail_logs_in_and_reaches_both_destinations() {
    mails_the_report(SmtpMode::StartTls);
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn implicit_tls_mail_logs_in_and_reaches_both_destinations() {
    mails_the_report(SmtpMode::ImplicitTls);
}

/// Without `smtp_ca_file` the server's private CA is unknown: nothing is sent, the run still
/// succeeds with a warning, and `health` fails; with it, `health` passes and sends nothing.
fn certificates_are_verified(mode: SmtpMode) {
    let server = SmtpServer::start(mode);
    let tmp = notify_setup(&mail_yaml(&server, false, None));
    let out = bm(tmp.path(), &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&warning(&server)))
        .unwrap_or_else(|| panic!("no mail warning in:\n{}", out.stderr));
    assert!(line.contains("1 attempt(s): TLS with 127.0.0.1"), "{line}");
    assert!(
        line.contains("UnknownIssuer") && line.contains("smtp_ca_file"),
        "{line}"
    );
    // Said once, by the warning: no dependency's own ERROR line beside it.
    assert!(!out.stderr.contains("ERROR"), "{}", out.stderr);

    let health = bm(tmp.path(), &["health"]);
    assert_eq!(health.code, 1, "{}", health.all());
    assert!(
        health.stdout.contains(&format!(
            "✘ mail via 127.0.0.1:{} ({}): TLS with",
            server.port,
            crypto_name(mode)
        )),
        "{}",
        health.stdout
    );

    std::fs::write(
        tmp.path().join("config.yml"),
        std::fs::read_to_string(tmp.path().join("config.yml"))
            .unwrap()
            .replace(
                "  mail:\n",
                &format!(
                    "  mail:\n    smtp_ca_file: {}\n",
                    server.ca_file().unwrap().display()
                ),
            ),
    )
    .unwrap();
    let health = bm(tmp.path(), &["health", "--json"]);
    assert_eq!(health.code, 0, "{}", health.all());
    assert!(
        health.stderr.contains(&format!(
            "✔ mail via 127.0.0.1:{} ({}): connected, certificate verified, logged in as {}",
            server.port,
            crypto_name(mode),
            server.user.as_deref().unwrap()
        )),
        "{}",
        health.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&health.stdout).unwrap();
    assert_eq!(report["notifiers"][0]["notifier"], "mail");
    assert_eq!(report["notifiers"][0]["ok"], true);
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.messages().is_empty(), "health sent a mail");
}

fn crypto_name(mode: SmtpMode) -> &'static str {
    match mode {
        SmtpMode::Plain => "plain",
        SmtpMode::StartTls => "STARTTLS",
        SmtpMode::ImplicitTls => "implicit TLS",
    }
}

/// `smtp_crypto` set to the mode the port does not speak: `health` names the other mode and
/// the usual ports.
fn the_other_crypto_mode_is_named(server_mode: SmtpMode, configured: &str, hint: &[&str]) {
    let server = SmtpServer::start(server_mode);
    let yaml = mail_yaml(&server, true, None).replace(
        &format!("smtp_crypto: \"{}\"", server_mode.smtp_crypto()),
        &format!("smtp_crypto: \"{configured}\""),
    );
    let tmp = notify_setup(&yaml);
    let health = bm(tmp.path(), &["health"]);
    assert_eq!(health.code, 1, "{}", health.all());
    let line = health
        .stdout
        .lines()
        .find(|l| l.starts_with("✘ mail via"))
        .unwrap_or_else(|| panic!("no mail line: {}", health.all()));
    for words in hint {
        assert!(line.contains(words), "{words}: {line}");
    }
    assert!(server.messages().is_empty());
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn ssl_on_a_starttls_port_names_tls_and_the_ports() {
    the_other_crypto_mode_is_named(
        SmtpMode::StartTls,
        "ssl",
        &[
            "InvalidContentType",
            "(hint: `smtp_crypto: ssl` is TLS from the first byte",
            "use `smtp_crypto: tls` (STARTTLS, usually port 587)",
            "465",
        ],
    );
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn tls_on_a_plain_port_names_ssl_and_the_ports() {
    the_other_crypto_mode_is_named(
        SmtpMode::Plain,
        "tls",
        &[
            "STARTTLS is not supported",
            "(hint: `smtp_crypto: tls` upgrades a plain connection with STARTTLS",
            "use `smtp_crypto: ssl`",
            "465",
            "587",
        ],
    );
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn starttls_certificates_are_verified_unless_the_ca_is_given() {
    certificates_are_verified(SmtpMode::StartTls);
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn implicit_tls_certificates_are_verified_unless_the_ca_is_given() {
    certificates_are_verified(SmtpMode::ImplicitTls);
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn a_server_refusing_for_now_is_retried_then_only_a_warning() {
    let server = SmtpServer::with(SmtpOptions {
        mode: SmtpMode::Plain,
        login: false,
        reject: true,
    });
    let tmp = notify_setup(&mail_yaml(&server, false, None));
    let out = bm(tmp.path(), &["run", "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(out.stderr.contains("✔ Demo → Disk"), "{}", out.stderr);
    assert_eq!(server.rejected(), 3, "three attempts");
    assert!(
        out.stderr.contains(&format!(
            "{}3 attempt(s): 127.0.0.1:{} refused the mail: ",
            warning(&server),
            server.port
        )) && out.stderr.contains("451"),
        "{}",
        out.stderr
    );
    assert!(server.messages().is_empty());
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn a_wrong_password_is_refused_once_and_never_shown() {
    let server = SmtpServer::start(SmtpMode::StartTls);
    let wrong = "not-the-Pa55word";
    let tmp = notify_setup(&mail_yaml(&server, true, Some(wrong)));
    let out = bm(tmp.path(), &["run", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "{}1 attempt(s): 127.0.0.1:{} refused the login: ",
            warning(&server),
            server.port
        )),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(wrong), "{}", out.all());
    assert!(server.messages().is_empty());

    let health = bm(tmp.path(), &["health", "--debug"]);
    assert_eq!(health.code, 1, "{}", health.all());
    assert!(
        health.stdout.contains("refused the login"),
        "{}",
        health.stdout
    );
    assert!(!health.all().contains(wrong), "{}", health.all());
}

#[test]
#[ignore = "needs aiosmtpd: cargo xtask test"]
fn an_unreachable_smtp_server_leaves_the_exit_code_alone() {
    let port = backupman_testkit::s3::free_port();
    let tmp = notify_setup(&format!(
        "  mail:\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n    from: {FROM}\n\
         \x20   destinations:\n      - email: ops@example.com\n"
    ));
    let out = bm(tmp.path(), &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "⚠ mail via 127.0.0.1:{port}: not notified after 3 attempt(s): cannot talk to 127.0.0.1:{port}"
        )),
        "{}",
        out.stderr
    );
}
