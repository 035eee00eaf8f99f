//! Retention and `prune` on a real local drive holding backups written by hand with the
//! times the tests need.

mod common;

use std::path::Path;

use chrono::{Duration, Utc};
use common::{backupman, files};

/// A backup of source "Demo" taken `days_ago`, as the engine would have stored it.
fn forge(folder: &Path, days_ago: i64) -> String {
    let t = Utc::now() - Duration::days(days_ago);
    // A backup's time is its key's; the manifest agrees, as the engine's always does.
    let key = format!("demo/demo-{}.sqlite.gz", t.format("%Y%m%dT%H%M%SZ"));
    let object = folder.join(&key);
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, b"not really gzip").unwrap();
    let manifest = serde_json::json!({
        "version": 1, "source": "Demo", "provider": "sqlite", "database": "demo.sqlite",
        "key": key, "started_at": t, "finished_at": t, "size": 1, "compressed_size": 15,
        "sha256": "00", "compression": "gzip-6", "tool_version": null, "backupman_version": "test"
    });
    std::fs::write(
        format!("{}.json", object.display()),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    key
}

fn setup(retention: &str) -> (tempfile::TempDir, String) {
    common::demo_setup(&format!(
        "drives:\n  - provider: local\n    label: Disk\n    folder: disk\nretention:\n{retention}"
    ))
}

fn objects(dir: &Path) -> Vec<String> {
    files(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .filter(|k| k.ends_with(".gz"))
        .collect()
}

#[test]
fn prune_by_age_deletes_only_old_backups_and_dry_run_deletes_nothing() {
    let (tmp, config) = setup("  enabled: true\n  by: age\n  value: 10\n");
    let disk = tmp.path().join("disk");
    let young = forge(&disk, 2);
    let old = forge(&disk, 30);
    let older = forge(&disk, 300);

    let dry = backupman(tmp.path(), &["prune", "-c", &config, "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    let report: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(report[0]["deleted"], serde_json::json!([old, older]));
    assert_eq!(objects(&disk).len(), 3, "dry run deletes nothing");

    let real = backupman(tmp.path(), &["prune", "-c", &config]);
    assert_eq!(real.code, 0, "{}", real.all());
    assert_eq!(objects(&disk), vec![young.clone()]);
    assert!(
        !disk.join(format!("{old}.json")).exists(),
        "the manifest goes with its object"
    );
    assert!(
        real.stdout.contains(&format!("deleted Demo → Disk: {old}")),
        "{}",
        real.stdout
    );
}

#[test]
fn the_newest_backup_survives_even_when_everything_is_old() {
    let (tmp, config) = setup("  by: age\n  value: 1\n");
    let disk = tmp.path().join("disk");
    let newest = forge(&disk, 50);
    forge(&disk, 60);
    let run = backupman(tmp.path(), &["prune", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(objects(&disk), vec![newest]);
}

#[test]
fn run_applies_count_retention_after_a_successful_backup() {
    let (tmp, config) = setup("  by: count\n  value: 2\n");
    let disk = tmp.path().join("disk");
    let recent = forge(&disk, 1);
    forge(&disk, 2);
    forge(&disk, 3);
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    let left = objects(&disk);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&recent));
    assert!(
        left.iter().any(|k| k != &recent),
        "the new backup is the other one kept"
    );
}

#[test]
fn gfs_keeps_one_backup_per_period() {
    let (tmp, config) = setup("  by: gfs\n  keep_daily: 2\n  keep_monthly: 2\n");
    let disk = tmp.path().join("disk");
    for days in [0, 1, 2, 3, 40, 41, 75, 200] {
        forge(&disk, days);
    }
    let run = backupman(tmp.path(), &["prune", "-c", &config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let kept = report[0]["kept"].as_array().unwrap().len();
    let deleted = report[0]["deleted"].as_array().unwrap().len();
    assert_eq!(kept + deleted, 8);
    assert!(
        (2..=4).contains(&kept),
        "2 daily + at most 2 monthly: {report}"
    );
    assert_eq!(objects(&disk).len(), kept);
}

#[test]
fn a_failed_run_deletes_nothing() {
    let (tmp, config) = setup("  by: count\n  value: 1\n");
    let disk = tmp.path().join("disk");
    forge(&disk, 1);
    forge(&disk, 2);
    std::fs::remove_file(tmp.path().join("demo.sqlite")).unwrap();
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(objects(&disk).len(), 2);
}

#[test]
fn a_damaged_manifest_marks_its_own_backup_not_its_source() {
    let (tmp, config) = setup("  by: count\n  value: 1\n");
    let disk = tmp.path().join("disk");
    let newest = forge(&disk, 1);
    let broken = forge(&disk, 2);
    let oldest = forge(&disk, 3);
    std::fs::write(disk.join(format!("{broken}.json")), b"{ not json").unwrap();

    let list = backupman(tmp.path(), &["list", "-c", &config, "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let entries: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let standing = |key: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["standing"].as_str().unwrap().to_owned())
    };
    assert_eq!(standing(&newest).as_deref(), Some("ok"));
    assert_eq!(standing(&broken).as_deref(), Some("damaged"));
    assert_eq!(standing(&oldest).as_deref(), Some("ok"));

    // Retention needs keys and times only: the damaged manifest stops nothing, and the
    // backups past the policy go, that one with them.
    let run = backupman(tmp.path(), &["prune", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(objects(&disk), vec![newest]);
}
