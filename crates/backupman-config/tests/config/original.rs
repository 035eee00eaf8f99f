//! The original backupman's configuration layout, every section and key of its example,
//! loads as is: only the google_drive drive is refused, and without it the file loads.

use std::path::{Path, PathBuf};

use backupman_config::{DriveConfig, RetentionPolicy, SmtpCrypto, WebhookEvent, parse};

fn example() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-config-example.yml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example without its google_drive drive (the five lines from its `- provider`).
fn without_google_drive(text: &str) -> String {
    let start = text
        .find("  - provider: google_drive")
        .expect("the example has it");
    let end = text[start..].find("\n\n").map(|e| start + e).unwrap();
    format!("{}{}", &text[..start].trim_end_matches('\n'), &text[end..])
}

#[test]
fn as_is_the_only_problem_is_google_drive() {
    let text = example();
    let err = parse(&text, "config-example.yml", |_| None).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    let line = text
        .lines()
        .position(|l| l.contains("provider: google_drive"))
        .unwrap()
        + 1;
    assert_eq!(problems[0].line, line, "{err}");
    assert_eq!(problems[0].path, "drives[1].provider");
    assert!(problems[0].message.contains("not supported"), "{err}");
    assert!(problems[0].hint.as_deref().unwrap().contains("s3"), "{err}");
}

#[test]
fn without_google_drive_it_loads_and_means_what_the_original_meant() {
    let text = without_google_drive(&example());
    assert!(!text.contains("client_secret_file"), "{text}");
    let loaded = parse(&text, "config-example.yml", |_| None).unwrap_or_else(|e| panic!("{e}"));
    let config = &loaded.config;

    assert_eq!(config.sources.len(), 2);
    assert_eq!(config.sources[0].label, "Shop MySQL");
    assert_eq!(config.sources[0].tls.as_deref(), Some("disable"));
    assert_eq!(config.sources[1].db_name.as_deref(), Some("billing"));
    assert_eq!(
        config.sources[1].tmp_folder,
        Some(PathBuf::from("./tmp/postgres"))
    );
    assert!(
        matches!(&config.drives[..], [DriveConfig::Local(l)] if l.folder == Path::new("./tmp/drive"))
    );

    let mail = config.mail.as_ref().unwrap();
    assert_eq!(
        (mail.smtp_crypto, mail.smtp_port),
        (SmtpCrypto::ImplicitTls, 587)
    );
    assert_eq!(mail.destinations.len(), 2);
    assert_eq!(config.webhooks.len(), 1);
    assert_eq!(config.webhooks[0].name.as_deref(), Some("Receiver"));
    assert_eq!(
        config.webhooks[0].token.as_ref().unwrap().expose(),
        "receiver-token"
    );
    assert_eq!(config.webhooks[0].events, vec![WebhookEvent::BackupReport]);
    let retention = config.retention.as_ref().unwrap();
    assert_eq!(retention.policy, RetentionPolicy::Age { days: 30 });

    // `database` and each server source's `tmp_folder` are told once each, as notes.
    assert_eq!(loaded.notes.len(), 3, "{:?}", loaded.notes);
    assert!(
        loaded
            .notes
            .iter()
            .any(|n| n.contains("database: not needed"))
    );
}

/// The original's later example adds an SQLite source beside MySQL and PostgreSQL (with a
/// `tmp_folder`, as its server sources have); its earlier releases named the webhook section
/// `webhooks`. Both load, meaning the same.
#[test]
fn its_later_sqlite_source_and_earlier_webhooks_section_load() {
    let sqlite = "  - provider: sqlite\n    label: Notes SQLite\n    db_path: /srv/notes/notes.db\n    tmp_folder: ./tmp/sqlite\n";
    let text = without_google_drive(&example());
    let at = text.find("\ndrives:").unwrap();
    let later = format!("{}\n{sqlite}{}", text[..at].trim_end(), &text[at..]);
    let loaded = parse(&later, "config-example.yml", |_| None).unwrap_or_else(|e| panic!("{e}"));
    let notes = &loaded.config.sources[2];
    assert_eq!(notes.label, "Notes SQLite");
    assert_eq!(notes.db_path, Some(PathBuf::from("/srv/notes/notes.db")));
    assert_eq!(notes.tmp_folder, Some(PathBuf::from("./tmp/sqlite")));

    let earlier = text.replace("\n  webhook:\n", "\n  webhooks:\n");
    assert_ne!(earlier, text);
    let loaded = parse(&earlier, "config-example.yml", |_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.webhooks.len(), 1);
    assert_eq!(
        loaded.config.webhooks[0].token.as_ref().unwrap().expose(),
        "receiver-token"
    );
}
