//! A store that fails a share of its requests, as a real one does on a bad day: dropped
//! connections, `503 SlowDown`, and answers that never come. Backups to it still all land
//! whole (object and manifest together), verify, and leave no upload open; a store that fails
//! everything fails the run in bounded time with its own error.
//!
//! The scale is set by `BACKUPMAN_FLAKY_ROUNDS` (backups in a row, default 4) and
//! `BACKUPMAN_FLAKY_MIB` (object size, default 16): docs/reliability.md gives the figures of
//! a run at 20 × 60 MiB.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{backupman, random_sqlite, rt};
use backupman_testkit::faults::{FaultProxy, Faults};
use backupman_testkit::s3::{S3Server, Style};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A drive on `server` reached through `proxy`, waiting 2 s for each answer.
fn drive_yaml(server: &S3Server, proxy: &FaultProxy, label: &str) -> String {
    format!(
        "  - provider: s3\n    label: {label}\n    bucket: flaky\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    force_path_style: true\n    timeout_seconds: 2\n    max_attempts: 2\n    part_size_mb: 5\n",
        server.access_key,
        server.secret_key,
        proxy.endpoint(),
    )
}

fn config(dir: &Path, drives: &str) -> String {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: big.sqlite\ncompression:\n  codec: none\ndrives:\n{drives}"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn backups_to_a_flaky_store_all_land_whole_and_leave_nothing_open() {
    let rounds = env_or("BACKUPMAN_FLAKY_ROUNDS", 4);
    let mib = env_or("BACKUPMAN_FLAKY_MIB", 16);
    let rt = rt();
    let fs = S3Server::s3s_fs(Style::Path);
    let rclone = S3Server::rclone(Style::Path);
    rt.block_on(fs.create_bucket("flaky"));
    rt.block_on(rclone.create_bucket("flaky"));
    let faults = Faults {
        drop: 0.2,
        slow_down: 0.2,
        stall: 0.2,
        stall_for: Duration::from_secs(4),
    };
    let to_fs = FaultProxy::start(fs.port, faults, 7);
    let to_rclone = FaultProxy::start(rclone.port, faults, 11);
    let tmp = tempfile::tempdir().unwrap();
    random_sqlite(&tmp.path().join("big.sqlite"), mib as u32);
    let drives = drive_yaml(&fs, &to_fs, "Fs") + &drive_yaml(&rclone, &to_rclone, "Rclone");
    let config = config(tmp.path(), &drives);

    let mut retries_logged = 0;
    for round in 0..rounds {
        let run = backupman(tmp.path(), &["run", "-c", &config, "--debug"]);
        assert_eq!(run.code, 0, "round {round}:\n{}", run.all());
        retries_logged += run.stderr.matches("trying again in").count();
    }
    assert!(
        retries_logged > 0,
        "no retry was needed: the faults did nothing"
    );
    // Nothing is failed any more: every request through the proxies is forwarded.
    to_fs.set(Faults::default());
    to_rclone.set(Faults::default());

    let list = backupman(tmp.path(), &["list", "-c", &config, "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let entries: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(entries.len(), 2 * rounds, "{entries:#?}");
    let plain = std::fs::metadata(tmp.path().join("big.sqlite"))
        .unwrap()
        .len();
    for entry in &entries {
        assert_eq!(entry["standing"], "ok", "{entry}");
        // Stored uncompressed: the whole database, not a byte less.
        assert_eq!(entry["size"].as_u64(), Some(plain), "{entry}");
    }
    let verify = backupman(tmp.path(), &["verify", "-c", &config, "--latest"]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    for entry in entries.iter().filter(|e| e["drive"] == "Fs") {
        let key = entry["key"].as_str().unwrap();
        let verify = backupman(tmp.path(), &["verify", "-c", &config, key]);
        assert_eq!(verify.code, 0, "{}", verify.all());
    }
    assert_eq!(
        rt.block_on(fs.open_uploads("flaky", "")),
        Vec::<String>::new()
    );
    assert_eq!(
        rt.block_on(rclone.open_uploads("flaky", "")),
        Vec::<String>::new()
    );
    for (name, proxy) in [("s3s-fs", &to_fs), ("rclone", &to_rclone)] {
        let t = proxy.tally();
        eprintln!("{name}: {t:?}, retries logged: {retries_logged}");
        assert!(
            t.dropped > 0 && t.slowed > 0 && t.stalled > 0,
            "{name}: {t:?}"
        );
    }
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_store_failing_every_request_fails_the_run_in_bounded_time_with_its_own_error() {
    let fs = S3Server::s3s_fs(Style::Path);
    rt().block_on(fs.create_bucket("flaky"));
    let refusing = FaultProxy::start(
        fs.port,
        Faults {
            slow_down: 1.0,
            ..Faults::default()
        },
        3,
    );
    let tmp = tempfile::tempdir().unwrap();
    random_sqlite(&tmp.path().join("big.sqlite"), 1);
    let config = config(tmp.path(), &drive_yaml(&fs, &refusing, "Fs"));
    let started = Instant::now();
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("SlowDown"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: the store is overloaded"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(150), "took {took:?}");
    assert_eq!(
        rt().block_on(fs.open_uploads("flaky", "")),
        Vec::<String>::new()
    );
}
