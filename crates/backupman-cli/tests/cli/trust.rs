//! What is read back from a drive is a stranger's input: backups planted by someone with
//! write access to the drive (unsigned, badly signed, dated in the future, with a huge
//! manifest) are listed as what they are, and are never "latest", never counted as kept by
//! retention, and never restored unless asked for by key. Signed backups check out by hand
//! with the `minisign` CLI and `sha256sum`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{backupman, sqlite_rows};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// `minisign -G -W`: a key pair without a password, as the docs tell an operator to make.
fn minisign_keypair(dir: &Path) -> (PathBuf, PathBuf) {
    let (secret, public) = (dir.join("backupman.key"), dir.join("backupman.pub"));
    let made = Command::new("minisign")
        .args(["-G", "-W", "-s"])
        .arg(&secret)
        .arg("-p")
        .arg(&public)
        .output()
        .expect("minisign is installed (cargo xtask provisions it)");
    assert!(made.status.success(), "{made:?}");
    (secret, public)
}

fn setup(dir_rest: &str) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!(
        "drives:\n  - provider: local\n    label: Disk\n    folder: disk\n{dir_rest}"
    ))
}

/// The `list --json` entries.
fn list(dir: &Path, config: &str) -> Vec<Value> {
    let run = backupman(dir, &["list", "-c", config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn standing_of(entries: &[Value], key: &str) -> String {
    entries
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {entries:?}"))["standing"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// A backup of source Demo planted straight into the drive's folder, as an attacker with
/// write access would: a real SQLite database of their own, gzip'd, keyed at `at`, with a
/// manifest that matches it in every byte (SHA-256, sizes) and says it began at `claimed`.
fn plant(disk: &Path, at: DateTime<Utc>, claimed: DateTime<Utc>, tag: &str) -> String {
    let key = format!(
        "demo/demo-{}-{tag}.sqlite.gz",
        at.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let db = disk.join(format!("../planted-{tag}.sqlite"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE pwned(x TEXT); INSERT INTO pwned VALUES ('attacker');")
        .unwrap();
    drop(conn);
    let plain = std::fs::read(&db).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let stored = gz.finish().unwrap();
    let object = disk.join(&key);
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, &stored).unwrap();
    let manifest = serde_json::json!({
        "version": 1, "source": "Demo", "provider": "sqlite", "database": "demo.sqlite",
        "key": key, "started_at": claimed, "finished_at": claimed, "size": plain.len(),
        "compressed_size": stored.len(), "sha256": sha256_hex(&object),
        "compression": "gzip-6", "tool_version": null, "backupman_version": "0.1.0"
    });
    std::fs::write(
        format!("{}.json", object.display()),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    key
}

fn genuine_keys(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["standing"] == "signed")
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs minisign (provisioned by xtask): run cargo xtask test"]
fn planted_backups_are_never_latest_never_kept_and_signed_ones_check_by_hand() {
    let (tmp, config) = setup("retention:\n  by: count\n  value: 2\n");
    let dir = tmp.path();
    let (secret, public) = minisign_keypair(dir);
    let config_text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{config_text}signing:\n  secret_key_file: {}\n",
            secret.display()
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let run = backupman(dir, &["run", "-c", &config]);
        assert_eq!(run.code, 0, "{}", run.all());
    }
    let disk = dir.join("disk");
    let genuine = genuine_keys(&list(dir, &config));
    assert_eq!(genuine.len(), 2);

    // By hand, without backupman: the signature and the object's hash.
    let manifest_path = disk.join(format!("{}.json", genuine[0]));
    let checked = Command::new("minisign")
        .arg("-Vm")
        .arg(&manifest_path)
        .arg("-p")
        .arg(&public)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        said.contains(&format!("backupman manifest of {}", genuine[0])),
        "{said}"
    );
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["sha256"], sha256_hex(&disk.join(&genuine[0])));

    // Planted: newer than every genuine backup, unsigned; one with a genuine signature
    // copied beside it; and one dated 2099.
    let now = Utc::now();
    let unsigned = plant(&disk, now + Duration::seconds(30), now, "aaaaaa");
    let resigned = plant(&disk, now + Duration::seconds(40), now, "bbbbbb");
    std::fs::copy(
        disk.join(format!("{}.json.minisig", genuine[0])),
        disk.join(format!("{resigned}.json.minisig")),
    )
    .unwrap();
    let far = Utc::now() + Duration::days(365 * 70);
    let future = plant(&disk, far, far, "cccccc");

    let entries = list(dir, &config);
    assert_eq!(standing_of(&entries, &unsigned), "unsigned");
    assert_eq!(standing_of(&entries, &resigned), "bad signature");
    assert_eq!(standing_of(&entries, &future), "suspect");

    // The newest trusted backup is restored: the demo's rows, never the attacker's.
    let restore = backupman(
        dir,
        &[
            "restore",
            "-c",
            &config,
            "--source",
            "Demo",
            "--latest",
            "--to",
            "restored.sqlite",
        ],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert!(restore.stderr.contains(&genuine[0]), "{}", restore.stderr);
    assert_eq!(
        sqlite_rows(&dir.join("restored.sqlite")),
        crate::common::demo_rows()
    );

    // By key, an untrusted backup is refused before anything is written...
    let refused = backupman(
        dir,
        &[
            "restore",
            "-c",
            &config,
            "--source",
            "Demo",
            &unsigned,
            "--to",
            "planted.sqlite",
        ],
    );
    assert_ne!(refused.code, 0, "{}", refused.all());
    assert!(
        refused.stderr.contains("--allow-untrusted"),
        "{}",
        refused.stderr
    );
    assert!(!dir.join("planted.sqlite").exists());
    // ... and verify says what it is and fails.
    let verify = backupman(
        dir,
        &["verify", "-c", &config, &resigned, "--allow-untrusted"],
    );
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert!(verify.stderr.contains("signature"), "{}", verify.stderr);
    let latest = backupman(dir, &["verify", "-c", &config, "--latest"]);
    assert_eq!(latest.code, 0, "{}", latest.all());
    assert!(latest.stderr.contains(&genuine[0]), "{}", latest.stderr);

    // Retention (keep 2) counts only the two genuine backups: nothing is pushed out now...
    let prune = backupman(dir, &["prune", "-c", &config]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    for key in genuine.iter().chain([&unsigned, &resigned, &future]) {
        assert!(disk.join(key).exists(), "{key} was deleted");
    }
    // ... and after a third genuine backup, the oldest genuine one goes, as it would have
    // without any planted backup; the one dated 2099 stays for the operator to look at.
    let run = backupman(dir, &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after = genuine_keys(&list(dir, &config));
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&genuine[0]), "{after:?}");
    assert!(!disk.join(&genuine[1]).exists());
    assert!(disk.join(&future).exists());
}

#[test]
fn a_huge_manifest_is_refused_unread_and_marks_only_its_backup() {
    let (tmp, config) = setup("");
    let dir = tmp.path();
    let run = backupman(dir, &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    let disk = dir.join("disk");
    let now = Utc::now();
    let huge = plant(
        &disk,
        now - Duration::hours(1),
        now - Duration::hours(1),
        "dddddd",
    );
    // 512 MiB, sparse: nothing on disk, everything to a reader that believes it.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(disk.join(format!("{huge}.json")))
        .unwrap();
    file.set_len(512 * 1024 * 1024).unwrap();
    let empty = plant(
        &disk,
        now - Duration::hours(2),
        now - Duration::hours(2),
        "eeeeee",
    );
    std::fs::write(disk.join(format!("{empty}.json")), b"").unwrap();

    let timed = Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kib=%M"])
        .arg(env!("CARGO_BIN_EXE_backupman"))
        .args(["list", "-c", &config, "--json"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(timed.status.success(), "{timed:?}");
    let entries: Vec<Value> = serde_json::from_slice(&timed.stdout).unwrap();
    assert_eq!(standing_of(&entries, &huge), "damaged");
    assert_eq!(standing_of(&entries, &empty), "damaged");
    // The genuine backup beside them is listed as such.
    assert_eq!(entries.iter().filter(|e| e["standing"] == "ok").count(), 1);
    let stderr = String::from_utf8_lossy(&timed.stderr);
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        rss < 64 * 1024,
        "list took {rss} KiB with a 512 MiB manifest"
    );
}

#[test]
fn a_manifest_dated_unlike_its_key_is_suspect_and_never_latest() {
    let (tmp, config) = setup("");
    let dir = tmp.path();
    let run = backupman(dir, &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    let disk = dir.join("disk");
    // A key from the past whose manifest claims 2099: the key's time stands, and the
    // disagreement makes it suspect.
    let old = Utc::now() - Duration::days(2000);
    let far = Utc::now() + Duration::days(365 * 70);
    let planted = plant(&disk, old, far, "ffffff");
    let entries = list(dir, &config);
    assert_eq!(standing_of(&entries, &planted), "suspect");
    let listed_at = entries.iter().find(|e| e["key"] == planted).unwrap()["taken_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        listed_at.starts_with(&old.format("%Y-%m-%d").to_string()),
        "{listed_at}"
    );
    let restore = backupman(
        dir,
        &[
            "restore", "-c", &config, "--source", "Demo", "--latest", "--to", "r.sqlite",
        ],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(
        sqlite_rows(&dir.join("r.sqlite")),
        crate::common::demo_rows()
    );
}
