//! SIGTERM and SIGINT: scheduling stops, a running backup may finish within the grace
//! period, after it the backup is cancelled with nothing partial left; the exit code is 0.

use std::process::Command;
use std::time::Duration;

use crate::common::{fake_dump_tool, files, wait_until_writing};
use crate::server::{Server, curl, finished, slow_source, write_config};

#[test]
fn sigterm_cancels_a_backup_still_running_after_the_grace_period_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Never finishes: only the cancel ends it.
    let tool = fake_dump_tool(tmp.path(), "od -An -tx1 /dev/urandom");
    let sources = format!(
        "data_sources:\n  - provider: mariadb\n    label: Endless\n    db_name: app\n    dump_tool_path: {}\n",
        tool.display()
    );
    let config = write_config(tmp.path(), &sources, "  shutdown_grace_seconds: 1\n");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let disk = tmp.path().join("disk");
    wait_until_writing(&disk);
    let (code, log) = server.stop("-TERM", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("did not finish within 1 s: cancelling it"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    assert_eq!(
        files(&disk),
        Vec::<std::path::PathBuf>::new(),
        "no object, no temp file"
    );
    // The dump tool was stopped with the run.
    let left = Command::new("pgrep")
        .args(["-f", &tool.display().to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn sigint_lets_a_running_backup_finish_within_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        &slow_source(tmp.path(), 2),
        "  shutdown_grace_seconds: 60\n  backup_job:\n    cron: \"0 0 3 * * *\"\n",
    );
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let (code, log) = server.stop("-INT", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("cancelling"), "{log}");
    assert!(
        log.contains("backup finished: every source stored"),
        "{log}"
    );
    let stored: Vec<_> = files(&tmp.path().join("disk"))
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".sql.gz"))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let dump = crate::common::gunzip(&stored[0]);
    assert_eq!(String::from_utf8_lossy(&dump), "CREATE TABLE t (id INT);\n");
    // Restarted, it lists what the previous process stored.
    let server = Server::start(tmp.path(), &config);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    assert_eq!(results[0]["Label"], "Slow");
}

/// What docs/serve.md promises for the grace period: the server keeps answering, new runs get
/// 503, `/ping` says `stopping` (200: the process is alive) and `/health` answers 503
/// `STOPPING` (so a Kubernetes readiness probe on `/health` takes the pod out of its Service
/// at once), until the running backup finishes and the process exits 0.
#[test]
fn during_the_grace_period_new_runs_get_503_and_ping_and_health_say_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        &slow_source(tmp.path(), 6),
        "  shutdown_grace_seconds: 60\n  backup_job:\n    cron: \"0 0 3 * * *\"\n",
    );
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    std::thread::sleep(Duration::from_millis(300));
    server.signal("-TERM");

    // The signal is handled a moment later: until then a new run is refused as running (409).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let post = || {
        let key = format!("X-Api-Key: {}", crate::server::KEY);
        curl(&server.url("/api/backups"), &["-X", "POST", "-H", &key])
    };
    let (status, body) = loop {
        let (status, body) = post();
        if status != 409 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // curl's status 0: nothing answered (the connection was refused).
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "POST /api/backups: {text}\n{}", server.log());
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["Error"]
            .as_str()
            .is_some_and(|e| e.contains("shutting down")),
        "{body}"
    );

    // Still alive (a liveness probe must not kill it mid-grace), but saying so.
    let (status, body) = curl(&server.url("/ping"), &[]);
    assert_eq!(status, 200, "/ping: {}", String::from_utf8_lossy(&body));
    let ping: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ping, serde_json::json!({"message": "stopping"}));

    let (status, body) = curl(&server.url("/health"), &[]);
    assert_eq!(status, 503, "/health: {}", String::from_utf8_lossy(&body));
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["Status"], "STOPPING", "{health}");

    // The running backup still finishes within the grace period, and is stored.
    let (code, log) = server.wait_exit("after SIGTERM", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("cancelling"), "{log}");
    assert!(
        log.contains("backup finished: every source stored"),
        "{log}"
    );
    let stored: Vec<_> = files(&tmp.path().join("disk"))
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".sql.gz"))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
}
