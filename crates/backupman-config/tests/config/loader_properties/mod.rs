//! What must hold for any text handed to `backupman_config::parse`, shared by the corpus
//! replay test and the fuzz target (fuzz/fuzz_targets/config_loader.rs includes this file),
//! so the fuzzer hunts for exactly the failures the stable test would catch.

use backupman_config::{ConfigError, Loaded};

/// The one environment both the fuzzer and the replay test load with. Fixed, so a run can be
/// replayed; it covers a plain value, a number, a boolean, an empty value, and values with
/// YAML-significant characters that must survive substitution intact.
pub fn fixed_env(name: &str) -> Option<String> {
    let value = match name {
        "HOME" => "/home/backup",
        "PGPORT" => "5433",
        "STYLE" => "true",
        "EMPTY" => "",
        "APP_DB_PASSWORD" => "p#ss: 'w\"rd",
        "MINIO_ACCESS_KEY" => "minioadmin",
        "MINIO_SECRET_KEY" => "minioadmin123",
        "AWS_ACCESS_KEY_ID" => "AKIAENVEXAMPLE",
        "AWS_SECRET_ACCESS_KEY" => "env/secret+key",
        "AWS_REGION" => "eu-central-1",
        "S3_BUCKET" => "env-bucket",
        "SPACES_ACCESS_KEY" => "DOKEY",
        "SPACES_SECRET_KEY" => "DOSECRET",
        "ENV" => "staging",
        "WASABI_ACCESS_KEY" | "B2_APPLICATION_KEY_ID" | "LINODE_ACCESS_KEY" => "KEYID",
        "WASABI_SECRET_KEY" | "B2_APPLICATION_KEY" | "LINODE_SECRET_KEY" => "key/secret",
        "SHOP_DB_PASSWORD" => "shop-secret",
        "BACKUP_WEBHOOK_TOKEN" => "token-123",
        "MULTILINE" => "first\nsecond",
        _ => return None,
    };
    Some(value.to_owned())
}

/// Lines as an editor counts them: YAML breaks lines at `\n`, `\r\n` and a lone `\r`.
pub fn line_count(text: &str) -> usize {
    let breaks =
        text.matches("\r\n").count() + text.matches('\n').count() + text.matches('\r').count()
            - 2 * text.matches("\r\n").count();
    breaks + 1
}

/// Loads `text` with [`fixed_env`] and panics, with `name` in the message, if the outcome
/// breaks a promise of the loader: every error names at least one problem, every problem says
/// what is wrong, and no problem points past the end of the text.
pub fn check(name: &str, text: &str) -> Result<Loaded, ConfigError> {
    let result = backupman_config::parse(text, "config.yml", fixed_env);
    if let Err(err) = &result {
        let problems = err.problems();
        assert!(
            !problems.is_empty(),
            "{name}: an error without a problem: {err:?}"
        );
        // An error at the very end of a text without a final newline sits on the line after.
        let last_line = line_count(text) + 1;
        for p in &problems {
            assert!(
                !p.message.trim().is_empty(),
                "{name}: a problem without a message: {p:?}"
            );
            assert!(
                p.line <= last_line,
                "{name}: problem on line {} of a text of {} lines: {p:?}",
                p.line,
                line_count(text)
            );
        }
        assert!(
            !err.to_string().is_empty(),
            "{name}: an empty error message"
        );
    }
    result
}
