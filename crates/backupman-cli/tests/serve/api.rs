//! The schedule, the API key, one run at a time, and local downloads.

use std::time::Duration;

use crate::common::{backupman, gunzip, sqlite_rows};
use crate::server::{KEY, LOCAL_DISK, Server, curl, finished, setup, slow_source, write_config};

#[test]
fn an_every_second_schedule_makes_backups_that_verify() {
    let (tmp, config) = setup(LOCAL_DISK, "  backup_job:\n    cron: \"* * * * * *\"\n");
    let server = Server::start(tmp.path(), &config);
    let results = server.wait_for_backups(|r| finished(r).len() >= 2);
    for backup in finished(&results) {
        assert_eq!(backup["Label"], "Demo");
        let files = backup["DriveFiles"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{backup}");
        assert_eq!(files[0]["Provider"], "local");
        assert_eq!(files[0]["Label"], "Disk");
        assert_eq!(files[0]["BackupId"], backup["Id"]);
        // The stored object is the demo database, row for row.
        let path = std::path::Path::new(files[0]["Path"].as_str().unwrap());
        let restored = tmp.path().join("restored.sqlite");
        std::fs::write(&restored, gunzip(path)).unwrap();
        assert_eq!(
            sqlite_rows(&restored),
            sqlite_rows(&tmp.path().join("demo.sqlite"))
        );
    }
    let (code, log) = server.stop("-TERM", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("backup started (schedule)"), "{log}");
    // Every stored backup checks out against its manifest and gzip stream.
    let verified = backupman(tmp.path(), &["verify", "--latest", "-c", &config]);
    assert_eq!(verified.code, 0, "{}", verified.all());
}

#[test]
fn the_api_needs_one_of_the_keys() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    let unauthorized = br#"{"error":"Unauthorized"}"#.to_vec();
    for path in [
        "/api/backups",
        "/api/backups/0123/download",
        "/api/backups/0123/generate-download-url",
    ] {
        let url = server.url(path);
        assert_eq!(curl(&url, &[]), (401, unauthorized.clone()), "{path}");
        assert_eq!(
            curl(&url, &["-H", "X-Api-Key: test-key-2"]),
            (401, unauthorized.clone()),
            "{path}"
        );
        assert_eq!(
            curl(&url, &["-H", &format!("X-Api-Key: {KEY}x")]),
            (401, unauthorized.clone()),
            "{path}"
        );
    }
    assert_eq!(
        curl(&server.url("/api/backups"), &["-X", "POST"]).0,
        401,
        "POST without a key starts nothing"
    );
    assert_eq!(
        server.json("/api/backups")["Results"],
        serde_json::json!([])
    );
    // Unknown ids, with the key: the original's error shape.
    let (status, body) = server.get("/api/backups/0123/download");
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(body["Error"].as_str().unwrap().contains("0123"), "{body}");
    // The open routes.
    assert_eq!(
        curl(&server.url("/ping"), &[]),
        (200, br#"{"message":"pong"}"#.to_vec())
    );
    let health: serde_json::Value =
        serde_json::from_slice(&curl(&server.url("/health"), &[]).1).unwrap();
    assert_eq!(health["Status"], "UP", "{health}");
    // The build's facts, as `version` says them.
    let version = crate::common::backupman(tmp.path(), &["version", "--json"]);
    let version: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
    assert!(!version["commit"].as_str().unwrap().is_empty());
    assert_eq!(health["CommitSHA"], version["commit"], "{health}");
    assert_eq!(health["BuildDate"], version["build_date"], "{health}");
    assert_eq!(health["Version"], version["version"], "{health}");
    assert_eq!(
        health["Details"]["DataSources"]["Components"]["Demo"]["Status"],
        "UP"
    );
    assert_eq!(
        health["Details"]["Drives"]["Components"]["Disk"]["Status"],
        "UP"
    );
    assert!(
        crate::common::files(&tmp.path().join("disk"))
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".gz")),
        "nothing was backed up"
    );
}

#[test]
fn serve_refuses_to_start_without_an_api_key() {
    let (tmp, config) = crate::common::demo_setup(&format!("drives:\n{LOCAL_DISK}"));
    let run = backupman(
        tmp.path(),
        &["serve", "-c", &config, "--bind", "127.0.0.1", "-p", "0"],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("http.api_keys is empty"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_start_while_a_backup_runs_is_refused_not_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &slow_source(tmp.path(), 3), "");
    let server = Server::start(tmp.path(), &config);
    let (status, body) = server.post_backup();
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"Message": "Backup started"}))
    );
    let (status, body) = server.post_backup();
    assert_eq!(status, 409, "{body}");
    assert!(
        body["Error"].as_str().unwrap().contains("already running"),
        "{body}"
    );
    // While it runs it is listed as pending, with a pending copy per drive.
    let pending = server.json("/api/backups")["Results"].clone();
    assert_eq!(pending[0]["Status"], "pending", "{pending}");
    assert_eq!(pending[0]["Label"], "Slow");
    assert_eq!(pending[0]["DriveFiles"][0]["Status"], "pending");
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    assert_eq!(
        results.len(),
        1,
        "the refused start was not queued: {results:#?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.json("/api/backups")["Results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Once it has ended, a new one may start.
    assert_eq!(server.post_backup().0, 200);
    server.wait_for_backups(|r| finished(r).len() == 2);
}

#[test]
fn a_failed_run_is_listed_as_failed_and_ids_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = crate::common::fake_dump_tool(tmp.path(), "sh -c 'echo boom >&2; exit 2'");
    let sources = format!(
        "data_sources:\n  - provider: mariadb\n    label: Broken\n    db_name: app\n    dump_tool_path: {}\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n",
        broken.display()
    );
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        tmp.path().join("demo.sqlite"),
    )
    .unwrap();
    let config = write_config(tmp.path(), &sources, "");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let results = server
        .wait_for_backups(|r| r.iter().any(|b| b["Status"] == "failed") && !finished(r).is_empty());
    let failed = results.iter().find(|b| b["Status"] == "failed").unwrap();
    assert_eq!(failed["Label"], "Broken");
    let stored_id = finished(&results)[0]["Id"].clone();
    let (code, log) = server.stop("-TERM", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    // After a restart the stored backup is there under the same id; the failure is not.
    let server = Server::start(tmp.path(), &config);
    let results = server.json("/api/backups")["Results"].clone();
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    assert_eq!(results[0]["Id"], stored_id);
    assert_eq!(results[0]["Status"], "finished");
}

#[test]
fn a_local_backup_downloads_with_the_key_or_a_signed_link() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    let backup = &results[0];
    let file = &backup["DriveFiles"][0];
    let stored = std::fs::read(file["Path"].as_str().unwrap()).unwrap();
    let (status, body) = server.get(&format!(
        "/api/backups/{}/download",
        file["Id"].as_str().unwrap()
    ));
    assert_eq!(status, 200);
    assert_eq!(
        body, stored,
        "the download is the stored object, byte for byte"
    );

    let link = server.json(&format!(
        "/api/backups/{}/generate-download-url",
        backup["Id"].as_str().unwrap()
    ));
    let url = link["Url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://localhost:{}/api/backups/", server.port)),
        "{link}"
    );
    // A plain client, no key.
    let (status, body) = curl(url, &[]);
    assert_eq!(status, 200);
    assert_eq!(body, stored);
    // A tampered link is refused.
    let tampered = url.replace("signature=", "signature=00");
    assert_eq!(curl(&tampered, &[]).0, 401);
    let later = url.replace("expires=", "expires=9");
    assert_eq!(curl(&later, &[]).0, 401);
    // Unknown backup id.
    assert_eq!(server.get("/api/backups/feed/generate-download-url").0, 404);
}

#[test]
fn a_download_of_an_object_deleted_from_the_drive_answers_404() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    let file = &results[0]["DriveFiles"][0];
    let path = std::path::Path::new(file["Path"].as_str().unwrap());
    // Gone behind the service's back: its catalog (refreshed every 60 s) still lists it.
    std::fs::remove_file(path).unwrap();
    let (status, body) = server.get(&format!(
        "/api/backups/{}/download",
        file["Id"].as_str().unwrap()
    ));
    let body = String::from_utf8_lossy(&body);
    assert_eq!(
        status, 404,
        "an object that is not there is not a broken store: {body}"
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(body.contains(name), "the answer names the object: {body}");
}
