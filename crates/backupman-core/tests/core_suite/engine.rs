//! The engine against real processes and real folders: what lands on each drive, and what is
//! left behind (nothing) when something fails.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use async_trait::async_trait;
use backupman_core::{
    CancellationToken, Codec, Compression, Drive, DriveError, DriveErrorKind, Dump, DumpStatus,
    Engine, LocalDrive, Manifest, Source, SourceError, SourceErrorKind, check_stored, decoder,
};

/// A source whose dump is the output of a shell command: a real child process with a real
/// exit status, like pg_dump.
#[derive(Debug)]
struct ShellSource {
    label: String,
    script: String,
}

#[async_trait]
impl Source for ShellSource {
    fn label(&self) -> &str {
        &self.label
    }
    fn provider(&self) -> &str {
        "shell"
    }
    fn database(&self) -> String {
        "test".into()
    }
    async fn start(&self, _cancel: CancellationToken) -> Result<Dump, SourceError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SourceError::new(e.to_string()))?;
        let stdout = child.stdout.take().unwrap();
        Ok(Dump {
            reader: Box::new(stdout),
            finish: Box::new(move || {
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                let status = child.wait().map_err(|e| SourceError::new(e.to_string()))?;
                if status.success() {
                    Ok(DumpStatus {
                        tool_version: Some("sh".into()),
                        warnings: None,
                    })
                } else {
                    Err(SourceError::new(format!(
                        "dump tool failed ({status}): {}",
                        stderr.trim()
                    )))
                }
            }),
        })
    }
    async fn check(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

fn source(script: &str) -> Arc<dyn Source> {
    Arc::new(ShellSource {
        label: "Shell DB".into(),
        script: script.into(),
    })
}

/// Every file below `dir`, hidden ones (temp files) included.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_drives_receive_identical_objects_matching_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalDrive::new("A", tmp.path().join("a"));
    let b = LocalDrive::new("B", tmp.path().join("b"));
    let drives: Vec<Arc<dyn Drive>> = vec![Arc::new(a), Arc::new(b)];
    // ~6 MB of varied text: several chunks through the fan-out.
    let report = Engine::new(Compression::default())
        .backup(source("seq 1 800000"), &drives)
        .await;
    assert!(report.succeeded(), "{report:#?}");
    let manifest = report.manifest.clone().unwrap();
    let expected: Vec<u8> = (1..=800000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    assert_eq!(manifest.size, expected.len() as u64);

    for dir in ["a", "b"] {
        let object = tmp.path().join(dir).join(&report.key);
        let bytes = std::fs::read(&object).unwrap();
        let check = check_stored(&bytes[..], None).unwrap();
        assert_eq!(check.sha256, manifest.sha256);
        assert_eq!(check.compressed_size, manifest.compressed_size);
        let mut plain = Vec::new();
        decoder(&bytes[..])
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert!(plain == expected, "{dir}: restored dump differs");
        let stored: Manifest =
            Manifest::from_json(&std::fs::read(format!("{}.json", object.display())).unwrap())
                .unwrap();
        assert_eq!(stored, manifest);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&object).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{dir}: a backup is readable by its owner only");
        // Independent check: GNU gzip agrees the stream is intact.
        let status = Command::new("gzip")
            .arg("-t")
            .arg(&object)
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert_eq!(files(&tmp.path().join("a")).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_drive_is_named_and_the_other_completes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("not-a-folder"), b"x").unwrap();
    let good = LocalDrive::new("Good", tmp.path().join("good"));
    let broken = LocalDrive::new("Broken", tmp.path().join("not-a-folder/sub"));
    let drives: Vec<Arc<dyn Drive>> = vec![Arc::new(broken), Arc::new(good)];
    let report = Engine::new(Compression::new(Codec::Gzip, 1, 1))
        .backup(source("seq 1 300000"), &drives)
        .await;
    assert!(!report.succeeded());
    assert!(report.failure.is_none(), "the source did not fail");
    let broken = &report.drives[0];
    assert_eq!(broken.drive, "Broken");
    let err = broken.result.as_ref().unwrap_err();
    assert!(err.message.contains("not-a-folder/sub"), "{err}");
    let good = report.drives[1].result.as_ref().unwrap();
    let bytes = std::fs::read(tmp.path().join("good").join(&good.key)).unwrap();
    assert_eq!(
        check_stored(&bytes[..], None).unwrap().sha256,
        report.manifest.unwrap().sha256
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_failing_mid_stream_leaves_nothing_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let drives: Vec<Arc<dyn Drive>> = vec![
        Arc::new(LocalDrive::new("A", tmp.path().join("a"))),
        Arc::new(LocalDrive::new("B", tmp.path().join("b"))),
    ];
    // Several MB go out before the tool dies, so chunks have reached the drives already.
    let report = Engine::new(Compression::default())
        .backup(
            source("seq 1 2000000; echo 'connection lost' >&2; exit 3"),
            &drives,
        )
        .await;
    let failure = report.failure.expect("the dump failed");
    assert!(failure.message.contains("connection lost"), "{failure}");
    assert!(report.manifest.is_none());
    for d in &report.drives {
        assert!(d.result.is_err());
    }
    assert_eq!(
        files(tmp.path()),
        Vec::<String>::new(),
        "no object, no temp file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_cannot_start_stores_nothing() {
    #[derive(Debug)]
    struct Missing;
    #[async_trait]
    impl Source for Missing {
        fn label(&self) -> &str {
            "Missing"
        }
        fn provider(&self) -> &str {
            "none"
        }
        fn database(&self) -> String {
            String::new()
        }
        async fn start(&self, _cancel: CancellationToken) -> Result<Dump, SourceError> {
            Err(SourceError::new("database file not found"))
        }
        async fn check(&self) -> Result<(), SourceError> {
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let drives: Vec<Arc<dyn Drive>> = vec![Arc::new(LocalDrive::new("A", tmp.path()))];
    let report = Engine::new(Compression::default())
        .backup(Arc::new(Missing), &drives)
        .await;
    assert_eq!(report.failure.unwrap().message, "database file not found");
    assert!(
        report.drives[0]
            .result
            .as_ref()
            .unwrap_err()
            .message
            .contains("database file not found")
    );
    assert_eq!(files(tmp.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn local_drive_lists_reads_and_deletes_under_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let drive = LocalDrive::new("L", tmp.path());
    backupman_core::upload_bytes(&drive, "x/one.sql.gz", "1".into())
        .await
        .unwrap();
    backupman_core::upload_bytes(&drive, "y/two.sql.gz", "22".into())
        .await
        .unwrap();
    let listed = drive.list("x/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.as_str(), listed[0].size),
        ("x/one.sql.gz", 1)
    );
    assert_eq!(
        backupman_core::read_all(&drive, "y/two.sql.gz")
            .await
            .unwrap(),
        b"22"
    );
    drive.delete("y/two.sql.gz").await.unwrap();
    drive.delete("y/two.sql.gz").await.unwrap();
    assert_eq!(drive.list("").await.unwrap().len(), 1);
    assert!(drive.begin("../escape").await.is_err());
    // An upload dropped without complete or abort leaves no temp file.
    let mut upload = drive.begin("z/dropped.gz").await.unwrap();
    upload.write("partial".into()).await.unwrap();
    drop(upload);
    assert_eq!(files(&tmp.path().join("z")), Vec::<String>::new());
    let health = drive.health().await;
    assert_eq!(health.len(), 5);
    assert!(health.iter().all(|c| c.result.is_ok()), "{health:?}");
    assert_eq!(
        drive.list("").await.unwrap().len(),
        1,
        "health leaves nothing behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_stops_an_endless_dump_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let drives: Vec<Arc<dyn Drive>> = vec![Arc::new(LocalDrive::new("A", tmp.path().join("a")))];
    let token = CancellationToken::new();
    let setter = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        setter.cancel();
    });
    // Never ends by itself: only the cancellation can stop this backup.
    let report = Engine::new(Compression::new(Codec::Gzip, 1, 1))
        .with_cancel(token)
        .backup(source("yes 'an endless dump line'"), &drives)
        .await;
    let failure = report.failure.expect("cancelled");
    assert_eq!(failure.kind, SourceErrorKind::Cancelled);
    assert!(failure.message.contains("interrupted"), "{failure}");
    assert_eq!(
        files(tmp.path()),
        Vec::<String>::new(),
        "no object, no temp file"
    );
}

/// A fresh identity file made by `age-keygen` (the real tool), and its public key.
fn age_keygen(dir: &Path) -> (std::path::PathBuf, String) {
    let path = dir.join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen must be installed (cargo xtask provision)");
    assert!(out.status.success());
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    (
        path,
        String::from_utf8(public.stdout).unwrap().trim().to_owned(),
    )
}

/// `age -d -i identity`, then the codec's own tool, over a stored object.
fn age_cli_decrypt(identity: &Path, object: &Path, codec_tool: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i '{}' '{}' | {codec_tool}",
            identity.display(),
            object.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_objects_decrypt_with_the_age_cli_in_every_codec() {
    let tmp = tempfile::tempdir().unwrap();
    let (identity, public) = age_keygen(tmp.path());
    let recipients = backupman_core::Recipients::parse(&[public.as_str()]).unwrap();
    let identities = backupman_core::Identities::load(&identity).unwrap();
    let expected: Vec<u8> = (1..=300000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    for (codec, end, tool) in [
        (Codec::Gzip, ".sql.gz.age", "gunzip -c"),
        (Codec::Zstd, ".sql.zst.age", "zstd -dc"),
        (Codec::None, ".sql.age", "cat"),
    ] {
        let drive: Arc<dyn Drive> = Arc::new(LocalDrive::new("A", tmp.path().join("a")));
        let report = Engine::new(Compression::default_for(codec))
            .with_encryption(Some(recipients.clone()))
            .with_chunk_size(64 * 1024)
            .backup(source("seq 1 300000"), &[drive])
            .await;
        assert!(report.succeeded(), "{report:#?}");
        assert!(report.key.ends_with(end), "{}", report.key);
        let manifest = report.manifest.clone().unwrap();
        assert_eq!(manifest.encryption.as_deref(), Some("age"));
        assert_eq!(manifest.recipients, vec![public.clone()]);
        let object = tmp.path().join("a").join(&report.key);
        let bytes = std::fs::read(&object).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        assert_eq!(
            age_cli_decrypt(&identity, &object, tool),
            expected,
            "{codec}"
        );

        // Without an identity: the ciphertext's hash and size are checked, nothing more.
        let outside = check_stored(&bytes[..], None).unwrap();
        assert_eq!(outside.plain_size, None);
        assert_eq!(manifest.check(&outside), Ok(()));
        let inside = check_stored(&bytes[..], Some(&identities)).unwrap();
        assert_eq!(inside.plain_size, Some(expected.len() as u64));
        assert_eq!(manifest.check(&inside), Ok(()));
        let stored =
            Manifest::from_json(&std::fs::read(format!("{}.json", object.display())).unwrap())
                .unwrap();
        assert_eq!(stored, manifest);
        let json = String::from_utf8(manifest.to_json()).unwrap();
        assert!(!json.contains("AGE-SECRET-KEY"), "{json}");
    }
}

/// A local folder whose store refuses to take records (manifests, signatures): the fault
/// of a store that fails the small write after the big one.
#[derive(Debug)]
struct RefusingRecords(LocalDrive);

#[async_trait]
impl Drive for RefusingRecords {
    fn label(&self) -> &str {
        self.0.label()
    }
    async fn begin(&self, key: &str) -> Result<Box<dyn backupman_core::Upload>, DriveError> {
        if key.ends_with(".json") {
            return Err(DriveError::new(
                DriveErrorKind::Connection,
                format!("{key}: connection reset"),
            ));
        }
        self.0.begin(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<backupman_core::ObjectInfo>, DriveError> {
        self.0.list(prefix).await
    }
    async fn read(&self, key: &str) -> Result<backupman_core::ByteStream, DriveError> {
        self.0.read(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), DriveError> {
        self.0.delete(key).await
    }
    async fn health(&self) -> Vec<backupman_core::CheckResult> {
        self.0.health().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_whose_manifest_cannot_be_written_is_removed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let refusing: Arc<dyn Drive> = Arc::new(RefusingRecords(LocalDrive::new(
        "Flaky",
        tmp.path().join("flaky"),
    )));
    let good: Arc<dyn Drive> = Arc::new(LocalDrive::new("Good", tmp.path().join("good")));
    let report = Engine::new(Compression::default())
        .backup(source("seq 1 1000"), &[refusing, good])
        .await;
    let flaky = report.drives[0].result.as_ref().unwrap_err();
    assert!(flaky.message.contains("not stored"), "{flaky}");
    assert!(flaky.message.contains("removed again"), "{flaky}");
    // Nothing half-stored on the drive that failed; the whole backup on the other.
    assert_eq!(files(&tmp.path().join("flaky")), Vec::<String>::new());
    let good = files(&tmp.path().join("good"));
    assert_eq!(good.len(), 2, "{good:?}");
    assert!(report.drives[1].result.is_ok());
}
