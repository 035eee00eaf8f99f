//! A source's own `schedule` beside `http.backup_job`: `Demo` every 2 s on its own, `Copy`
//! every 3 s by the backup job. Each is backed up as often as its schedule ticked while the
//! server ran, and `GET /api/schedule` and `/metrics` show each one's next run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::files;
use crate::server::{KEY, LOCAL_DISK, Server};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Whole seconds in `(from, to]` that are multiples of `every`: the ticks of `*/every` in
/// the seconds field (60 is a multiple of 2 and 3).
fn ticks(from: f64, to: f64, every: u64) -> u64 {
    ((from.floor() as u64 + 1)..=(to.floor() as u64))
        .filter(|s| s % every == 0)
        .count() as u64
}

fn stored(dir: &std::path::Path, folder: &str) -> u64 {
    files(&dir.join("disk").join(folder))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".sqlite.gz"))
        .count() as u64
}

#[test]
fn a_source_on_its_own_schedule_runs_beside_the_backup_job() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for name in ["demo.sqlite", "copy.sqlite"] {
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
            dir.join(name),
        )
        .unwrap();
    }
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n\
             \x20 - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n    schedule:\n      cron: \"*/2 * * * * *\"\n\
             \x20 - provider: sqlite\n    label: Copy\n    db_path: copy.sqlite\n\
             drives:\n{LOCAL_DISK}http:\n  api_keys: [{KEY}]\n  backup_job:\n    cron: \"*/3 * * * * *\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(dir, &config.display().to_string());
    let started = now();

    let schedule = server.json("/api/schedule");
    let sources = schedule["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{schedule:#}");
    let of = |label: &str| sources.iter().find(|s| s["source"] == label).unwrap();
    assert_eq!(of("Demo")["from"], "schedule");
    assert_eq!(of("Demo")["cron"], "*/2 * * * * *");
    assert_eq!(of("Copy")["from"], "backup_job");
    assert_eq!(of("Copy")["timezone"], "UTC");
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    for label in ["Demo", "Copy"] {
        assert!(
            metrics.contains(&format!(
                "backupman_next_run_timestamp_seconds{{source=\"{label}\"}} "
            )),
            "{metrics}"
        );
    }

    std::thread::sleep(Duration::from_millis(12_500));
    // A tick at the very moment of the signal may or may not start: one each way is allowed.
    let stopping = now();
    let (code, log) = server.stop("-TERM", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{log}");
    let (demo, copy) = (stored(dir, "demo"), stored(dir, "copy"));
    let (every_2, every_3) = (ticks(started, stopping, 2), ticks(started, stopping, 3));
    assert!(
        demo.abs_diff(every_2) <= 1,
        "Demo: {demo} backups, {every_2} ticks\n{log}"
    );
    assert!(
        copy.abs_diff(every_3) <= 1,
        "Copy: {copy} backups, {every_3} ticks\n{log}"
    );
    assert!(demo > copy, "Demo {demo}, Copy {copy}");
}
