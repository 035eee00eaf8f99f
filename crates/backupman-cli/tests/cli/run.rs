//! `backupman run` end to end: real binary, real SQLite files, real folders.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{backupman, files, gunzip, sqlite_rows};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn backups(dir: &Path) -> Vec<std::path::PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".gz"))
        .collect()
}

#[test]
fn quickstart_backup_restores_to_exactly_the_source_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = tmp.path().join("examples");
    std::fs::create_dir(&examples).unwrap();
    for f in ["quickstart.yml", "demo.sqlite"] {
        std::fs::copy(repo().join("examples").join(f), examples.join(f)).unwrap();
    }
    let run = backupman(tmp.path(), &["run", "--config", "examples/quickstart.yml"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let stored = backups(&tmp.path().join("quickstart-backups"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        run.stderr.contains("✔ Demo → Local Folder"),
        "{}",
        run.stderr
    );

    let restored = tmp.path().join("restored.sqlite");
    std::fs::write(&restored, gunzip(&stored[0])).unwrap();
    let source_rows = sqlite_rows(&examples.join("demo.sqlite"));
    assert!(source_rows.len() > 500, "the demo has data");
    assert!(
        source_rows
            .iter()
            .any(|r| r.contains("Zoë Ünïcødé 🚀") && r.contains("NULL"))
    );
    assert!(
        source_rows
            .iter()
            .any(|r| r.contains("x'89504e470d0a1a0a00ff'"))
    );
    assert_eq!(sqlite_rows(&restored), source_rows);
    let view: i64 = rusqlite::Connection::open(&restored)
        .unwrap()
        .query_row("SELECT count(*) FROM big_spenders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(view, 4);
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("config.yml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn demo_copy(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("demo.sqlite");
    std::fs::copy(repo().join("examples/demo.sqlite"), &db).unwrap();
    db
}

#[test]
fn two_drives_get_identical_objects_and_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n  - provider: local\n    label: B\n    folder: b\n",
    );
    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let sha = report["sources"][0]["sha256"].as_str().unwrap().to_owned();
    let a = backups(&tmp.path().join("a"));
    let b = backups(&tmp.path().join("b"));
    assert_eq!(a.len(), 1);
    let bytes_a = std::fs::read(&a[0]).unwrap();
    assert_eq!(bytes_a, std::fs::read(&b[0]).unwrap());
    let check = backupman_core::check_stored(&bytes_a[..], None).unwrap();
    assert_eq!(check.sha256, sha);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", a[0].display())).unwrap())
            .unwrap();
    assert_eq!(manifest["sha256"], sha.as_str());
    assert_eq!(manifest["compressed_size"], bytes_a.len() as u64);
    assert_eq!(manifest["provider"], "sqlite");
}

#[test]
fn a_broken_drive_fails_the_run_and_the_other_drive_completes() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    std::fs::write(
        tmp.path().join("blocker"),
        "a file where a folder should be",
    )
    .unwrap();
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: Broken Disk\n    folder: blocker/backups\n  - provider: local\n    label: Good Disk\n    folder: good\n",
    );
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("✘ Demo → Broken Disk"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("blocker/backups"), "{}", run.stderr);
    assert!(run.stderr.contains("✔ Demo → Good Disk"), "{}", run.stderr);
    let good = backups(&tmp.path().join("good"));
    assert_eq!(good.len(), 1);
    std::fs::write(tmp.path().join("r.sqlite"), gunzip(&good[0])).unwrap();
    assert_eq!(
        sqlite_rows(&tmp.path().join("r.sqlite")),
        sqlite_rows(&tmp.path().join("demo.sqlite"))
    );
}

#[test]
fn a_missing_source_fails_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Gone\n    db_path: nowhere.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n",
    );
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("nowhere.sqlite does not exist"),
        "{}",
        run.stderr
    );
    assert_eq!(
        files(&tmp.path().join("a")),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn an_invalid_configuration_exits_2_listing_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: X\ndrives:\n  - provider: s3\n    label: S3\n    bucket: my-bucket\n    region: \"\"\n",
    );
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("2 problems"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("line 2: data_sources[0].db_path: missing required option"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("line 8: drives[0].region: must not be empty"),
        "{}",
        run.stderr
    );

    let missing = backupman(tmp.path(), &["run", "-c", "nope.yml"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("cannot read configuration nope.yml"),
        "{}",
        missing.stderr
    );

    let bad_flag = backupman(tmp.path(), &["run", "--no-such-flag"]);
    assert_eq!(bad_flag.code, 2);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n  - provider: s3\n    label: Spaces\n    bucket: my-space\n    region: nyc3\n    endpoint: https://nyc3.digitaloceanspaces.com\n    force_path_style: true\n    access_key: K\n    secret_key: S3cr3tValue\n",
    );
    let run = backupman(tmp.path(), &["run", "-c", &config, "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("source \"Demo\" (sqlite:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "s3://my-space/ (region nyc3, https://nyc3.digitaloceanspaces.com, path-style)"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("S3cr3tValue"));
    assert!(!tmp.path().join("a").exists());
}

#[test]
fn source_and_drive_filters() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n  - provider: sqlite\n    label: Other\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n  - provider: local\n    label: B\n    folder: b\n",
    );
    let run = backupman(
        tmp.path(),
        &["run", "-c", &config, "--source", "other", "--drive", "B"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!tmp.path().join("a").exists());
    let b = backups(&tmp.path().join("b"));
    assert_eq!(b.len(), 1);
    assert!(b[0].to_string_lossy().contains("/other/other-"), "{b:?}");
    let unknown = backupman(tmp.path(), &["run", "-c", &config, "--source", "nope"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no source labelled \"nope\""),
        "{}",
        unknown.stderr
    );
}

#[test]
fn debug_output_never_contains_a_secret() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = write_config(
        tmp.path(),
        &format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n  - provider: s3\n    label: S3\n    bucket: bucket\n    region: us-east-1\n    endpoint: http://127.0.0.1:{closed_port}\n    force_path_style: true\n    access_key: AKIADEBUGTEST\n    secret_key: ${{THE_SECRET}}\n    max_attempts: 1\n    timeout_seconds: 2\nnotifiers:\n  webhook:\n    endpoints:\n      - url: http://127.0.0.1:{closed_port}/hook\n        token: tok-${{THE_SECRET}}\n"
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args(["run", "-c", &config, "--debug"])
        .current_dir(tmp.path())
        .env("THE_SECRET", "wJalrXUtnFEMI-very-secret")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("DEBUG") || all.contains("debug"),
        "debug logging is on: {all}"
    );
    assert!(!all.contains("wJalrXUtnFEMI"), "secret leaked: {all}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the S3 drive on a closed port fails: {all}"
    );
    assert_eq!(backups(&tmp.path().join("a")).len(), 1);
}

#[test]
fn sqlite_written_during_the_backup_yields_a_consistent_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("live.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
             INSERT INTO t SELECT i, hex(randomblob(64)) FROM n;",
        )
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .unwrap();
            let mut written = 0u64;
            // Bounded: stops when told, or after 100k batches at the latest.
            while !stop.load(Ordering::Relaxed) && written < 100_000 {
                conn.execute_batch(
                    "BEGIN; INSERT INTO t (v) VALUES (hex(randomblob(64))); UPDATE t SET v = 'changed' WHERE id = abs(random()) % 200000; COMMIT;",
                )
                .unwrap();
                written += 1;
            }
            written
        })
    };
    let config = write_config(
        tmp.path(),
        "data_sources:\n  - provider: sqlite\n    label: Live\n    db_path: live.sqlite\ndrives:\n  - provider: local\n    label: A\n    folder: a\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(written > 0, "the writer was writing during the backup");
    let restored = tmp.path().join("restored.sqlite");
    std::fs::write(&restored, gunzip(&backups(&tmp.path().join("a"))[0])).unwrap();
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert!(rows >= 200_000, "{rows}");
}

#[test]
fn version_and_completions() {
    let tmp = tempfile::tempdir().unwrap();
    // Outside a git checkout the binary says `unknown`, as it does.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let commit = commit.as_str();
    let version = backupman(tmp.path(), &["version"]);
    assert_eq!(version.code, 0);
    let lines: Vec<&str> = version.stdout.lines().collect();
    assert_eq!(lines[0], format!("Version: {}", env!("CARGO_PKG_VERSION")));
    // Built from this checkout (tests build the binary from the working tree's HEAD).
    assert_eq!(lines[1], format!("Commit SHA: {commit}"));
    let date = lines[2].strip_prefix("Build Date: ").unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(date).is_ok(),
        "{date:?}"
    );
    let json = backupman(tmp.path(), &["version", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["commit"], commit);
    assert_eq!(v["build_date"], date);
    let flag = backupman(tmp.path(), &["--version"]);
    assert_eq!(
        flag.stdout.trim(),
        format!(
            "backupman {} (commit {commit}, built {date})",
            env!("CARGO_PKG_VERSION")
        )
    );
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef backupman"),
        ("fish", "complete -c backupman"),
    ] {
        let run = backupman(tmp.path(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for command in ["run", "health", "list", "verify", "restore", "prune"] {
            assert!(
                run.stdout.contains(command),
                "{shell} completion lacks {command}"
            );
        }
    }
    let unknown = backupman(tmp.path(), &["completions", "cmd.exe"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn an_sqlite_sources_tmp_folder_is_where_its_snapshot_stages() {
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path());
    let config = |tmp_folder: &str| {
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n    tmp_folder: {tmp_folder}\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\n"
        )
    };
    // Relative to the configuration's folder, not the working directory.
    let conf_dir = tmp.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    std::fs::rename(tmp.path().join("demo.sqlite"), conf_dir.join("demo.sqlite")).unwrap();

    // A file where the staging folder should be: the snapshot cannot stage, nothing is stored.
    std::fs::write(conf_dir.join("not-a-folder"), "x").unwrap();
    let path = write_config(&conf_dir, &config("not-a-folder"));
    let run = backupman(tmp.path(), &["run", "-c", &path]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("cannot create the staging folder"),
        "{}",
        run.stderr
    );
    assert!(backups(&conf_dir.join("disk")).is_empty());

    // A missing folder is created, as the original did.
    let path = write_config(&conf_dir, &config("./tmp/stage"));
    let run = backupman(tmp.path(), &["run", "-c", &path]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(backups(&conf_dir.join("disk")).len(), 1);
    // The snapshot was staged there and removed once read.
    assert_eq!(
        std::fs::read_dir(conf_dir.join("tmp/stage"))
            .unwrap()
            .count(),
        0
    );
    assert!(
        !run.stderr.contains("tmp_folder"),
        "no note for sqlite: {}",
        run.stderr
    );
}
