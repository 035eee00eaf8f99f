//! The service's catalog: kept in memory, refreshed so backups made by another process
//! appear, and never believing a planted manifest's dates.

use chrono::Utc;

use crate::common::backupman;
use crate::server::{LOCAL_DISK, Server, finished, setup};

#[test]
fn a_backup_made_by_another_process_appears_after_the_refresh() {
    let (tmp, config) = setup(LOCAL_DISK, "  catalog_refresh_seconds: 1\n");
    let first = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(first.code, 0, "{}", first.all());
    let server = Server::start(tmp.path(), &config);
    let before = server.wait_for_backups(|r| finished(r).len() == 1);
    // A CronJob (here: the command line) stores one more while the service runs.
    let second = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(second.code, 0, "{}", second.all());
    let after = server.wait_for_backups(|r| finished(r).len() == 2);
    assert!(after.iter().any(|r| r["Id"] == before[0]["Id"]));
    // Its download is served from the catalog.
    let newest = &after[0];
    let id = newest["DriveFiles"][0]["Id"].as_str().unwrap();
    let (status, body) = server.get(&format!("/api/backups/{id}/download"));
    assert_eq!(status, 200);
    let path = newest["DriveFiles"][0]["Path"].as_str().unwrap();
    assert_eq!(body, std::fs::read(path).unwrap());
}

#[test]
fn a_manifest_dated_2099_never_sets_the_last_success() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    // Planted: a key from 2020 whose manifest says it finished in 2099.
    let disk = tmp.path().join("disk");
    let key = "demo/demo-20200101T000000.000Z-abcdef.sqlite.gz";
    std::fs::write(disk.join(key), b"planted").unwrap();
    let manifest = serde_json::json!({
        "version": 1, "source": "Demo", "provider": "sqlite", "database": "demo.sqlite",
        "key": key, "started_at": "2099-01-01T00:00:00Z", "finished_at": "2099-01-01T00:00:10Z",
        "size": 7, "compressed_size": 7, "sha256": "00", "compression": "none",
        "tool_version": null, "backupman_version": "0.1.0"
    });
    std::fs::write(
        disk.join(format!("{key}.json")),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let server = Server::start(tmp.path(), &config);
    let seen = server.last_success("Demo");
    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    assert!(seen <= now && seen > now - 600.0, "{seen} vs now {now}");
    let results = server.wait_for_backups(|r| r.len() == 2);
    let planted = results.iter().find(|r| r["Key"] == key).unwrap();
    assert!(
        planted["Untrusted"].as_str().unwrap().contains("suspect"),
        "{planted}"
    );
    assert!(
        planted["CreatedAt"]
            .as_str()
            .unwrap()
            .starts_with("2020-01-01"),
        "{planted}"
    );
}
