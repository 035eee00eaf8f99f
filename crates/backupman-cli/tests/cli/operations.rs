//! `health` and `run --test-mode` on real files and folders.

use std::path::Path;

use crate::common::{backupman, files};

fn setup(drives: &str) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!(
        "drives:\n{drives}retention:\n  by: count\n  value: 1\n"
    ))
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn health_passes_on_a_working_setup_and_touches_nothing() {
    let (tmp, config) = setup("  - provider: local\n    label: Disk\n    folder: disk\n");
    std::fs::create_dir(tmp.path().join("disk")).unwrap();
    let run = backupman(tmp.path(), &["health", "-c", &config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["sources"][0]["source"], "Demo");
    let checks: Vec<&str> = report["drives"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "write file",
            "read file",
            "list folder",
            "delete file",
            "incomplete uploads"
        ]
    );
    assert!(
        run.stderr.contains("✔ source Demo (sqlite): can be dumped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&tmp.path().join("disk")),
        vec![],
        "the probe is cleaned up"
    );
}

#[test]
fn health_names_what_fails_and_exits_1() {
    let (tmp, config) = setup("  - provider: local\n    label: Disk\n    folder: blocker/disk\n");
    std::fs::write(tmp.path().join("blocker"), "a file").unwrap();
    std::fs::remove_file(tmp.path().join("demo.sqlite")).unwrap();
    let run = backupman(tmp.path(), &["health", "-c", &config]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("✘ source Demo (sqlite):"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("demo.sqlite does not exist"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("✘ drive Disk (local)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("✘ write file: cannot create folder"),
        "{}",
        run.stdout
    );
}

#[test]
fn health_works_with_only_drives() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        "drives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
    )
    .unwrap();
    let run = backupman(tmp.path(), &["health", "-c", config.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("healthy"), "{}", run.stdout);
}

#[test]
fn test_mode_verifies_and_leaves_every_drive_exactly_as_it_found_it() {
    let (tmp, config) = setup(
        "  - provider: local\n    label: A\n    folder: a\n  - provider: local\n    label: B\n    folder: b\n",
    );
    // A real backup set first; retention (keep 1) must not touch it in test mode.
    assert_eq!(backupman(tmp.path(), &["run", "-c", &config]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = (
        snapshot(&tmp.path().join("a")),
        snapshot(&tmp.path().join("b")),
    );
    assert_eq!(before.0.len(), 2);

    let run = backupman(tmp.path(), &["run", "-c", &config, "--test-mode", "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(
            "✔ test mode Demo → A: written, read back (SHA-256 and stream intact), deleted"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("✔ test mode Demo → B"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        report["sources"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with(".backupman-test-mode/demo/")
    );
    assert_eq!(report["sources"][0]["retention"], serde_json::json!([]));
    let after = (
        snapshot(&tmp.path().join("a")),
        snapshot(&tmp.path().join("b")),
    );
    assert_eq!(after, before);
}
