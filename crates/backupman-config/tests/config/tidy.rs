//! Docs keep up with the code: every option the parser accepts is documented.

use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Field names of a `Raw*` struct in raw.rs.
fn fields(raw: &str, name: &str) -> Vec<String> {
    let start = raw
        .find(&format!("pub(crate) struct {name} {{"))
        .unwrap_or_else(|| panic!("{name}"));
    let body = &raw[start..raw[start..].find("\n}").map(|e| start + e).unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect()
}

/// Drive options accepted only so a google_drive drive is refused by name: not documented.
const GOOGLE_ONLY: [&str; 6] = [
    "client_secret_file",
    "token_file",
    "client_id",
    "client_secret",
    "folder_id",
    "token",
];

#[test]
fn every_option_is_in_the_configuration_docs() {
    let raw = read("src/raw.rs");
    let docs = read("../../docs/configuration.md");
    for section in [
        "RawConfig",
        "RawSource",
        "RawHooks",
        "RawDrive",
        "RawRetention",
        "RawCompression",
        "RawEncryption",
        "RawNotifiers",
        "RawMail",
        "RawDestination",
        "RawEndpoint",
        "RawIncomingWebhook",
        "RawDatabase",
        "RawHttp",
        "RawBackupJob",
    ] {
        for field in fields(&raw, section) {
            if section == "RawDrive" && GOOGLE_ONLY.contains(&field.as_str()) {
                continue;
            }
            assert!(
                docs.contains(&format!("`{field}`")),
                "docs/configuration.md does not mention `{field}` ({section})"
            );
        }
    }
}

#[test]
fn every_s3_option_is_in_the_s3_drive_docs() {
    let raw = read("src/raw.rs");
    let docs = read("../../docs/drives/s3.md");
    for field in fields(&raw, "RawDrive") {
        if field != "folder" && !GOOGLE_ONLY.contains(&field.as_str()) {
            assert!(
                docs.contains(&format!("`{field}`")),
                "docs/drives/s3.md does not mention `{field}`"
            );
        }
    }
}
