//! Retention and `prune` on a real local drive holding backups written by hand with the
//! times the tests need.

use std::path::Path;

use crate::common::{backupman, files, forged_backup, rt, s3_drive_yaml};
use backupman_testkit::proxy::LatencyProxy;
use backupman_testkit::s3::{S3Server, Style};
use chrono::{DateTime, Duration, Utc};

/// A backup of source "Demo" taken `days_ago`, as the engine would have stored it.
fn forge(folder: &Path, days_ago: i64) -> String {
    forge_at(folder, Utc::now() - Duration::days(days_ago), false, true)
}

/// A backup of source "Demo" taken at `t`, in the first key format or (`unique`) the
/// current one, with its manifest or (not `manifest`) without, as a killed run leaves it.
fn forge_at(folder: &Path, t: DateTime<Utc>, unique: bool, manifest: bool) -> String {
    let (key, json) = forged_backup(t, unique);
    let object = folder.join(&key);
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, b"not really gzip").unwrap();
    if manifest {
        std::fs::write(format!("{}.json", object.display()), json).unwrap();
    }
    key
}

fn setup(retention: &str) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!(
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

/// A long history on S3 (150 backups six hours apart, 300 keys) under retention by age: a
/// run lists only the two ends of the folder, the oldest page (what the policy deletes) and
/// the last eight days (where the sweep finds what a killed run left), reads no manifest,
/// and deletes exactly the backups past the policy. An object left without its manifest in
/// between is left to `prune`, which lists the whole folder and discards it.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_run_under_an_age_policy_lists_only_the_ends_of_a_long_history() {
    let server = S3Server::s3s_fs(Style::Path);
    rt().block_on(server.create_bucket("backups"));
    let proxy = LatencyProxy::start(server.port, std::time::Duration::from_millis(1));
    let folder = server.data_dir().unwrap().join("backups/long");
    let now = Utc::now();
    let mut past = Vec::new();
    let mut within = Vec::new();
    for i in 1..=150 {
        // Three hours off the policy's edge either way, whenever the run's clock reads it.
        let hours = 6 * i - 3;
        let key = forge_at(&folder, now - Duration::hours(hours), i % 2 == 0, true);
        if hours > 30 * 24 {
            &mut past
        } else {
            &mut within
        }
        .push(key);
    }
    let recent_orphan = forge_at(&folder, now - Duration::hours(3 * 24 + 1), true, false);
    let middle_orphan = forge_at(&folder, now - Duration::hours(20 * 24 + 1), true, false);
    assert_eq!(past.len(), 30);
    let (tmp, config) = crate::common::demo_setup(&format!(
        "drives:\n{}retention:\n  by: age\n  value: 30\n",
        s3_drive_yaml(&server, "Far", "backups", "long")
            .replace(&server.endpoint, &proxy.endpoint())
    ));

    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let listings: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains("list-type=2"))
        .collect();
    assert_eq!(listings.len(), 2, "{listings:#?}");
    let oldest = listings
        .iter()
        .find(|l| !l.contains("start-after"))
        .unwrap();
    assert!(oldest.contains("max-keys=100"), "{listings:#?}");
    assert!(
        listings
            .iter()
            .any(|l| l.contains("start-after=long%2Fdemo%2Fdemo-")),
        "{listings:#?}"
    );
    let manifest_reads = proxy.count(|l| l.starts_with("GET ") && l.contains(".json"));
    assert_eq!(manifest_reads, 0, "{:#?}", proxy.requests());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<String> = report["sources"][0]["retention"][0]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    deleted.sort();
    past.sort();
    assert_eq!(deleted, past);

    let stored = objects(&folder);
    for key in &past {
        assert!(!folder.join(key).exists(), "{key} is past the policy");
        assert!(!folder.join(format!("{key}.json")).exists(), "{key}.json");
    }
    for key in &within {
        assert!(folder.join(key).exists(), "{key} is within the policy");
        assert!(folder.join(format!("{key}.json")).exists(), "{key}.json");
    }
    assert!(!folder.join(&recent_orphan).exists(), "swept: {stored:#?}");
    assert!(folder.join(&middle_orphan).exists(), "{stored:#?}");
    // The 120 within the policy, the one left between the ends, and the run's own.
    assert_eq!(stored.len(), within.len() + 2, "{stored:#?}");

    let prune = backupman(tmp.path(), &["prune", "-c", &config]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    assert!(!folder.join(&middle_orphan).exists(), "prune sweeps it all");
    assert_eq!(objects(&folder).len(), within.len() + 1);
}
