//! Every codec through the real `backupman` binary: a PostgreSQL database backed up to an S3
//! server (`rclone serve s3`) and a local folder at once, the stored object read back with
//! the aws CLI and decoded by the codec's own tool (`gunzip`, `zstd -d`), then `list`,
//! `run --test-mode`, `verify --restore`, `restore` into a new database (rows compared) and
//! `prune`, over a folder that mixes codecs as a changed configuration leaves it.
//! Run with `cargo xtask test` (PostgreSQL on 127.0.0.1:5432, the S3 servers provisioned).

use std::path::Path;
use std::process::Command;

use crate::common::{Run, backupman, files};
use backupman_testkit::db::{Db, PgDb, output_of};
use backupman_testkit::s3::{S3Server, Style};
use sha2::{Digest, Sha256};

/// Rows like an application's, about 6 MB of dump: many gzip blocks, several zstd jobs.
const ROWS: &str = "CREATE TABLE events(id bigint PRIMARY KEY, path text, agent text, token text);
INSERT INTO events SELECT g, '/app/users/' || (g % 5000) || '/files/' || g || '.pdf',
  (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'curl/8.5.0', 'okhttp/4.12.0'])[1 + g % 3],
  md5(g::text) FROM generate_series(1, 60000) g;";

/// A line the plain dump must hold: row 4242 as `COPY` writes it.
const ROW: &str = "4242\t/app/users/4242/files/4242.pdf\tMozilla/5.0 (X11; Linux x86_64)\t";

struct Setup {
    tmp: tempfile::TempDir,
    server: S3Server,
    src: PgDb,
}

impl Setup {
    fn new() -> Self {
        let server = S3Server::rclone(Style::Path);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(server.create_bucket("backups"));
        let src = PgDb::create("codec");
        src.sql(ROWS);
        Self {
            tmp: tempfile::tempdir().unwrap(),
            server,
            src,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes the configuration with this `compression` section (and retention keeping one)
    /// and returns its path.
    fn configure(&self, compression: &str) -> String {
        let s = &self.server;
        let text = format!(
            "data_sources:\n{}drives:\n  - provider: s3\n    label: S3\n    bucket: backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    force_path_style: true\n  - provider: local\n    label: L\n    folder: drive\nretention:\n  by: count\n  value: 1\ncompression: {compression}\n",
            self.src.source_yaml("App"),
            s.access_key,
            s.secret_key,
            s.endpoint,
        );
        let path = self.dir().join("config.yml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn bm(&self, config: &str, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        let run = backupman(self.dir(), &all);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        run
    }

    /// The object at `key` on the S3 drive, read with the aws CLI.
    fn s3_object(&self, key: &str) -> Vec<u8> {
        let mut cmd = self.server.aws_cli();
        cmd.args(["s3", "cp", &format!("s3://backups/{key}"), "-"]);
        output_of(&mut cmd, None)
    }

    /// Every key `list --json` shows on drive `drive`, sorted.
    fn listed(&self, config: &str, drive: &str) -> Vec<String> {
        let list = self.bm(config, &["list", "--json", "--drive", drive]);
        let entries: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        let mut keys: Vec<String> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    }
}

/// The stored file at `path` decoded by the codec's own command-line tool.
fn decode_with_tool(tool: &[&str], path: &Path) -> Vec<u8> {
    if tool.is_empty() {
        return std::fs::read(path).unwrap();
    }
    let mut cmd = Command::new(tool[0]);
    cmd.args(&tool[1..]).arg(path);
    output_of(&mut cmd, None)
}

/// One backup with `compression`, checked end to end; returns its key.
fn back_up_and_check(
    s: &Setup,
    compression: &str,
    suffix: &str,
    label: &str,
    tool: &[&str],
) -> String {
    let config = s.configure(compression);
    let before = s.listed(&config, "S3");
    s.bm(&config, &["run"]);
    let key = s
        .listed(&config, "S3")
        .into_iter()
        .find(|k| !before.contains(k))
        .expect("a new backup is listed");
    assert!(key.ends_with(&format!(".sql{suffix}")), "{key}");
    assert_eq!(s.listed(&config, "L").last(), Some(&key));

    // Both drives hold the same bytes; the manifest describes them and names the codec.
    let stored = s.s3_object(&key);
    let local_path = s.dir().join("drive").join(&key);
    let local = std::fs::read(&local_path).unwrap();
    assert!(stored == local, "the drives hold different bytes for {key}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&s.s3_object(&format!("{key}.json"))).unwrap();
    assert_eq!(manifest["compression"], label);
    assert_eq!(manifest["compressed_size"], stored.len() as u64);
    assert_eq!(manifest["sha256"], format!("{:x}", Sha256::digest(&stored)));

    let plain = decode_with_tool(tool, &local_path);
    assert_eq!(manifest["size"], plain.len() as u64);
    let text = String::from_utf8(plain).unwrap();
    assert!(
        text.contains("CREATE TABLE \"public\".\"events\""),
        "not a dump: {}",
        &text[..text.len().min(3000)]
    );
    assert!(text.contains(ROW), "row 4242 is missing from the dump");
    if !tool.is_empty() {
        assert!(
            stored.len() * 3 < text.len(),
            "{} of {}",
            stored.len(),
            text.len()
        );
    }

    // Test mode reads its own backup back and leaves nothing behind.
    let files_before = files(&s.dir().join("drive")).len();
    let test = s.bm(&config, &["run", "--test-mode"]);
    assert!(test.stderr.contains("App"), "{}", test.all());
    assert_eq!(files(&s.dir().join("drive")).len(), files_before);

    // A restore drill from S3, then a restore into a new database, rows compared.
    let verify = s.bm(
        &config,
        &["verify", &key, "--drive", "S3", "--restore", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(report[0]["ok"], true, "{}", verify.stdout);
    let copy = PgDb::create("codec_copy");
    s.bm(
        &config,
        &[
            "restore",
            "--source",
            "App",
            &key,
            "--drive",
            "S3",
            "--to",
            copy.name(),
        ],
    );
    assert_eq!(copy.fingerprint(), s.src.fingerprint());
    key
}

#[test]
#[ignore = "needs PostgreSQL and the S3 servers: run cargo xtask test"]
fn gzip_on_two_threads_round_trips_and_gunzip_reads_it() {
    let s = Setup::new();
    back_up_and_check(
        &s,
        "{codec: gzip, level: 6, threads: 2}",
        ".gz",
        "gzip-6",
        &["gunzip", "-c"],
    );
}

#[test]
#[ignore = "needs PostgreSQL and the S3 servers: run cargo xtask test"]
fn zstd_round_trips_and_zstd_reads_it() {
    let s = Setup::new();
    back_up_and_check(
        &s,
        "{codec: zstd, threads: 2}",
        ".zst",
        "zstd-3",
        &["zstd", "-dc"],
    );
}

#[test]
#[ignore = "needs PostgreSQL and the S3 servers: run cargo xtask test"]
fn uncompressed_round_trips() {
    let s = Setup::new();
    back_up_and_check(&s, "{codec: none}", "", "none", &[]);
}

/// A folder as a changed configuration leaves it: a backup as older versions wrote it (gzip,
/// the old `level`-only section), then zstd, then none. Each is still listed, verified and
/// restored, and retention counts them all as one source's backups.
#[test]
#[ignore = "needs PostgreSQL and the S3 servers: run cargo xtask test"]
fn mixed_codecs_in_one_folder_all_restore_and_retention_sees_them_all() {
    let s = Setup::new();
    let old_style = s.configure("{level: 6}");
    s.bm(&old_style, &["run", "--drive", "L"]);
    let gz = s.listed(&old_style, "L").pop().unwrap();
    assert!(gz.ends_with(".sql.gz"), "{gz}");

    let zstd = s.configure("{codec: zstd, level: 19, threads: 1}");
    let text = std::fs::read_to_string(&zstd).unwrap();
    // Retention would delete the gzip backup at once; keep everything for now.
    std::fs::write(&zstd, text.replace("  value: 1\n", "  value: 10\n")).unwrap();
    s.bm(&zstd, &["run", "--drive", "L"]);
    let none = s.configure("{codec: none}");
    std::fs::write(
        &none,
        std::fs::read_to_string(&none)
            .unwrap()
            .replace("  value: 1\n", "  value: 10\n"),
    )
    .unwrap();
    s.bm(&none, &["run", "--drive", "L"]);
    let keys = s.listed(&none, "L");
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys[1].ends_with(".sql.zst") && keys[2].ends_with(".sql"),
        "{keys:?}"
    );

    for key in &keys {
        let copy = PgDb::create("codec_mixed");
        s.bm(
            &none,
            &[
                "restore",
                "--source",
                "App",
                key,
                "--drive",
                "L",
                "--to",
                copy.name(),
            ],
        );
        assert_eq!(copy.fingerprint(), s.src.fingerprint(), "{key}");
    }
    for key in &keys {
        let verify = s.bm(&none, &["verify", key, "--drive", "L", "--json"]);
        let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
        assert_eq!(report[0]["ok"], true, "{}", verify.stdout);
    }

    // Keeping one: the newest (uncompressed) stays, the gzip and zstd ones go with their
    // manifests.
    let keep_one = s.configure("{codec: none}");
    s.bm(&keep_one, &["prune"]);
    assert_eq!(s.listed(&keep_one, "L"), vec![keys[2].clone()]);
    let left: Vec<String> = files(&s.dir().join("drive"))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(left.len(), 2, "the backup and its manifest: {left:?}");
}
