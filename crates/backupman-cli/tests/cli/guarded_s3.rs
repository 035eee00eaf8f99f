//! The real `backupman` binary against S3 stores that guard backups: one behind a private CA
//! (reached over TLS only when its CA is trusted through `ca_file` or `AWS_CA_BUNDLE`, never by
//! switching verification off) and a bucket with Object Lock (every backup and manifest
//! retained; retention and `prune` skip what is locked and say until when).

use std::path::Path;

use crate::common::{
    backupman_env as backupman, demo_rows, demo_setup, rt, s3_drive_yaml, sqlite_rows,
};
use backupman_testkit::s3::{S3Server, Style};
use backupman_testkit::tls::TlsProxy;

/// A drive on `server` reached through `proxy` (https), with `extra` YAML lines.
fn tls_drive_yaml(server: &S3Server, proxy: &TlsProxy, extra: &str) -> String {
    format!(
        "drives:\n  - provider: s3\n    label: Private\n    bucket: tls-backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    prefix: db\n    force_path_style: true\n    timeout_seconds: 20\n    max_attempts: 2\n{extra}",
        server.access_key,
        server.secret_key,
        proxy.endpoint()
    )
}

/// Restores the newest backup into `name` in `dir` and compares it with the demo database.
fn restore_matches_demo(dir: &Path, config: &str, name: &str, env: &[(&str, &str)]) {
    let args = [
        "restore", "-c", config, "--source", "Demo", "--latest", "--to", name,
    ];
    let restore = backupman(dir, &args, env);
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(sqlite_rows(&dir.join(name)), demo_rows());
}

/// A store whose certificate a private CA signed: refused with the hint naming the three ways
/// to trust it; trusted through `AWS_CA_BUNDLE` and through `ca_file` (relative to the
/// configuration, and winning over a wrong `AWS_CA_BUNDLE`); a `ca_file` that is missing or
/// not PEM is a clear error naming the drive and the file.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_private_ca_is_trusted_through_ca_file_or_aws_ca_bundle() {
    let server = S3Server::s3s_fs(Style::Path);
    rt().block_on(server.create_bucket("tls-backups"));
    let proxy = TlsProxy::start(server.port);
    let ca = proxy.ca_file().display().to_string();

    let (tmp, config) = demo_setup(&tls_drive_yaml(&server, &proxy, ""));
    let health = backupman(tmp.path(), &["health", "-c", &config], &[]);
    assert_eq!(health.code, 1, "{}", health.all());
    assert!(
        health.stdout.contains("certificate is not trusted"),
        "{}",
        health.stdout
    );
    for way in ["SSL_CERT_FILE", "AWS_CA_BUNDLE", "`ca_file`"] {
        assert!(health.stdout.contains(way), "{way}: {}", health.stdout);
    }

    let bundle = [("AWS_CA_BUNDLE", ca.as_str())];
    let run = backupman(tmp.path(), &["run", "-c", &config], &bundle);
    assert_eq!(run.code, 0, "{}", run.all());
    restore_matches_demo(tmp.path(), &config, "via-bundle.sqlite", &bundle);

    // `ca_file`, relative to the configuration's folder, wins over AWS_CA_BUNDLE.
    std::fs::copy(proxy.ca_file(), tmp.path().join("private-ca.pem")).unwrap();
    let (tmp2, config2) = demo_setup(&tls_drive_yaml(
        &server,
        &proxy,
        "    ca_file: private-ca.pem\n",
    ));
    std::fs::copy(proxy.ca_file(), tmp2.path().join("private-ca.pem")).unwrap();
    let elsewhere = tmp2.path().join("not-a-ca.pem");
    std::fs::write(&elsewhere, "not a certificate\n").unwrap();
    let wrong_bundle = [("AWS_CA_BUNDLE", elsewhere.to_str().unwrap())];
    let run = backupman(tmp2.path(), &["run", "-c", &config2], &wrong_bundle);
    assert_eq!(run.code, 0, "{}", run.all());
    let health = backupman(tmp2.path(), &["health", "-c", &config2], &[]);
    assert_eq!(health.code, 0, "{}", health.all());
    restore_matches_demo(tmp2.path(), &config2, "via-ca-file.sqlite", &[]);

    // What the bucket holds, read over plain HTTP: both backups, each with its manifest.
    let listed = rt().block_on(async {
        use backupman_core::Drive;
        server
            .drive("tls-backups", "db")
            .list("demo/")
            .await
            .unwrap()
    });
    assert_eq!(listed.len(), 4, "{listed:?}");

    // A CA file that is not there, or not PEM: the drive cannot be built, and says why.
    for (name, why) in [
        ("missing.pem", "cannot read it"),
        ("not-a-ca.pem", "holds no PEM certificate"),
    ] {
        let (tmp3, config3) = demo_setup(&tls_drive_yaml(
            &server,
            &proxy,
            &format!("    ca_file: {name}\n"),
        ));
        std::fs::write(tmp3.path().join("not-a-ca.pem"), "not a certificate\n").unwrap();
        let health = backupman(tmp3.path(), &["health", "-c", &config3], &bundle);
        assert_eq!(health.code, 1, "{}", health.all());
        let path = tmp3.path().canonicalize().unwrap().join(name);
        let expected = format!("drive `Private`: ca_file {}: {why}", path.display());
        assert!(
            health.stdout.contains(&expected),
            "{expected}\n{}",
            health.stdout
        );
    }
    // The same for AWS_CA_BUNDLE when no ca_file is set.
    let health = backupman(tmp.path(), &["health", "-c", &config], &wrong_bundle);
    assert_eq!(health.code, 1, "{}", health.all());
    assert!(
        health.stdout.contains("AWS_CA_BUNDLE") && health.stdout.contains("holds no PEM"),
        "{}",
        health.stdout
    );
}

/// An Object Lock drive on moto: health checks the bucket; every backup and manifest carries
/// the retention (read with the aws CLI); retention after a run and `prune` skip the locked
/// backup and say until when, `prune --dry-run` shows the date; a bucket without Object Lock
/// fails health in one line.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn object_lock_retains_every_backup_and_prune_skips_it() {
    let server = S3Server::moto(Style::Path, None);
    let rt = rt();
    rt.block_on(server.create_locked_bucket("locked"));
    rt.block_on(server.create_bucket("unlocked"));
    let lock = "    object_lock:\n      mode: GOVERNANCE\n      days: 2\n";
    let drives = format!(
        "drives:\n{}{lock}",
        s3_drive_yaml(&server, "Locked", "locked", "db")
    );
    let (tmp, config) = demo_setup(&format!("{drives}retention:\n  by: count\n  value: 1\n"));

    let health = backupman(tmp.path(), &["health", "-c", &config], &[]);
    assert_eq!(health.code, 0, "{}", health.all());
    assert!(health.stdout.contains("✔ Object Lock"), "{}", health.stdout);

    for _ in 0..2 {
        let run = backupman(tmp.path(), &["run", "-c", &config], &[]);
        assert_eq!(run.code, 0, "{}", run.all());
    }
    let listed = rt.block_on(async {
        use backupman_core::Drive;
        server.drive("locked", "db").list("demo/").await.unwrap()
    });
    let mut keys: Vec<String> = listed.into_iter().map(|o| o.key).collect();
    keys.sort();
    assert_eq!(keys.len(), 4, "both backups and manifests stay: {keys:?}");
    for key in &keys {
        let head = server.s3api(&[
            "head-object",
            "--bucket",
            "locked",
            "--key",
            &format!("db/{key}"),
        ]);
        assert_eq!(head["ObjectLockMode"], "GOVERNANCE", "{key}: {head}");
        assert!(
            head["ObjectLockRetainUntilDate"].is_string(),
            "{key}: {head}"
        );
    }
    let oldest = &keys[0];
    assert!(oldest.ends_with(".sqlite.gz"), "{keys:?}");

    let prune = backupman(tmp.path(), &["prune", "-c", &config], &[]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    let said = format!("retention skipped Demo → Locked: {oldest}: locked until ");
    assert!(prune.stdout.contains(&said), "{said}\n{}", prune.stdout);
    assert!(
        prune.stdout.contains("deleted 0, skipped 1 locked"),
        "{}",
        prune.stdout
    );

    let dry = backupman(
        tmp.path(),
        &["prune", "-c", &config, "--dry-run", "--json"],
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(dry.stderr.contains(&said), "{}", dry.stderr);
    let report: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(report[0]["deleted"], serde_json::json!([]));
    assert_eq!(report[0]["locked"][0]["key"], oldest.as_str());
    let until = report[0]["locked"][0]["locked_until"].as_str().unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let days = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((46..=48).contains(&days), "locked for {days} hours");

    // The same drive on a bucket without Object Lock.
    let drives = format!(
        "drives:\n{}{lock}",
        s3_drive_yaml(&server, "Unlocked", "unlocked", "db")
    );
    let (tmp, config) = demo_setup(&drives);
    let health = backupman(tmp.path(), &["health", "-c", &config], &[]);
    assert_eq!(health.code, 1, "{}", health.all());
    assert!(
        health
            .stdout
            .contains("bucket `unlocked` does not have Object Lock enabled"),
        "{}",
        health.stdout
    );
}
