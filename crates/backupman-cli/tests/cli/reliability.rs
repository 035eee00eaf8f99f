//! No backup is ever lost or replaced: labels in any script, runs that overlap, retention
//! beside foreign files, a prune that fails partway, a full disk and a killed run, each tried
//! with the real binary on real folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{
    backupman, demo_setup, fake_dump_tool, files, gunzip, sqlite_rows, wait_until_writing,
};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite");

/// The backup objects (not manifests, not temp files) under `dir`, relative to it.
fn backups(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .filter(|p| p.ends_with(".gz"))
        .collect()
}

/// The rows of the SQLite database held in a `.sqlite.gz` backup.
fn rows_of_backup(backup: &Path) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("restored.sqlite");
    std::fs::write(&db, gunzip(backup)).unwrap();
    sqlite_rows(&db)
}

#[test]
fn labels_in_any_script_get_folders_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = String::from("data_sources:\n");
    for label in ["Source", "Продакшн", "日本"] {
        config.push_str(&format!(
            "  - provider: sqlite\n    label: {label}\n    db_path: {DEMO}\n"
        ));
    }
    config.push_str("drives:\n  - provider: local\n    label: Disk\n    folder: disk\n");
    std::fs::write(tmp.path().join("config.yml"), config).unwrap();

    let run = backupman(tmp.path(), &["run", "-c", "config.yml"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let found = backups(&tmp.path().join("disk"));
    assert_eq!(found.len(), 3, "{found:?}");
    let expected = sqlite_rows(Path::new(DEMO));
    for folder in ["source", "продакшн", "日本"] {
        let mine: Vec<&String> = found
            .iter()
            .filter(|k| k.starts_with(&format!("{folder}/{folder}-")))
            .collect();
        assert_eq!(mine.len(), 1, "{folder}: {found:?}");
        assert_eq!(
            rows_of_backup(&tmp.path().join("disk").join(mine[0])),
            expected
        );
    }
    // Each is found again by its own label.
    let restored = tmp.path().join("restored.sqlite");
    let run = backupman(
        tmp.path(),
        &[
            "restore",
            "-c",
            "config.yml",
            "--source",
            "Продакшн",
            "--latest",
            "--to",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(sqlite_rows(&restored), expected);
}

#[test]
fn labels_that_would_share_a_folder_are_refused_naming_both() {
    let (tmp, config) = demo_setup(
        "  - provider: sqlite\n    label: app!\n    db_path: demo.sqlite\n  - provider: sqlite\n    label: '???'\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("label: Demo", "label: App");
    std::fs::write(&config, text).unwrap();
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(
            "label \"app!\" and \"App\" (data_sources[0]) both name the backup folder \"app\""
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("label \"???\" has no letter or digit to name its backup folder"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("disk").exists(), "nothing was written");
}

#[test]
fn overlapping_runs_of_one_source_keep_every_backup() {
    let (tmp, config) =
        demo_setup("drives:\n  - provider: local\n    label: Disk\n    folder: disk\n");
    let expected = sqlite_rows(Path::new(DEMO));
    // Rounds of two processes started together: same source, same drive, same second.
    let rounds = 4;
    for _ in 0..rounds {
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_backupman"))
                .args(["run", "-c", &config, "--quiet"])
                .current_dir(tmp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let disk = tmp.path().join("disk");
    let found = backups(&disk);
    assert_eq!(found.len(), 2 * rounds, "{found:?}");
    for key in &found {
        assert_eq!(rows_of_backup(&disk.join(key)), expected, "{key}");
        assert!(disk.join(format!("{key}.json")).is_file(), "{key}");
        let verify = backupman(tmp.path(), &["verify", "-c", &config, key]);
        assert_eq!(verify.code, 0, "{}", verify.all());
    }
}

#[test]
fn backups_named_in_the_first_format_still_list_verify_and_restore() {
    let (tmp, config) =
        demo_setup("drives:\n  - provider: local\n    label: Disk\n    folder: disk\n");
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    // The backup and its manifest as the first key format named them.
    let disk = tmp.path().join("disk");
    let new = backups(&disk).remove(0);
    let old = "demo/demo-20260101T000000Z.sqlite.gz";
    std::fs::rename(disk.join(&new), disk.join(old)).unwrap();
    // Its manifest names its own key and time, as the first format's manifests did.
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(disk.join(format!("{new}.json"))).unwrap()).unwrap();
    manifest["key"] = old.into();
    manifest["started_at"] = "2026-01-01T00:00:00Z".into();
    manifest["finished_at"] = "2026-01-01T00:00:01Z".into();
    std::fs::write(
        disk.join(format!("{old}.json")),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(disk.join(format!("{new}.json"))).unwrap();

    let list = backupman(tmp.path(), &["list", "-c", &config, "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    assert!(list.stdout.contains(old), "{}", list.stdout);
    let verify = backupman(tmp.path(), &["verify", "-c", &config, old]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    let restored = tmp.path().join("restored.sqlite");
    let restore = backupman(
        tmp.path(),
        &[
            "restore",
            "-c",
            &config,
            "--source",
            "Demo",
            old,
            "--to",
            restored.to_str().unwrap(),
        ],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(sqlite_rows(&restored), sqlite_rows(Path::new(DEMO)));
}

#[test]
fn retention_touches_only_the_sources_own_backups() {
    let (tmp, config) = demo_setup(
        "  - provider: sqlite\n    label: App Two\n    db_path: demo.sqlite\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\nretention:\n  by: count\n  value: 1\n",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("label: Demo", "label: App");
    std::fs::write(&config, text).unwrap();
    let disk = tmp.path().join("disk");
    // Old-looking files that are not App's backups: in a sub-folder of App's folder, and in
    // the folder of the other source.
    let foreign = [
        "app/nested/nested-20200101T000000Z.sqlite.gz",
        "app/notes-20200101T000000Z.sqlite.gz",
        "app-two/app-two-20200101T000000Z.sqlite.gz",
    ];
    for f in foreign {
        let path = disk.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not App's").unwrap();
    }
    // An App backup of the first key format: retention deletes it, as it always did.
    let old = disk.join("app/app-20200101T000000Z.sqlite.gz");
    std::fs::write(&old, b"old").unwrap();

    let run = backupman(tmp.path(), &["run", "-c", &config, "--source", "App"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!old.exists(), "{}", run.stderr);
    for f in foreign {
        assert_eq!(std::fs::read(disk.join(f)).unwrap(), b"not App's", "{f}");
    }
    let apps: Vec<String> = backups(&disk)
        .into_iter()
        .filter(|k| k.starts_with("app/app-"))
        .collect();
    assert_eq!(apps.len(), 1, "{apps:?}");
}

#[test]
fn prune_reports_what_it_deleted_when_it_fails_partway() {
    let (tmp, config) = demo_setup(
        "drives:\n  - provider: local\n    label: Disk\n    folder: disk\nretention:\n  by: count\n  value: 1\n",
    );
    let disk = tmp.path().join("disk/demo");
    std::fs::create_dir_all(&disk).unwrap();
    let keys = [
        "demo-20260101T000000Z.sqlite.gz",
        "demo-20260102T000000Z.sqlite.gz",
        "demo-20260103T000000Z.sqlite.gz",
    ];
    for (day, k) in keys.iter().enumerate() {
        std::fs::write(disk.join(k), b"x").unwrap();
        let at = format!("2026-01-0{}T00:00:00Z", day + 1);
        let manifest = serde_json::json!({
            "version": 1, "source": "Demo", "provider": "sqlite", "database": "demo.sqlite",
            "key": format!("demo/{k}"), "started_at": at, "finished_at": at, "size": 1,
            "compressed_size": 1, "sha256": "00", "compression": "gzip-6",
            "tool_version": null, "backupman_version": "test"
        });
        std::fs::write(
            disk.join(format!("{k}.json")),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    }
    // The second-newest backup's records cannot be deleted (a folder stands where its
    // signature would be): its object goes first, then deleting stops there.
    let blocker = disk.join(format!("{}.json.minisig", keys[1]));
    std::fs::create_dir_all(blocker.join("inside")).unwrap();

    let run = backupman(tmp.path(), &["prune", "-c", &config, "--json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report[0]["ok"], false);
    assert_eq!(
        report[0]["deleted"],
        serde_json::json!([format!("demo/{}", keys[1])])
    );
    assert!(
        run.stderr
            .contains("retention deleted Demo → Disk: demo/demo-20260102T000000Z.sqlite.gz"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("✘ retention Demo → Disk: stopped after deleting 1 (listed above)"),
        "{}",
        run.stderr
    );
    assert!(!disk.join(keys[1]).exists());
    assert!(disk.join(keys[0]).exists(), "nothing after the failure");
    assert!(disk.join(keys[2]).exists(), "the newest is kept");
}

/// A tmpfs of `size` mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (cargo xtask test runs as root in CI)"
        );
        Self(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "mounts a tmpfs: needs root (run by cargo xtask test)"]
fn a_full_disk_fails_only_its_drive_and_leaves_nothing_there() {
    let tmp = tempfile::tempdir().unwrap();
    // 4 MiB of random bytes: about as large gzipped, four times what the small disk holds.
    let db = tmp.path().join("random.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64)
         INSERT INTO blobs (data) SELECT randomblob(65536) FROM n;",
    )
    .unwrap();
    drop(conn);
    let small = Tmpfs::mount(tmp.path().join("small"), "1m");
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Random\n    db_path: {}\ndrives:\n  - provider: local\n    label: Small\n    folder: {}\n  - provider: local\n    label: Big\n    folder: big\n",
            db.display(),
            small.0.display()
        ),
    )
    .unwrap();

    let run = backupman(tmp.path(), &["run", "-c", "config.yml"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("✘ Random → Small:"))
        .unwrap_or_else(|| panic!("no line for the full drive: {}", run.stderr));
    assert!(line.contains("No space left on device"), "{line}");
    assert!(line.contains(&small.0.display().to_string()), "{line}");
    assert!(line.contains("free in all"), "{line}");
    assert_eq!(files(&small.0), Vec::<PathBuf>::new(), "no temp file left");
    let big = backups(&tmp.path().join("big"));
    assert_eq!(big.len(), 1, "{}", run.stderr);
    assert_eq!(
        rows_of_backup(&tmp.path().join("big").join(&big[0])),
        sqlite_rows(&db)
    );
}

#[test]
fn a_killed_run_leaves_a_temp_file_that_the_next_run_discards() {
    let tmp = tempfile::tempdir().unwrap();
    let tool = fake_dump_tool(tmp.path(), "od -An -tx1 /dev/urandom");
    let drive = "drives:\n  - provider: local\n    label: Disk\n    folder: disk\n";
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Endless\n    db_name: app\n    dump_tool_path: {}\n{drive}",
            tool.display()
        ),
    )
    .unwrap();
    // Afterwards the drive is looked after with a source that `health` can check quickly.
    let config = |hours: u32| {
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: {DEMO}\n{drive}incomplete_uploads:\n  abort_after_hours: {hours}\nretention:\n  by: count\n  value: 3\n"
        )
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args(["run", "-c", "config.yml"])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let disk = tmp.path().join("disk");
    wait_until_writing(&disk);
    // What a power cut or the OOM killer does: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let left = files(&disk);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".backupman-tmp-")
    );

    std::fs::write(tmp.path().join("config.yml"), config(24)).unwrap();
    let health = backupman(tmp.path(), &["health", "-c", "config.yml"]);
    assert!(
        health.stdout.contains(&format!(
            "⚠ warning: incomplete uploads: 1 incomplete upload(s) under {} left by an interrupted run",
            disk.display()
        )),
        "{}",
        health.stdout
    );
    // A young leftover may be a backup still running elsewhere: kept at the default age.
    let prune = backupman(tmp.path(), &["prune", "-c", "config.yml"]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    assert_eq!(files(&disk), left, "{}", prune.all());
    // With any age allowed it is discarded, and said so.
    std::fs::write(tmp.path().join("config.yml"), config(0)).unwrap();
    let prune = backupman(tmp.path(), &["prune", "-c", "config.yml"]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    assert!(
        prune
            .stderr
            .contains("✔ Disk: discarded 1 incomplete upload(s) older than 0 h"),
        "{}",
        prune.stderr
    );
    assert_eq!(files(&disk), Vec::<PathBuf>::new());
}
