//! `--quiet` prints only errors; `--json` puts exactly one JSON document on stdout, in the
//! shapes docs/commands.md documents.

use crate::common::backupman;

fn setup(drive_folder: &str) -> tempfile::TempDir {
    crate::common::demo_setup(&format!(
        "drives:\n  - provider: local\n    label: Disk\n    folder: {drive_folder}\nretention:\n  by: count\n  value: 1\n"
    ))
    .0
}

#[test]
fn quiet_commands_that_succeed_print_nothing() {
    let tmp = setup("disk");
    for args in [
        &["run", "-q"][..],
        &["run", "--quiet", "--test-mode"],
        &["health", "-q"],
        &["prune", "-q"],
        &["prune", "-q", "--dry-run"],
        &["verify", "-q", "--latest"],
    ] {
        let out = backupman(tmp.path(), args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.all());
        assert_eq!(out.stderr, "", "{args:?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

#[test]
fn quiet_still_shows_what_failed_and_only_that() {
    let tmp = setup("disk");
    std::fs::write(tmp.path().join("disk"), "a file where the folder should be").unwrap();
    let health = backupman(tmp.path(), &["health", "-q"]);
    assert_eq!(health.code, 1, "{}", health.all());
    // The checks are health's result: on stdout, only what failed.
    assert!(
        health.stdout.contains("✘ drive Disk (local)"),
        "{}",
        health.stdout
    );
    assert!(!health.all().contains('✔'), "{}", health.all());
    assert!(!health.all().contains("can be dumped"), "{}", health.all());

    let run = backupman(tmp.path(), &["run", "-q"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("✘ Demo → Disk"), "{}", run.stderr);
    assert!(!run.stderr.contains("INFO"), "{}", run.stderr);
}

#[test]
fn every_json_flag_prints_one_document_of_the_documented_shape() {
    let tmp = setup("disk");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = backupman(tmp.path(), args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.all());
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", out.stdout))
    };
    let run = json(&["run", "--json"]);
    assert_eq!(run["ok"], true);
    let source = &run["sources"][0];
    for field in [
        "source",
        "ok",
        "key",
        "error",
        "size",
        "compressed_size",
        "sha256",
        "seconds",
        "drives",
        "retention",
    ] {
        assert!(source.get(field).is_some(), "run: {field} missing: {run}");
    }
    assert_eq!(source["drives"][0]["drive"], "Disk");
    assert_eq!(source["retention"][0]["kept"][0], source["key"]);
    let key = source["key"].as_str().unwrap().to_owned();

    let health = json(&["health", "--json"]);
    assert_eq!(health["ok"], true);
    assert_eq!(health["sources"][0]["provider"], "sqlite");
    assert_eq!(health["drives"][0]["checks"][0]["check"], "write file");

    let list = json(&["list", "--json"]);
    assert_eq!(list[0]["key"], key.as_str());
    assert_eq!(list[0]["has_manifest"], true);
    assert_eq!(list[0]["sha256"], source["sha256"]);

    let verify = json(&["verify", "--latest", "--json"]);
    assert_eq!(verify[0]["key"], key.as_str());
    assert_eq!(verify[0]["ok"], true);
    assert!(verify[0]["detail"].as_str().unwrap().contains("SHA-256"));

    let prune = json(&["prune", "--dry-run", "--json"]);
    assert_eq!(prune[0]["source"], "Demo");
    assert_eq!(prune[0]["kept"][0], key.as_str());
    assert_eq!(prune[0]["deleted"], serde_json::json!([]));
}
