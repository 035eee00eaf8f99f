//! The `encryption` section (top level and per source), and the warning for a configuration
//! file that others may read while it holds secrets written in it.

use std::os::unix::fs::PermissionsExt;

use backupman_config::{load, parse};

const KEY_A: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const KEY_B: &str = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg";

fn sources(extra: &str) -> String {
    format!(
        "drives:\n  - provider: local\n    label: l\n    folder: /b\ndata_sources:\n  - provider: sqlite\n    label: a\n    db_path: /a.db\n  - provider: sqlite\n    label: b\n    db_path: /b.db\n{extra}"
    )
}

#[test]
fn top_level_recipients_apply_to_every_source_unless_it_names_its_own() {
    let text = sources(&format!(
        "    encryption:\n      age_recipients: [{KEY_B}]\nencryption:\n  age_recipients:\n    - {KEY_A}\n    - ${{SECOND_KEY}}\n"
    ));
    let loaded = parse(&text, "config.yml", |n| {
        (n == "SECOND_KEY").then(|| KEY_B.to_owned())
    })
    .unwrap();
    let config = loaded.config;
    let top = config.encryption.as_ref().unwrap();
    assert_eq!(top.keys(), vec![KEY_A, KEY_B]);
    assert_eq!(config.sources[0].encryption.as_ref(), Some(top));
    assert_eq!(
        config.sources[1].encryption.as_ref().unwrap().keys(),
        vec![KEY_B]
    );

    let plain = parse(&sources(""), "config.yml", |_| None).unwrap().config;
    assert!(plain.encryption.is_none() && plain.sources[0].encryption.is_none());
}

#[test]
fn a_bad_recipient_is_refused_where_it_is_written() {
    let text = sources(&format!(
        "encryption:\n  age_recipients:\n    - {KEY_A}\n    - AGE-SECRET-KEY-1SOMETHINGSECRET\n"
    ));
    let problems = crate::common::problems_of(&text, |_| None);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let (line, path, message) = &problems[0];
    assert_eq!((*line, path.as_str()), (15, "encryption.age_recipients[1]"));
    assert!(message.contains("private key"), "{message}");
    assert!(!message.contains("SOMETHINGSECRET"));

    let text = sources("    encryption:\n      age_recipients: [ssh-ed25519 AAAAC3Nz]\n");
    let problems = crate::common::problems_of(&text, |_| None);
    assert_eq!(
        problems[0].1,
        "data_sources[1].encryption.age_recipients[0]"
    );
    assert!(problems[0].2.contains("SSH"), "{:?}", problems[0]);

    for empty in ["encryption: {}\n", "encryption:\n  age_recipients: []\n"] {
        let problems = crate::common::problems_of(&sources(empty), |_| None);
        assert_eq!(problems[0].1, "encryption.age_recipients", "{empty}");
    }
}

/// Loads `text` from a file with `mode` and returns its warnings.
fn warnings_at_mode(text: &str, mode: u32) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    load(&path).unwrap().warnings
}

const SERVER: &str = "drives:\n  - provider: local\n    label: l\n    folder: /b\ndata_sources:\n  - provider: postgres\n    label: a\n    db_name: app\n";

#[test]
fn a_readable_file_with_secrets_written_in_it_warns() {
    let literal = format!("{SERVER}    password: hunter2-literal\n");
    let warnings = warnings_at_mode(&literal, 0o644);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.contains("mode 644") && w.contains("every user"), "{w}");
    assert!(w.contains("data_sources[0].password (line 9)"), "{w}");
    assert!(w.contains("chmod 600"), "{w}");
    assert!(
        !w.contains("hunter2"),
        "the warning must not repeat the secret: {w}"
    );
    assert!(warnings_at_mode(&literal, 0o640)[0].contains("its group"));
    assert!(warnings_at_mode(&literal, 0o600).is_empty());

    // Secrets given as ${VAR} leave nothing to protect in the file.
    let from_env = format!(
        "{SERVER}    password: ${{PATH}}\nhttp:\n  api_keys:\n    - \"${{HOME}}\"\nnotifiers:\n  webhook:\n    endpoints:\n      - url: https://hooks.example.com/x\n        token: ${{PATH:-x}}\n"
    );
    assert_eq!(warnings_at_mode(&from_env, 0o644), Vec::<String>::new());
    // A single-quoted `${VAR}` is literal text, and so a secret written in the file.
    let quoted = format!("{SERVER}    password: '${{PATH}}'\n");
    assert_eq!(warnings_at_mode(&quoted, 0o644).len(), 1);
    // Every kind of secret counts.
    let every = "drives:\n  - provider: s3\n    label: s\n    bucket: bkt\n    region: us-east-1\n    access_key: AK\n    secret_key: sk-literal\nhttp:\n  api_keys: [key-literal]\nnotifiers:\n  slack:\n    webhook_url: https://hooks.slack.com/services/T/B/X\n  mail:\n    smtp_host: localhost\n    smtp_user: u\n    smtp_password: mail-literal\n    from: a@example.com\n    destinations:\n      - email: b@example.com\n";
    let warnings = warnings_at_mode(every, 0o604);
    let w = warnings
        .iter()
        .find(|w| w.contains("chmod 600"))
        .expect("the permission warning");
    for path in [
        "drives[0].secret_key",
        "http.api_keys[0]",
        "notifiers.slack.webhook_url",
        "notifiers.mail.smtp_password",
    ] {
        assert!(w.contains(path), "{path} missing from {w}");
    }
}
