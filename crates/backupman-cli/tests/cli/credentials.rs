//! An S3 drive without `access_key`/`secret_key` takes the default AWS credential chain: the
//! real `backupman` binary against moto with IAM authorization on (so only a real key of a
//! real user gets in), from the environment, from a named profile of a shared credentials
//! file, and from web identity (moto's STS `AssumeRoleWithWebIdentity`). `health` names the
//! source and never the secret; a backup is stored and restored row for row.

use std::path::Path;

use crate::common::{Run, backupman_command, demo_rows, rt, sqlite_rows};
use backupman_testkit::s3::{S3Server, Style};

/// Every variable the default chain reads, so the caller's own AWS setup never leaks in.
const CHAIN_VARS: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
];

/// moto with IAM authorization from its 5th request on, a bucket `backups`, and a user
/// `backup` allowed everything on it: its access key ID and secret.
fn moto_with_a_user() -> (S3Server, String, String) {
    let rt = rt();
    // Requests 1-4 (create bucket, user, its policy, its key) run before authorization starts.
    let server = S3Server::moto(Style::Path, Some(4));
    rt.block_on(server.create_bucket("backups"));
    let (key, secret) = server.iam_user("backup", "backups", &["s3:*"]);
    (server, key, secret)
}

/// The demo database and a drive on `server` with no keys in the configuration.
fn setup(server: &S3Server) -> (tempfile::TempDir, String) {
    crate::common::demo_setup(&format!(
        "drives:\n  - provider: s3\n    label: Bucket\n    bucket: backups\n    region: us-east-1\n    endpoint: {}\n    prefix: chain\n    force_path_style: true\n    max_attempts: 1\n",
        server.endpoint
    ))
}

/// `backupman ARGS` with only `envs` of the chain's variables set.
fn backupman(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = backupman_command(dir, args, &[]);
    for var in CHAIN_VARS {
        cmd.env_remove(var);
    }
    // A home without ~/.aws, so only the files a test names are read.
    cmd.env("HOME", dir).envs(envs.iter().copied());
    let out = cmd.output().expect("backupman runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `health` passes naming `source`, then a backup is stored, verified and restored row for
/// row; no output shows any of `secrets`.
fn health_backup_and_restore(dir: &Path, config: &str, envs: &[(&str, &str)], source: &str) {
    let health = backupman(dir, &["health", "-c", config, "--json"], envs);
    assert_eq!(health.code, 0, "{}", health.all());
    let report: serde_json::Value = serde_json::from_str(&health.stdout).unwrap();
    assert_eq!(
        report["drives"][0]["checks"][0]["check"],
        format!("credentials ({source})").as_str(),
        "{}",
        health.stdout
    );
    assert!(
        health
            .stderr
            .contains(&format!("    ✔ credentials ({source})\n")),
        "{}",
        health.stderr
    );

    let run = backupman(dir, &["run", "-c", config], envs);
    assert_eq!(run.code, 0, "{}", run.all());
    let verify = backupman(dir, &["verify", "-c", config, "--latest"], envs);
    assert_eq!(verify.code, 0, "{}", verify.all());
    let restore = backupman(
        dir,
        &[
            "restore",
            "-c",
            config,
            "--source",
            "Demo",
            "--latest",
            "--to",
            "back.sqlite",
        ],
        envs,
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(sqlite_rows(&dir.join("back.sqlite")), demo_rows());
    for out in [&health, &run, &verify, &restore] {
        for (_, value) in envs {
            if value.len() > 30 {
                assert!(!out.all().contains(value), "a secret shows: {}", out.all());
            }
        }
    }
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_drive_without_keys_uses_the_environment() {
    let (server, key, secret) = moto_with_a_user();
    let (tmp, config) = setup(&server);
    let envs = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    health_backup_and_restore(tmp.path(), &config, &envs, "environment");

    // The key is checked by the store: a wrong secret is refused, so the chain's keys were
    // the ones that got in above.
    let wrong = backupman(
        tmp.path(),
        &["health", "-c", &config],
        &[
            ("AWS_ACCESS_KEY_ID", key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret-of-this-key-at-all"),
        ],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert!(wrong.stdout.contains("✘ PutObject"), "{}", wrong.stdout);
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_drive_without_keys_uses_a_named_profile() {
    let (server, key, secret) = moto_with_a_user();
    let (tmp, config) = setup(&server);
    let aws = tempfile::tempdir().unwrap();
    let credentials = aws.path().join("credentials");
    // The default profile holds a key nobody knows: only `backups` gets in.
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = AKIANOBODYKNOWS00000\naws_secret_access_key = wrong\n\n[backups]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        ),
    )
    .unwrap();
    let config_file = aws.path().join("config");
    std::fs::write(&config_file, "[profile backups]\nregion = us-east-1\n").unwrap();
    let envs = [
        ("AWS_PROFILE", "backups"),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config_file.to_str().unwrap()),
    ];
    health_backup_and_restore(tmp.path(), &config, &envs, "profile backups");
    let all = backupman(tmp.path(), &["health", "-c", &config], &envs).all();
    assert!(!all.contains(&secret), "the secret never shows: {all}");
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_drive_without_keys_uses_web_identity() {
    let rt = rt();
    // moto's STS answers AssumeRoleWithWebIdentity with temporary keys of the role.
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&server);
    let token = tmp.path().join("token");
    // A service account token as Kubernetes mounts it (moto does not check its signature).
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJhY2t1cG1hbiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YmFja3VwczpiYWNrdXBtYW4ifQ.c2lnbmF0dXJl",
    )
    .unwrap();
    let sts = format!("http://127.0.0.1:{}", server.port);
    let envs = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/backupman"),
        ("AWS_ROLE_SESSION_NAME", "backupman-test"),
        ("AWS_ENDPOINT_URL_STS", sts.as_str()),
    ];
    health_backup_and_restore(tmp.path(), &config, &envs, "web identity");
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_drive_without_keys_and_no_source_fails_health_naming_the_chain() {
    let rt = rt();
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&server);
    // No variables, no ~/.aws, and no instance metadata service to reach in time.
    let envs = [("AWS_EC2_METADATA_DISABLED", "true")];
    let health = backupman(tmp.path(), &["health", "-c", &config], &envs);
    assert_eq!(health.code, 1, "{}", health.all());
    let line = health
        .stdout
        .lines()
        .find(|l| l.contains("✘ credentials"))
        .unwrap_or_else(|| panic!("no credentials line: {}", health.all()));
    assert!(line.contains("default AWS credential chain"), "{line}");
    assert!(
        line.contains("hint:") && line.contains("AWS_PROFILE"),
        "{line}"
    );
}

/// The backup itself, with no credentials anywhere: the drive's line says so and names the
/// chain's places, not the endpoint or the network.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_run_without_credentials_anywhere_names_the_chain_not_the_network() {
    let rt = rt();
    let server = S3Server::moto(Style::Path, None);
    rt.block_on(server.create_bucket("backups"));
    let (tmp, config) = setup(&server);
    let envs = [("AWS_EC2_METADATA_DISABLED", "true")];
    let run = backupman(tmp.path(), &["run", "-c", &config], &envs);
    assert_eq!(run.code, 1, "{}", run.all());
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("✘ Demo → Bucket: "))
        .unwrap_or_else(|| panic!("no drive line: {}", run.stderr));
    assert!(line.contains("no credentials"), "{line}");
    for place in [
        "`access_key` and `secret_key`",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "~/.aws/credentials",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "instance metadata",
    ] {
        assert!(line.contains(place), "{place}: {line}");
    }
    assert!(!line.contains("check the endpoint URL"), "{line}");
    assert!(!line.contains("max_attempts"), "{line}");
}
