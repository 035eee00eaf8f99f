//! Moving over from the original backupman, end to end: its `config-example.yml` layout (the
//! config crate's fixture, every section and key) with the google_drive drive taken out and
//! every host pointed at this machine's servers, plus an SQLite source, runs for real
//! against MariaDB, PostgreSQL and SQLite, mails both destinations over implicit TLS (the
//! fixture's `smtp_crypto: ssl`) and posts each backup to the webhook receiver.
//! Run with `cargo xtask test` (databases, aiosmtpd).

use std::time::Duration;

use crate::common::{backupman, files, listener};
use backupman_testkit::db::{Db, MY_HOST, MY_PORT, MyDb, PG_HOST, PG_PORT, PgDb};
use backupman_testkit::smtp::{SmtpMode, SmtpServer};

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../backupman-config/tests/fixtures/original-config-example.yml"
));

/// `text` with `from` replaced by `to`, which must be there exactly once: a change to the
/// fixture fails here, by name, rather than leaving a setting pointing elsewhere.
fn swap(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} is not in the fixture exactly once"
    );
    text.replacen(from, to, 1)
}

#[test]
#[ignore = "needs MariaDB, PostgreSQL and aiosmtpd: cargo xtask test"]
fn the_original_layout_backs_up_three_databases_and_mails_both_destinations() {
    let shop = MyDb::create("orig_shop").mysql_provider();
    shop.sql("CREATE TABLE orders (id INT PRIMARY KEY, total INT); INSERT INTO orders VALUES (1, 42), (2, 7);");
    let billing = PgDb::create("orig_billing");
    billing.sql("CREATE TABLE invoices (id int PRIMARY KEY, paid boolean); INSERT INTO invoices VALUES (1, true);");
    let smtp = SmtpServer::start(SmtpMode::ImplicitTls);
    let (hook_url, receiver) = listener("200 OK", 4);

    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        tmp.path().join("notes.sqlite"),
    )
    .unwrap();
    let mut config = FIXTURE.to_owned();
    let google = &config[config.find("  - provider: google_drive").unwrap()..];
    let google = google[..google.find("\n\n").unwrap() + 1].to_owned();
    config = swap(&config, &google, "");
    // MariaDB's and PostgreSQL's test users have no password (root, trust).
    config = swap(&config, "    password: shop-password\n", "");
    config = swap(&config, "    password: billing-password\n", "");
    config = swap(
        &config,
        "    host: 127.0.0.1\n    port: 3306\n    db_name: shop\n    user: root\n",
        &format!(
            "    host: {MY_HOST}\n    port: {MY_PORT}\n    db_name: {}\n    user: root\n",
            shop.name
        ),
    );
    config = swap(
        &config,
        "    host: 127.0.0.1\n    port: 5432\n    db_name: billing\n",
        &format!(
            "    host: {PG_HOST}\n    port: {PG_PORT}\n    db_name: {}\n",
            billing.name
        ),
    );
    config = swap(
        &config,
        "\ndrives:\n",
        "  - provider: sqlite\n    label: Notes SQLite\n    db_path: notes.sqlite\n    tmp_folder: ./tmp/sqlite\n\ndrives:\n",
    );
    config = swap(
        &config,
        "    smtp_host: smtp.example.com\n    smtp_port: 587\n    smtp_user: user\n    smtp_password: mail-password\n",
        &format!(
            "    smtp_host: 127.0.0.1\n    smtp_port: {}\n    smtp_user: {}\n    smtp_password: {}\n    smtp_ca_file: ca.pem\n",
            smtp.port,
            smtp.user.as_deref().unwrap(),
            smtp.password.as_deref().unwrap()
        ),
    );
    config = swap(&config, "http://localhost:8080/webhook", &hook_url);
    std::fs::copy(smtp.ca_file().unwrap(), tmp.path().join("ca.pem")).unwrap();
    std::fs::write(tmp.path().join("config.yml"), &config).unwrap();

    let out = backupman(tmp.path(), &["run", "-c", "config.yml", "--json"]);
    assert_eq!(out.code, 0, "{}\n{config}", out.all());
    assert!(!out.stderr.contains("⚠"), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let sources = report["sources"].as_array().unwrap();
    let labels: Vec<&str> = sources
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Shop MySQL", "Billing Postgres", "Notes SQLite"]);
    let stored: Vec<_> = files(&tmp.path().join("tmp/drive"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".gz"))
        .collect();
    assert_eq!(stored.len(), 3, "{stored:?}");

    let mails = smtp.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1, "one mail per run");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, ["ops@example.com", "ops2@example.com"]);
    assert!(mail.to.contains("Ops <ops@example.com>"), "{}", mail.to);
    assert!(mail.to.contains("Ops 2 <ops2@example.com>"), "{}", mail.to);
    assert!(mail.tls);
    assert_eq!(mail.login, smtp.user);
    // `smtp_user: user` is no address, so the sender is no-reply at the SMTP host.
    assert_eq!(mail.mail_from, "no-reply@127.0.0.1");
    assert!(
        mail.subject
            .starts_with("Backup Report: all 3 backups stored on "),
        "{}",
        mail.subject
    );
    let text = mail.text.as_deref().unwrap();
    let html = mail.html.as_deref().unwrap();
    for source in sources {
        let label = source["source"].as_str().unwrap();
        let key = source["key"].as_str().unwrap();
        let location = source["drives"][0]["location"].as_str().unwrap();
        assert!(text.contains(&format!("{label} (finished)")), "{text}");
        assert!(text.contains(key), "{key} not in:\n{text}");
        assert!(
            text.contains(&format!("✔ drive Local Drive (local): {location}")),
            "{text}"
        );
        assert!(html.contains(&format!("<h3>{label} <span")), "{html}");
        assert!(html.contains(location), "{html}");
    }

    let posted = receiver.join().unwrap();
    assert_eq!(posted.len(), 3, "one backup_report per backup");
    for (req, label) in posted.iter().zip(&labels) {
        assert_eq!(req.header("x-webhook-token"), Some("receiver-token"));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["Event"], "backup_report");
        assert_eq!(body["Payload"]["Label"], *label);
        assert_eq!(body["Payload"]["Status"], "finished");
    }
}
