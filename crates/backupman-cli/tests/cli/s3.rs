//! The real `backupman` binary against real S3 servers (s3s-fs, `rclone serve s3`, moto, and
//! MinIO when available) on loopback ports: the spec's example configurations, health,
//! test mode, retention, list/verify/restore, a store failing mid-upload, a wrong secret.
//! Objects are read back with an independent client (the SDK directly, or the aws CLI) and
//! compared with the source's rows.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{
    Run, backupman_env as backupman, demo_rows, fake_dump_tool, forged_backup, interrupt_and_wait,
    random_sqlite, rt, s3_drive_yaml, sqlite_rows,
};
use aws_sdk_s3::primitives::ByteStream;
use backupman_testkit::s3::{HEALTH_CHECKS, S3Server, Style, bin_from_env, free_port};
use chrono::Utc;
use sha2::{Digest, Sha256};

/// A temp folder holding `demo.sqlite` (the example database) and `config.yml` with it as the
/// only source, then `drives` (YAML lines) and `extra` (more top-level sections).
fn setup(drives: &str, extra: &str) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!("drives:\n{drives}{extra}"))
}

/// Every object in `bucket` as (key, ETag), sorted by key.
async fn objects(server: &S3Server, bucket: &str) -> Vec<(String, String)> {
    let client = server.drive(bucket, "").client().clone();
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2 on {}: {e:?}", server.name()));
        for o in page.contents() {
            found.push((
                o.key().unwrap_or_default().to_owned(),
                o.e_tag().unwrap_or_default().to_owned(),
            ));
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    found.sort();
    found
}

async fn keys(server: &S3Server, bucket: &str) -> Vec<String> {
    objects(server, bucket)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// `bucket` holds no object and no open multipart upload: whatever ran left nothing behind.
fn assert_bucket_empty(rt: &tokio::runtime::Runtime, server: &S3Server, bucket: &str) {
    assert_eq!(rt.block_on(keys(server, bucket)), Vec::<String>::new());
    assert_eq!(
        rt.block_on(server.open_uploads(bucket, "")),
        Vec::<String>::new(),
        "an open multipart upload was left behind"
    );
}

async fn get(server: &S3Server, bucket: &str, key: &str) -> Vec<u8> {
    let out = server
        .drive(bucket, "")
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key} on {}: {e:?}", server.name()));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn put(server: &S3Server, bucket: &str, key: &str, body: Vec<u8>) {
    server
        .drive(bucket, "")
        .client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key} on {}: {e:?}", server.name()));
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a complete gzip stream");
    out
}

/// The rows of a SQLite database given as bytes.
fn rows_of(db: &[u8]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("restored.sqlite");
    std::fs::write(&path, db).unwrap();
    sqlite_rows(&path)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that `object` is a backup of the demo database and that `manifest` describes it.
fn assert_backup_of_demo(object: &[u8], manifest: &[u8]) {
    let plain = gunzip(object);
    assert_eq!(
        rows_of(&plain),
        demo_rows(),
        "the backup holds the source's rows"
    );
    let manifest: serde_json::Value = serde_json::from_slice(manifest).expect("manifest is JSON");
    assert_eq!(manifest["source"], "Demo");
    assert_eq!(manifest["sha256"], sha256_hex(object), "{manifest}");
    assert_eq!(
        manifest["compressed_size"],
        object.len() as u64,
        "{manifest}"
    );
    assert_eq!(manifest["size"], plain.len() as u64, "{manifest}");
}

/// The spec's "MinIO Development Setup", with the local server's endpoint and keys.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn minio_development_setup_stores_the_backup_under_its_prefix() {
    let rt = rt();
    let server = S3Server::minio().unwrap_or_else(|| S3Server::s3s_fs(Style::Path));
    rt.block_on(server.create_bucket("dev-backups"));
    let drive = format!(
        "  - provider: s3\n    label: Development Backups\n    bucket: dev-backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    prefix: dev-db-backups\n    force_path_style: true\n",
        server.access_key, server.secret_key, server.endpoint
    );
    let (tmp, config) = setup(&drive, "");

    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("✔ Demo → Development Backups: s3://dev-backups/dev-db-backups/demo/demo-"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let key = report["sources"][0]["key"].as_str().unwrap().to_owned();

    let keys = rt.block_on(keys(&server, "dev-backups"));
    let object_key = format!("dev-db-backups/{key}");
    assert_eq!(keys, [object_key.clone(), format!("{object_key}.json")]);
    assert!(
        object_key.starts_with("dev-db-backups/demo/demo-") && object_key.ends_with(".sqlite.gz"),
        "{object_key}"
    );

    // Read back with the aws CLI: another client than the one that wrote it.
    let read = |key: &str| {
        let out = server
            .aws_cli()
            .args(["s3", "cp", &format!("s3://dev-backups/{key}"), "-"])
            .output()
            .expect("run aws s3 cp");
        assert!(
            out.status.success(),
            "aws s3 cp {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_backup_of_demo(&read(&object_key), &read(&format!("{object_key}.json")));
}

/// The spec's "Multiple S3 Providers": one drive virtual-hosted on one server, one path-style
/// with a prefix on another, plus a local folder; credentials from `${VAR}`s.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn multiple_s3_providers_get_identical_objects_at_once() {
    let rt = rt();
    let aws = S3Server::s3s_fs(Style::VirtualHosted);
    let minio = S3Server::rclone(Style::Path);
    rt.block_on(aws.create_bucket("primary-backups"));
    rt.block_on(minio.create_bucket("secondary-backups"));
    let drives = format!(
        "  - provider: s3
    label: AWS Primary
    bucket: primary-backups
    region: us-east-1
    access_key: ${{AWS_ACCESS_KEY_ID}}
    secret_key: ${{AWS_SECRET_ACCESS_KEY}}
    endpoint: {}
    force_path_style: false

  - provider: s3
    label: MinIO Backup
    bucket: secondary-backups
    region: us-east-1
    access_key: ${{MINIO_ACCESS_KEY}}
    secret_key: ${{MINIO_SECRET_KEY}}
    endpoint: {}
    prefix: backup-storage
    force_path_style: true

  - provider: local
    label: Disk
    folder: disk
",
        aws.endpoint, minio.endpoint
    );
    assert!(
        aws.endpoint.starts_with("http://localhost:"),
        "virtual-hosted needs a host name"
    );
    let (tmp, config) = setup(&drives, "");
    let env = [
        ("AWS_ACCESS_KEY_ID", aws.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", aws.secret_key.as_str()),
        ("MINIO_ACCESS_KEY", minio.access_key.as_str()),
        ("MINIO_SECRET_KEY", minio.secret_key.as_str()),
    ];

    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"], &env);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let key = report["sources"][0]["key"].as_str().unwrap().to_owned();
    let drives: Vec<_> = report["sources"][0]["drives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["drive"].as_str().unwrap().to_owned(),
                d["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        drives,
        [
            ("AWS Primary".to_owned(), true),
            ("MinIO Backup".to_owned(), true),
            ("Disk".to_owned(), true)
        ]
    );

    assert_eq!(
        rt.block_on(keys(&aws, "primary-backups")),
        [key.clone(), format!("{key}.json")]
    );
    let prefixed = format!("backup-storage/{key}");
    assert_eq!(
        rt.block_on(keys(&minio, "secondary-backups")),
        [prefixed.clone(), format!("{prefixed}.json")]
    );
    let on_aws = rt.block_on(get(&aws, "primary-backups", &key));
    let on_minio = rt.block_on(get(&minio, "secondary-backups", &prefixed));
    let on_disk = std::fs::read(tmp.path().join("disk").join(&key)).unwrap();
    assert!(
        on_aws == on_minio && on_minio == on_disk,
        "one stream, identical objects"
    );
    assert_backup_of_demo(
        &on_aws,
        &rt.block_on(get(&aws, "primary-backups", &format!("{key}.json"))),
    );
    let manifests = [
        rt.block_on(get(
            &minio,
            "secondary-backups",
            &format!("{prefixed}.json"),
        )),
        std::fs::read(tmp.path().join("disk").join(format!("{key}.json"))).unwrap(),
    ];
    for manifest in manifests {
        assert_backup_of_demo(&on_aws, &manifest);
    }

    // An unset variable is a configuration error naming it, before anything is sent.
    let run = backupman(tmp.path(), &["run", "-c", &config], &env[..3]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("MINIO_SECRET_KEY"), "{}", run.stderr);
}

fn check_names(report: &serde_json::Value) -> Vec<(String, bool)> {
    report["drives"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn health_passes_on_a_good_s3_drive_and_leaves_nothing() {
    let rt = rt();
    let server = S3Server::s3s_fs(Style::Path);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&s3_drive_yaml(&server, "Bucket", "backups", "db"), "");
    let run = backupman(tmp.path(), &["health", "-c", &config, "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // s3s-fs has no ListMultipartUploads: an advisory warning, the drive is still healthy.
    let expected: Vec<(String, bool)> = HEALTH_CHECKS
        .iter()
        .map(|c| (c.to_string(), *c != "incomplete uploads"))
        .collect();
    assert_eq!(check_names(&report), expected);
    for check in &HEALTH_CHECKS[..4] {
        assert!(
            run.stderr.contains(&format!("    ✔ {check}\n")),
            "{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("healthy"), "{}", run.stderr);
    assert_bucket_empty(&rt, &server, "backups");
}

/// moto with IAM authorization: a user whose policy is the spec's minimum without
/// s3:DeleteObject.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn health_names_a_missing_delete_permission() {
    let rt = rt();
    // Requests 1-4 (create bucket, user, its policy, its key) run before authorization starts.
    let server = S3Server::moto(Style::Path, Some(4));
    rt.block_on(server.create_bucket("backups"));
    let (key, secret) = server.iam_user(
        "backup",
        "backups",
        &[
            "s3:PutObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:AbortMultipartUpload",
        ],
    );
    let (key, secret) = (key.as_str(), secret.as_str());
    let drive = format!(
        "  - provider: s3\n    label: Restricted\n    bucket: backups\n    region: us-east-1\n    access_key: {key}\n    secret_key: \"{secret}\"\n    endpoint: {}\n    force_path_style: true\n    max_attempts: 1\n",
        server.endpoint
    );
    let (tmp, config) = setup(&drive, "");

    let run = backupman(tmp.path(), &["health", "-c", &config, "--json"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = check_names(&report);
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| c.as_str())
        .collect();
    // The policy has no s3:ListBucketMultipartUploads either: an advisory warning only.
    assert_eq!(
        failing,
        ["DeleteObject", "incomplete uploads"],
        "{}",
        run.stderr
    );
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("✘ DeleteObject"))
        .unwrap_or_else(|| panic!("no DeleteObject line: {}", run.stderr));
    assert!(line.contains("Access Denied"), "{line}");
    assert!(
        line.contains("hint:") && line.contains("s3:DeleteObject"),
        "{line}"
    );
    assert!(!run.all().contains(secret), "the secret never shows");
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn test_mode_leaves_the_bucket_exactly_as_it_was() {
    let rt = rt();
    let server = S3Server::moto(Style::VirtualHosted, None);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&s3_drive_yaml(&server, "Bucket", "backups", "prod"), "");
    let real = backupman(tmp.path(), &["run", "-c", &config], &[]);
    assert_eq!(real.code, 0, "{}", real.all());
    let before = rt.block_on(objects(&server, "backups"));
    assert_eq!(
        before.len(),
        2,
        "a real backup and its manifest: {before:?}"
    );

    let test = backupman(
        tmp.path(),
        &["run", "-c", &config, "--test-mode", "--json"],
        &[],
    );
    assert_eq!(test.code, 0, "{}", test.all());
    assert!(
        test.stderr.contains(
            "✔ test mode Demo → Bucket: written, read back (SHA-256 and stream intact), deleted"
        ),
        "{}",
        test.stderr
    );
    assert_eq!(rt.block_on(objects(&server, "backups")), before);
    assert_eq!(
        rt.block_on(server.open_uploads("backups", "")),
        Vec::<String>::new()
    );
}

/// A backup of "Demo" taken `days_ago`, as the engine would have stored it under `prefix/`.
async fn forge(server: &S3Server, bucket: &str, prefix: &str, days_ago: i64) -> String {
    let (key, manifest) = forged_backup(Utc::now() - chrono::Duration::days(days_ago), false);
    put(
        server,
        bucket,
        &format!("{prefix}/{key}"),
        b"not really gzip".to_vec(),
    )
    .await;
    put(server, bucket, &format!("{prefix}/{key}.json"), manifest).await;
    key
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn prune_deletes_the_right_objects_on_the_bucket() {
    let rt = rt();
    let server = S3Server::rclone(Style::Path);
    rt.block_on(server.create_bucket("backups"));
    // Something that is not a backup, beside them: never touched.
    rt.block_on(put(
        &server,
        "backups",
        "prod/README.txt",
        b"hands off".to_vec(),
    ));
    let young = rt.block_on(forge(&server, "backups", "prod", 2));
    let old = rt.block_on(forge(&server, "backups", "prod", 30));
    let older = rt.block_on(forge(&server, "backups", "prod", 300));
    let (tmp, config) = setup(
        &s3_drive_yaml(&server, "Bucket", "backups", "prod"),
        "retention:\n  enabled: true\n  by: age\n  value: 10\n",
    );
    let all = rt.block_on(keys(&server, "backups"));
    assert_eq!(all.len(), 7);

    let dry = backupman(
        tmp.path(),
        &["prune", "-c", &config, "--dry-run", "--json"],
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    let report: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(report[0]["deleted"], serde_json::json!([old, older]));
    assert_eq!(
        rt.block_on(keys(&server, "backups")),
        all,
        "a dry run deletes nothing"
    );

    let real = backupman(tmp.path(), &["prune", "-c", &config], &[]);
    assert_eq!(real.code, 0, "{}", real.all());
    assert!(
        real.stdout
            .contains(&format!("deleted Demo → Bucket: {old}")),
        "{}",
        real.stdout
    );
    let mut expected = vec![
        "prod/README.txt".to_owned(),
        format!("prod/{young}"),
        format!("prod/{young}.json"),
    ];
    expected.sort();
    assert_eq!(rt.block_on(keys(&server, "backups")), expected);
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn list_verify_restore_and_damaged_objects() {
    let rt = rt();
    let server = S3Server::s3s_fs(Style::VirtualHosted);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&s3_drive_yaml(&server, "Bucket", "backups", "prod"), "");
    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let key = report["sources"][0]["key"].as_str().unwrap().to_owned();
    let object_key = format!("prod/{key}");

    let list = backupman(tmp.path(), &["list", "-c", &config, "--json"], &[]);
    assert_eq!(list.code, 0, "{}", list.all());
    let entries: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["key"], key.as_str());
    assert_eq!(entries[0]["drive"], "Bucket");
    assert_eq!(entries[0]["source"], "Demo");
    assert_eq!(entries[0]["has_manifest"], true);
    let stored = rt.block_on(get(&server, "backups", &object_key));
    assert_eq!(entries[0]["sha256"], sha256_hex(&stored));

    let verify = backupman(tmp.path(), &["verify", "-c", &config, "--latest"], &[]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stderr.contains(&format!("✔ Demo on Bucket: {key}")),
        "{}",
        verify.stderr
    );

    let restore = backupman(
        tmp.path(),
        &[
            "restore",
            "-c",
            &config,
            "--source",
            "Demo",
            "--latest",
            "--to",
            "file.sqlite",
        ],
        &[],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(sqlite_rows(&tmp.path().join("file.sqlite")), demo_rows());

    // One flipped byte in the middle of the object.
    let mut flipped = stored.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    rt.block_on(put(&server, "backups", &object_key, flipped));
    let verify = backupman(tmp.path(), &["verify", "-c", &config, "--latest"], &[]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_damaged(&verify, &key);

    // Cut short.
    rt.block_on(put(
        &server,
        "backups",
        &object_key,
        stored[..stored.len() / 2].to_vec(),
    ));
    let verify = backupman(tmp.path(), &["verify", "-c", &config, "--latest"], &[]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert_damaged(&verify, &key);
}

fn assert_damaged(run: &Run, key: &str) {
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("✘ Demo on Bucket:"))
        .unwrap_or_else(|| panic!("no failure line: {}", run.stderr));
    assert!(line.contains(key), "{line}");
    assert!(line.contains("damaged"), "{line}");
}

/// A loopback TCP relay in front of a live S3 server that cuts every connection carrying an
/// UploadPart request with a part number of `from_part` or more, as a store dying in the
/// middle of a multipart upload would; every other request passes through untouched. Stops
/// when dropped (connection threads end with their sockets, which time out).
struct CuttingProxy {
    port: u16,
    cut: Arc<AtomicUsize>,
    parts_passed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CuttingProxy {
    fn start(upstream: u16, from_part: u32) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicUsize::new(0));
        let parts_passed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, p, s) = (cut.clone(), parts_passed.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (c, p) = (c.clone(), p.clone());
                        std::thread::spawn(move || relay(client, upstream, from_part, &c, &p));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            cut,
            parts_passed,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn part_number(request_line: &str) -> Option<u32> {
    if !request_line.starts_with("PUT ") || !request_line.contains("uploadId=") {
        return None;
    }
    let (_, rest) = request_line.split_once("partNumber=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Copies requests from `client` to the server one by one (head, then Content-Length bytes of
/// body), and the server's bytes back as they come.
fn relay(
    client: TcpStream,
    upstream: u16,
    from_part: u32,
    cut: &AtomicUsize,
    passed: &AtomicUsize,
) {
    let timeout = Some(Duration::from_secs(30));
    let _ = client.set_read_timeout(timeout);
    let Ok(mut server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
        return;
    };
    let _ = server.set_read_timeout(timeout);
    let (mut back_from, mut back_to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut back_from, &mut back_to);
        let _ = back_to.shutdown(Shutdown::Both);
    });
    let mut reader = BufReader::new(client.try_clone().unwrap());
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = server.shutdown(Shutdown::Both);
                    return;
                }
                Ok(_) => {}
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        if let Some(n) = part_number(&request_line) {
            if n >= from_part {
                cut.fetch_add(1, Ordering::Relaxed);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            passed.fetch_add(1, Ordering::Relaxed);
        }
        let length: u64 = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        if server.write_all(head.as_bytes()).is_err()
            || std::io::copy(&mut (&mut reader).take(length), &mut server).is_err()
        {
            let _ = server.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The store stops taking parts after the second one of a ~60 MB multipart upload: the run
/// fails naming the drive, the upload is aborted (nothing open on the server) and no object
/// or manifest is left.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_store_failing_mid_multipart_upload_leaves_nothing() {
    let rt = rt();
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    let proxy = CuttingProxy::start(server.port, 3);
    let tmp = tempfile::tempdir().unwrap();
    random_sqlite(&tmp.path().join("big.sqlite"), 60);
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: big.sqlite\ndrives:\n  - provider: s3\n    label: Flaky Store\n    bucket: backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: http://127.0.0.1:{}\n    prefix: prod\n    force_path_style: true\n    part_size_mb: 5\n    max_attempts: 2\n    timeout_seconds: 20\n  - provider: local\n    label: Disk\n    folder: disk\n",
            server.access_key, server.secret_key, proxy.port
        ),
    )
    .unwrap();

    let run = backupman(tmp.path(), &["run", "-c", config.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        proxy.parts_passed.load(Ordering::Relaxed) >= 2,
        "the first parts went through"
    );
    assert!(proxy.cut.load(Ordering::Relaxed) >= 1, "the fault fired");
    let failure = run
        .stderr
        .lines()
        .find(|l| l.starts_with("✘ Big → Flaky Store:"))
        .unwrap_or_else(|| panic!("the failing drive is named: {}", run.stderr));
    assert!(
        !failure.contains("Error {") && !failure.contains("SdkError"),
        "{failure}"
    );
    assert!(
        run.stderr.contains("✔ Big → Disk:"),
        "the other drive is independent: {}",
        run.stderr
    );
    assert_bucket_empty(&rt, &server, "backups");
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_wrong_secret_is_one_line_with_the_hint_and_never_the_secret() {
    let rt = rt();
    let server = S3Server::s3s_fs(Style::Path);
    rt.block_on(server.create_bucket("backups"));
    let secret = "Wr0ng-Secret/Value+123";
    let drive = format!(
        "  - provider: s3\n    label: Bucket\n    bucket: backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{secret}\"\n    endpoint: {}\n    force_path_style: true\n    max_attempts: 1\n",
        server.access_key, server.endpoint
    );
    let (tmp, config) = setup(&drive, "");
    for args in [
        vec!["run", "-c", &config],
        vec!["run", "-c", &config, "--debug"],
        vec!["health", "-c", &config],
    ] {
        let run = backupman(tmp.path(), &args, &[]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        let all = run.all();
        assert!(!all.contains(secret), "{args:?} shows the secret: {all}");
        for dump in ["Error {", "SdkError", "ServiceError {"] {
            assert!(!all.contains(dump), "{args:?} shows an SDK dump: {all}");
        }
        if args.contains(&"--debug") {
            assert!(
                all.contains("S3 request failed"),
                "debug logs the failure: {all}"
            );
            continue;
        }
        let lines: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("SignatureDoesNotMatch"))
            .collect();
        assert!(!lines.is_empty(), "{args:?}: {all}");
        if args[0] == "run" {
            assert_eq!(lines.len(), 1, "{}", run.stderr);
        }
        assert!(lines[0].contains("secret_key"), "the hint: {}", lines[0]);
    }
    assert_eq!(rt.block_on(keys(&server, "backups")), Vec::<String>::new());
}

/// An s3s-fs process on a given port and data folder, killed when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_s3s_fs(port: u16, data: &Path) -> Process {
    let child = std::process::Command::new(bin_from_env("BACKUPMAN_S3S_FS_BIN"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "killed", "--secret-key", "killed-secret"])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let started = std::time::Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "s3s-fs did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Process(child)
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The server process is killed (SIGKILL) once the first parts of a ~60 MB multipart upload
/// are on its disk, and started again on the same folder and port once backupman's first
/// attempt to abort the upload has failed: the run fails naming the drive, and the restarted server holds no object and
/// no upload (the abort is retried until the store answers again).
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_server_killed_mid_multipart_upload_keeps_no_object_and_no_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    std::fs::create_dir_all(data.join("backups")).unwrap(); // s3s-fs: a folder is a bucket
    random_sqlite(&tmp.path().join("big.sqlite"), 60);
    let port = free_port();
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: big.sqlite\ndrives:\n  - provider: s3\n    label: Killed Store\n    bucket: backups\n    region: us-east-1\n    access_key: killed\n    secret_key: killed-secret\n    endpoint: http://127.0.0.1:{port}\n    force_path_style: true\n    part_size_mb: 5\n    max_attempts: 2\n    timeout_seconds: 10\n"
        ),
    )
    .unwrap();
    let mut server = start_s3s_fs(port, &data);
    let stderr_path = tmp.path().join("stderr.log");
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args(["run", "--debug", "-c", config.to_str().unwrap()])
        .current_dir(tmp.path())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let run = ChildGuard(&mut run);

    let started = std::time::Instant::now();
    let parts = |data: &Path| {
        names_in(data)
            .iter()
            .filter(|n| n.contains(".part-"))
            .count()
    };
    while parts(&data) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no parts arrived: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    // Back only once backupman has tried to abort the upload and failed (its debug log says
    // so): the abort must keep trying until the server answers again.
    let killed = std::time::Instant::now();
    while !std::fs::read_to_string(&stderr_path)
        .unwrap_or_default()
        .contains("S3 request failed op=\"AbortMultipartUpload\"")
    {
        assert!(
            killed.elapsed() < Duration::from_secs(120),
            "no abort after the kill: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _restarted = start_s3s_fs(port, &data);

    let status = run.0.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("✘ Big → Killed Store:"), "{stderr}");
    let left: Vec<String> = names_in(&data)
        .into_iter()
        .filter(|n| n.starts_with(".upload") || n.contains(".upload-"))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "no open multipart upload: {stderr}"
    );
    assert_eq!(
        names_in(&data.join("backups")),
        Vec::<String>::new(),
        "no object"
    );
}

/// Kills the child when dropped (a failed assertion never leaves a run behind).
struct ChildGuard<'a>(&'a mut std::process::Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Ctrl-C while a multipart upload is open: the upload is aborted, so the bucket holds no
/// object and no open multipart upload afterwards.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn ctrl_c_mid_multipart_upload_leaves_no_object_and_no_open_upload() {
    let rt = rt();
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    let tmp = tempfile::tempdir().unwrap();
    // A dump tool that never ends and does not compress: parts keep flowing until the signal.
    let tool = fake_dump_tool(tmp.path(), "cat /dev/urandom");
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Endless\n    db_name: app\n    dump_tool_path: {}\ndrives:\n{}    part_size_mb: 5\n",
            tool.display(),
            s3_drive_yaml(&server, "Bucket", "backups", "db")
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args(["run", "-c", config.to_str().unwrap()])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let guard = ChildGuard(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rt.block_on(server.open_uploads("backups", "")).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no multipart upload was ever opened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let a few parts land before interrupting.
    std::thread::sleep(Duration::from_millis(1500));
    let (code, stderr) = interrupt_and_wait(guard.0, "-INT", Duration::from_secs(60));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("✘ Endless → Bucket: not stored, the dump failed: interrupted"),
        "{stderr}"
    );
    assert_bucket_empty(&rt, &server, "backups");
}

/// backupman itself SIGKILLed mid-multipart (no chance to abort) leaves an open upload that
/// is billed: `health` counts it, and the next `run` aborts it, touching nothing outside its
/// own prefix.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_sigkilled_run_leaves_an_open_upload_that_the_next_run_aborts() {
    let rt = rt();
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    // Someone else's upload in progress beside ours, under another prefix.
    let client = server.drive("backups", "").client().clone();
    let foreign = rt
        .block_on(
            client
                .create_multipart_upload()
                .bucket("backups")
                .key("other-app/big.tar")
                .send(),
        )
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tool = fake_dump_tool(tmp.path(), "cat /dev/urandom");
    let drive = s3_drive_yaml(&server, "Bucket", "backups", "db");
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Endless\n    db_name: app\n    dump_tool_path: {}\ndrives:\n{drive}    part_size_mb: 5\n",
            tool.display(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args(["run", "-c", config.to_str().unwrap()])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rt
        .block_on(server.open_uploads("backups", "db/"))
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no multipart upload was ever opened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    let left = rt.block_on(server.open_uploads("backups", "db/"));
    assert_eq!(
        left.len(),
        1,
        "the killed run's upload stays open: {left:?}"
    );
    assert!(left[0].starts_with("db/endless/endless-"), "{left:?}");

    // From now on a quick source: the drive is what is looked after.
    let (tmp2, config) = setup(&drive, "incomplete_uploads:\n  abort_after_hours: 0\n");
    let health = backupman(tmp2.path(), &["health", "-c", &config], &[]);
    assert_eq!(health.code, 0, "{}", health.all());
    assert!(
        health
            .stdout
            .contains("1 incomplete upload(s) under s3://backups/db"),
        "{}",
        health.stdout
    );
    let run = backupman(tmp2.path(), &["run", "-c", &config], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "✔ Bucket: discarded 1 incomplete upload(s) older than 0 h left by an interrupted run: {}",
            left[0].trim_start_matches("db/")
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        rt.block_on(server.open_uploads("backups", "")),
        vec!["other-app/big.tar".to_owned()],
        "only the upload under our own prefix is aborted"
    );
    rt.block_on(
        client
            .abort_multipart_upload()
            .bucket("backups")
            .key("other-app/big.tar")
            .upload_id(foreign.upload_id().unwrap())
            .send(),
    )
    .unwrap();
    let health = backupman(tmp2.path(), &["health", "-c", &config], &[]);
    assert!(
        !health.all().contains("incomplete upload(s)"),
        "{}",
        health.stdout
    );
}
