//! `retry` and `notifiers.ping` with the real binary: a dump that fails twice, then
//! succeeds, gives one backup and three attempts in the report; a backup that reached one
//! drive of two is reported, not retried; a ping receiver (a real HTTP server on loopback)
//! sees `/start` then the success ping, and `/start` then `/fail`.

use std::path::Path;

use crate::common::{Run, backupman, files, listener, notify_setup};
use backupman_testkit::db::{Db, PgDb};
use serde_json::Value;

fn bm(dir: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--config", "config.yml"]);
    backupman(dir, &all)
}

/// A `pg_dump` wrapper that counts its dumps in `count` and fails the first `failures`.
fn flaky_pg_dump(dir: &Path, failures: u32) -> String {
    let count = dir.join("count");
    let path = backupman_testkit::script(
        dir,
        "pg_dump",
        &format!(
            "case \"$1\" in --version) exec pg_dump --version;; esac\n\
             n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 ))\n\
             echo $n > {count}\n\
             if [ $n -le {failures} ]; then echo \"pg_dump: simulated failure $n\" >&2; exit 1; fi\n\
             PATH=/usr/bin:/bin exec pg_dump \"$@\"",
            count = count.display()
        ),
    );
    path.display().to_string()
}

fn dumps_run(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn objects(folder: &Path) -> usize {
    files(folder)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.gz"))
        .count()
}

#[test]
fn a_dump_failing_twice_then_succeeding_is_one_backup_after_three_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = PgDb::create("retry");
    db.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let tool = flaky_pg_dump(dir, 2);
    let source = db.source_yaml("Flaky");
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "retry: {{attempts: 3, delay_seconds: 0}}\ndata_sources:\n{source}    dump_tool_path: {tool}\n\
             drives:\n  - provider: local\n    label: Disk\n    folder: disk\n"
        ),
    )
    .unwrap();
    let run = bm(dir, &["run", "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flaky = &report["sources"][0];
    assert_eq!(flaky["ok"], true, "{flaky:#}");
    assert_eq!(flaky["attempts"], 3, "{flaky:#}");
    let failed = flaky["failed_attempts"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{flaky:#}");
    assert!(
        failed[0].as_str().unwrap().contains("simulated failure 1"),
        "{failed:?}"
    );
    assert!(
        failed[1].as_str().unwrap().contains("simulated failure 2"),
        "{failed:?}"
    );
    assert_eq!(dumps_run(dir), 3);
    assert_eq!(objects(&dir.join("disk")), 1, "one backup, not three");
    assert!(
        run.stderr.contains("Flaky: attempt 1 of 3 failed"),
        "{}",
        run.stderr
    );

    // Out of attempts: the last failure is the source's, and the report says how many.
    std::fs::remove_file(dir.join("count")).unwrap();
    let tool = flaky_pg_dump(dir, 5);
    let config = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    std::fs::write(
        dir.join("config.yml"),
        config.replace("attempts: 3", "attempts: 2"),
    )
    .unwrap();
    assert!(tool.ends_with("pg_dump"));
    let run = bm(dir, &["run", "--json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flaky = &report["sources"][0];
    assert_eq!(flaky["attempts"], 2, "{flaky:#}");
    assert!(
        flaky["error"]
            .as_str()
            .unwrap()
            .contains("simulated failure 2"),
        "{flaky:#}"
    );
    assert_eq!(objects(&dir.join("disk")), 1, "nothing more stored");
}

#[test]
fn a_backup_stored_on_one_drive_of_two_is_reported_not_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = PgDb::create("retry_partial");
    db.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let tool = flaky_pg_dump(dir, 0);
    std::fs::write(dir.join("not-a-folder"), b"a file where a folder should be").unwrap();
    let source = db.source_yaml("Partial");
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "data_sources:\n{source}    dump_tool_path: {tool}\n    retry: {{attempts: 3, delay_seconds: 0}}\n\
             drives:\n  - provider: local\n    label: Disk\n    folder: disk\n\
             \x20 - provider: local\n    label: Broken\n    folder: not-a-folder/inside\n"
        ),
    )
    .unwrap();
    let run = bm(dir, &["run", "--json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let partial = &report["sources"][0];
    assert_eq!(partial["attempts"], 1, "{partial:#}");
    assert_eq!(partial["drives"][0]["ok"], true, "{partial:#}");
    assert_eq!(partial["drives"][1]["ok"], false, "{partial:#}");
    assert_eq!(dumps_run(dir), 1);
    assert_eq!(objects(&dir.join("disk")), 1);
}

/// The path and body of each request the receiver got.
fn pings(requests: Vec<crate::common::Request>) -> Vec<(String, String)> {
    requests
        .into_iter()
        .map(|r| {
            let path = r.request_line.split(' ').nth(1).unwrap().to_owned();
            assert!(r.request_line.starts_with("POST "), "{}", r.request_line);
            (path, String::from_utf8(r.body).unwrap())
        })
        .collect()
}

#[test]
fn a_ping_receiver_sees_start_then_success_and_start_then_fail() {
    let (url, receiver) = listener("200 OK", 2);
    let tmp = notify_setup(&format!(
        "  ping:\n    endpoints:\n      - name: hc\n        url: {url}\n"
    ));
    let dir = tmp.path();
    let run = bm(dir, &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = pings(receiver.join().unwrap());
    let path = url.split_once("127.0.0.1").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, format!("{path}/start"));
    assert_eq!(got[1].0, path);
    assert!(got[1].1.ends_with(": all 2 backups stored"), "{got:?}");

    // The next run fails (a source's file is gone): `/start`, then `/fail`.
    let (url, receiver) = listener("200 OK", 2);
    let config = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    let old = config.lines().find(|l| l.contains("url:")).unwrap().trim();
    std::fs::write(
        dir.join("config.yml"),
        config.replace(old, &format!("url: {url}")),
    )
    .unwrap();
    std::fs::remove_file(dir.join("copy.sqlite")).unwrap();
    let run = bm(dir, &["run"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let got = pings(receiver.join().unwrap());
    let path = url.split_once("127.0.0.1").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, format!("{path}/start"));
    assert_eq!(got[1].0, format!("{path}/fail"));
    assert!(got[1].1.ends_with(": 1 of 2 backups FAILED"), "{got:?}");
}
