//! The folder index on a real S3 server (moto, with IAM users), seen through `list --json`
//! and counted at a proxy: one read instead of a hundred, and the same output whatever
//! happens to the index (lost, garbage, oversized, forged, not writable).

use std::time::Duration;

use crate::common::{backupman, demo_setup, forged_backup, hex, rt, s3_drive_yaml};
use backupman_core::{Drive, read_all, upload_bytes};
use backupman_s3::{S3Credentials, S3Drive};
use backupman_testkit::proxy::LatencyProxy;
use backupman_testkit::s3::{S3Server, Style, drive_for};
use chrono::Utc;
use md5::{Digest, Md5};

/// A configuration of the demo source and the drive `Far` (prefix `far`) reached through
/// `proxy` with the user's keys.
fn setup(server: &S3Server, proxy: &LatencyProxy, (key, secret): &(String, String)) -> Setup {
    let drive = s3_drive_yaml(server, "Far", "backups", "far")
        .replace(&server.endpoint, &proxy.endpoint())
        .replace(&server.access_key, key)
        .replace(&server.secret_key, secret);
    let (tmp, config) = demo_setup(&format!("drives:\n{drive}"));
    Setup { tmp, config }
}

struct Setup {
    tmp: tempfile::TempDir,
    config: String,
}

impl Setup {
    /// `list --json`'s output, the proxy's count started afresh.
    fn list(&self, proxy: &LatencyProxy) -> String {
        proxy.clear();
        let run = backupman(self.tmp.path(), &["list", "-c", &self.config, "--json"]);
        assert_eq!(run.code, 0, "{}", run.all());
        run.stdout
    }
}

/// Objects read (not listings), by request line.
fn object_reads(proxy: &LatencyProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && !l.contains("list-type"))
        .collect()
}

fn manifest_reads(proxy: &LatencyProxy) -> usize {
    object_reads(proxy)
        .iter()
        .filter(|l| !l.contains("/.index/"))
        .count()
}

fn index_writes(proxy: &LatencyProxy) -> usize {
    proxy.count(|l| l.starts_with("PUT ") && l.contains("/.index/"))
}

async fn indexes(drive: &S3Drive) -> Vec<String> {
    let mut keys: Vec<String> = drive
        .list("demo/.index/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    keys.sort();
    keys
}

fn entries(json: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// 100 stored backups: the first `list` reads every manifest and leaves an index, which the
/// next reads alone; lost, garbage or oversized, the manifests are read again and a new one
/// written; a backup `run` stores after it is read itself; forged copies in it are passed
/// over for the real manifests; read-only credentials list all the same, writing nothing.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn list_reads_one_index_and_always_shows_what_the_manifests_say() {
    let rt = rt();
    // Requests 1-7 (the bucket, two users with a key and a policy each) run before
    // authorization starts.
    let server = S3Server::moto(Style::Path, Some(7));
    rt.block_on(server.create_bucket("backups"));
    let admin = server.iam_user("admin", "backups", &["s3:*"]);
    let reader = server.iam_user("reader", "backups", &["s3:GetObject", "s3:ListBucket"]);
    let mut settings = server.drive_settings("backups", "far");
    settings.credentials = Some(S3Credentials::new(admin.0.clone(), admin.1.clone()));
    let store = drive_for(&settings);
    let now = Utc::now();
    rt.block_on(async {
        for i in 0..100 {
            let (key, manifest) = forged_backup(now - chrono::Duration::hours(6 * i + 1), true);
            upload_bytes(&store, &key, b"not really gzip".to_vec().into())
                .await
                .unwrap();
            upload_bytes(&store, &format!("{key}.json"), manifest.into())
                .await
                .unwrap();
        }
    });
    let proxy = LatencyProxy::start(server.port, Duration::from_millis(1));
    let admin_setup = setup(&server, &proxy, &admin);

    let first = admin_setup.list(&proxy);
    assert_eq!(entries(&first).len(), 100);
    assert!(
        entries(&first).iter().all(|e| e["standing"] == "ok"),
        "{first}"
    );
    assert_eq!(manifest_reads(&proxy), 100);
    assert_eq!(index_writes(&proxy), 1);
    let written = rt.block_on(indexes(&store));
    assert_eq!(written.len(), 1, "{written:?}");

    assert_eq!(admin_setup.list(&proxy), first);
    let reads = object_reads(&proxy);
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(reads[0].contains(&format!("/{}", written[0])), "{reads:#?}");
    assert_eq!(index_writes(&proxy), 0);

    // Lost.
    rt.block_on(store.delete(&written[0])).unwrap();
    assert_eq!(admin_setup.list(&proxy), first);
    assert_eq!(manifest_reads(&proxy), 100);
    assert_eq!(index_writes(&proxy), 1);

    // Garbage, and newer than the good one.
    let garbage = "demo/.index/99991231T235959.998Z-ffffff.json";
    rt.block_on(upload_bytes(
        &store,
        garbage,
        b"{\"format\": 1, \"entries\": [".to_vec().into(),
    ))
    .unwrap();
    assert_eq!(admin_setup.list(&proxy), first);
    assert_eq!(manifest_reads(&proxy), 100);
    assert_eq!(index_writes(&proxy), 1);
    let renewed = rt.block_on(indexes(&store));
    assert_eq!(renewed.len(), 1, "the old ones deleted: {renewed:?}");
    assert_ne!(renewed[0], garbage);

    // Over the size limit: not even read.
    let huge = "demo/.index/99991231T235959.999Z-ffffff.json";
    let too_large = vec![b' '; backupman_core::index::MAX_INDEX_BYTES as usize + 1];
    rt.block_on(upload_bytes(&store, huge, too_large.into()))
        .unwrap();
    assert_eq!(admin_setup.list(&proxy), first);
    assert_eq!(manifest_reads(&proxy), 100);
    assert_eq!(
        object_reads(&proxy).len(),
        100,
        "the oversized one is not read"
    );
    let renewed = rt.block_on(indexes(&store));
    assert_eq!(renewed.len(), 1, "{renewed:?}");
    assert_ne!(renewed[0], huge);

    // A backup stored after the index was written: its manifest is read, nothing else.
    let run = backupman(admin_setup.tmp.path(), &["run", "-c", &admin_setup.config]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after_run = admin_setup.list(&proxy);
    let listed = entries(&after_run);
    assert_eq!(listed.len(), 101);
    assert_eq!(listed[0]["standing"], "ok");
    assert_eq!(listed[1..], entries(&first)[..]);
    assert_eq!(manifest_reads(&proxy), 1);
    assert_eq!(object_reads(&proxy).len(), 2);
    assert_eq!(index_writes(&proxy), 0, "one read is no reason to write");

    // Forged copies of two manifests, in an index newer than the real one: one under its own
    // MD5, one under the real manifest's. Both manifests are read, their values shown.
    assert_eq!(
        listed[1]["sha256"], "00",
        "the real manifests' checksum, in the output"
    );
    let mut index: serde_json::Value =
        serde_json::from_slice(&rt.block_on(read_all(&store, &renewed[0])).unwrap()).unwrap();
    let copies = index["entries"].as_array_mut().unwrap();
    for (i, own_md5) in [(0, true), (1, false)] {
        let forged = copies[i]["text"]
            .as_str()
            .unwrap()
            .replace("\"sha256\":\"00\"", "\"sha256\":\"ff\"");
        assert_ne!(copies[i]["text"], forged.as_str());
        if own_md5 {
            copies[i]["etag"] = hex(&Md5::digest(forged.as_bytes())).into();
        }
        copies[i]["text"] = forged.into();
    }
    let forged_index = "demo/.index/99991231T235959.999Z-000000.json";
    rt.block_on(upload_bytes(
        &store,
        forged_index,
        serde_json::to_vec(&index).unwrap().into(),
    ))
    .unwrap();
    assert_eq!(admin_setup.list(&proxy), after_run);
    // The two, and the run's, which no index holds.
    assert_eq!(manifest_reads(&proxy), 3);
    assert!(
        object_reads(&proxy)
            .iter()
            .any(|l| l.contains(forged_index)),
        "the forged index is the newest, and read"
    );

    // Read-only credentials: the manifests are read, the index cannot be written, and the
    // listing is the same.
    for key in rt.block_on(indexes(&store)) {
        rt.block_on(store.delete(&key)).unwrap();
    }
    let reader_setup = setup(&server, &proxy, &reader);
    for _ in 0..2 {
        assert_eq!(reader_setup.list(&proxy), after_run);
        assert_eq!(manifest_reads(&proxy), 101);
        assert_eq!(rt.block_on(indexes(&store)), Vec::<String>::new());
    }
}
