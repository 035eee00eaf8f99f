//! Every documented S3 failure, produced for real, becomes one line with the troubleshooting
//! wording and a hint: wrong secret, unknown key, missing bucket, Access Denied, InvalidToken,
//! connection refused, unresolvable host, untrusted certificate, timeout; and the optional
//! permissions for incomplete multipart uploads missing from the minimal IAM policy.

use std::time::{Duration, Instant};

use backupman_core::{Drive, DriveError, DriveErrorKind, upload_bytes};
use backupman_s3::{S3Credentials, S3Drive, S3Failure, S3Settings, SecretKey};
use backupman_testkit::s3::{
    S3Server, SelfSignedTlsServer, SilentServer, Style, drive_for, free_port,
    http_client_adding_header,
};
use bytes::Bytes;

fn cfg(endpoint: &str, force_path_style: bool) -> S3Settings {
    let mut settings = S3Settings::new("errors", "backups", "us-east-1");
    settings.credentials = Some(S3Credentials::new("backupman-test", "super-secret-value"));
    settings.endpoint = Some(endpoint.into());
    settings.prefix = "p".into();
    settings.force_path_style = force_path_style;
    settings.timeout_seconds = Some(5);
    settings.max_attempts = Some(1);
    settings
}

/// The settings with another secret key, the access key kept.
fn with_secret(settings: &S3Settings, secret: &str) -> S3Settings {
    let mut changed = settings.clone();
    changed
        .credentials
        .as_mut()
        .expect("static keys")
        .secret_key = SecretKey::new(secret);
    changed
}

/// The settings with another access key, the secret kept.
fn with_access_key(settings: &S3Settings, access_key: &str) -> S3Settings {
    let mut changed = settings.clone();
    changed
        .credentials
        .as_mut()
        .expect("static keys")
        .access_key = access_key.into();
    changed
}

async fn put_error(drive: &S3Drive) -> DriveError {
    upload_bytes(drive, "k.bin", Bytes::from_static(b"data"))
        .await
        .expect_err("the upload must fail")
}

/// One line, no SDK dump, no secret.
fn assert_presentable(err: &DriveError) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    for leak in [
        "super-secret-value",
        "backupman-test-secret",
        "EXAMPLEKEY",
        "ServiceError",
        "ErrorMetadata",
        "Some(",
        "source:",
    ] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
    assert!(err.hint.is_some(), "no hint: {text}");
    // Nor in the causes kept behind it.
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        let text = c.to_string();
        for leak in ["super-secret-value", "backupman-test-secret"] {
            assert!(!text.contains(leak), "{leak:?} in the cause {text}");
        }
        cause = c.source();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn wrong_secret_and_unknown_key_and_missing_bucket() {
    for server in [S3Server::s3s_fs(Style::Path), S3Server::rclone(Style::Path)] {
        server.create_bucket("backups").await;

        let wrong_secret =
            with_secret(&server.drive_settings("backups", "p"), "super-secret-value");
        let err = put_error(&drive_for(&wrong_secret)).await;
        assert_eq!(err.kind, DriveErrorKind::Auth, "{}: {err}", server.name());
        assert!(
            err.message.starts_with("SignatureDoesNotMatch"),
            "{}: {err}",
            server.name()
        );
        assert!(err.hint.as_deref().unwrap().contains("`secret_key`"));
        assert_presentable(&err);

        let unknown_key = with_access_key(&server.drive_settings("backups", "p"), "NOSUCHKEY");
        let err = put_error(&drive_for(&unknown_key)).await;
        assert_eq!(err.kind, DriveErrorKind::Auth, "{}: {err}", server.name());
        assert!(
            err.message.starts_with("InvalidAccessKeyId"),
            "{}: {err}",
            server.name()
        );
        assert!(err.hint.as_deref().unwrap().contains("`access_key`"));
        assert_presentable(&err);

        let missing = drive_for(&server.drive_settings("no-such-bucket", ""));
        let err = missing
            .list("")
            .await
            .expect_err("list on a missing bucket");
        assert_no_such_bucket(&server, &err);
    }
    // s3s-fs creates a missing bucket's folder on PutObject; the others refuse.
    for server in [
        S3Server::rclone(Style::Path),
        S3Server::moto(Style::VirtualHosted, None),
    ] {
        let missing = drive_for(&server.drive_settings("no-such-bucket", ""));
        assert_no_such_bucket(&server, &put_error(&missing).await);
        let err = missing
            .read("k.bin")
            .await
            .err()
            .expect("read from a missing bucket");
        assert_no_such_bucket(&server, &err);
    }
}

fn assert_no_such_bucket(server: &S3Server, err: &DriveError) {
    assert_eq!(
        err.kind,
        DriveErrorKind::NotFound,
        "{}: {err}",
        server.name()
    );
    // The S3 answer stays reachable behind the line, as its cause.
    let cause = std::error::Error::source(err)
        .and_then(|cause| cause.downcast_ref::<S3Failure>())
        .unwrap_or_else(|| {
            panic!(
                "{}: no S3 failure kept as the cause of {err:?}",
                server.name()
            )
        });
    assert_eq!(
        cause.code.as_deref(),
        Some("NoSuchBucket"),
        "{}: {cause}",
        server.name()
    );
    assert_eq!(cause.status, Some(404), "{}: {cause}", server.name());
    assert!(
        cause.request.contains("s3://no-such-bucket/"),
        "{}: {cause}",
        server.name()
    );
    assert!(
        err.message
            .starts_with("NoSuchBucket: The specified bucket does not exist: `no-such-bucket`"),
        "{}: {err}",
        server.name()
    );
    assert_presentable(err);
}

/// moto with IAM authorization on: a user without permissions gets Access Denied everywhere
/// (health names each check), an unknown key InvalidAccessKeyId, a wrong secret
/// SignatureDoesNotMatch, a bogus session token InvalidToken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn iam_access_denied_and_invalid_token() {
    // Requests 1-3 (create bucket, user, access key) run before authorization starts.
    let server = S3Server::moto(Style::Path, Some(3));
    server.create_bucket("backups").await;
    let iam = |args: &[&str]| server.aws_iam(args);
    iam(&["create-user", "--user-name", "nobody"]);
    let keys = iam(&[
        "create-access-key",
        "--user-name",
        "nobody",
        "--query",
        "AccessKey.[AccessKeyId,SecretAccessKey]",
        "--output",
        "text",
    ]);
    let (key, secret) = keys.trim().split_once('\t').expect("key and secret");

    let mut user = server.drive_settings("backups", "p");
    user.credentials = Some(S3Credentials::new(key, secret));
    let drive = drive_for(&user);
    let err = put_error(&drive).await;
    assert_eq!(err.kind, DriveErrorKind::Auth, "{err}");
    assert!(
        err.message
            .starts_with("Access Denied: PutObject s3://backups/p/k.bin"),
        "{err}"
    );
    assert!(err.hint.as_deref().unwrap().contains("s3:PutObject"));
    assert_presentable(&err);

    let checks = drive.health().await;
    let names: Vec<_> = checks.iter().map(|c| c.check.as_str()).collect();
    assert_eq!(names, backupman_testkit::s3::HEALTH_CHECKS);
    // The keys themselves are there: only what they may do is refused.
    assert!(checks[0].result.is_ok(), "{:?}", checks[0].result);
    for check in &checks[1..] {
        let err = check.result.as_ref().expect_err("no permission at all");
        if check.check == "incomplete uploads" {
            assert!(!check.required, "listing incomplete uploads is optional");
            assert_eq!(err.kind, DriveErrorKind::Auth, "{err}");
            assert!(
                err.hint
                    .as_deref()
                    .unwrap()
                    .contains("s3:ListBucketMultipartUploads"),
                "{err}"
            );
        }
        if matches!(
            check.check.as_str(),
            "GetObject" | "no-clobber writes (If-None-Match)"
        ) {
            assert!(err.message.starts_with("not checked"), "{err}");
        } else {
            assert!(
                err.message.starts_with("Access Denied"),
                "{}: {err}",
                check.check
            );
            assert_presentable(err);
        }
    }

    let token = S3Drive::with_http_client(
        user.clone(),
        http_client_adding_header("X-Amz-Security-Token", "not-a-token"),
    )
    .unwrap();
    let err = put_error(&token).await;
    assert!(
        err.message
            .starts_with("InvalidToken: The provided token is malformed"),
        "{err}"
    );
    assert_presentable(&err);

    let wrong_secret = with_secret(&user, "super-secret-value");
    let err = put_error(&drive_for(&wrong_secret)).await;
    assert!(err.message.starts_with("SignatureDoesNotMatch"), "{err}");

    let unknown = with_access_key(&user, "AKIANOSUCHKEY0000000");
    let err = put_error(&drive_for(&unknown)).await;
    assert!(err.message.starts_with("InvalidAccessKeyId"), "{err}");
}

/// The spec's minimal IAM policy (Put, Get, Delete, ListBucket): backups work, while finding
/// and aborting the multipart uploads a killed backup left are refused as Auth errors that
/// name the optional permission; health and core's sweep only warn about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs real S3 servers: run cargo xtask test"]
async fn minimal_policy_cannot_clean_up_incomplete_uploads() {
    // Requests 1-7 (the bucket, two users with a key and a policy each) run before
    // authorization starts.
    let server = S3Server::moto(Style::Path, Some(7));
    server.create_bucket("backups").await;
    let minimal = [
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    ];
    let drive_of = |user: &str, actions: &[&str]| {
        let (key, secret) = server.iam_user(user, "backups", actions);
        let mut cfg = server.drive_settings("backups", "p");
        cfg.credentials = Some(S3Credentials::new(key, secret));
        drive_for(&cfg)
    };
    let drive = drive_of("backup", &minimal);
    let admin = drive_of("admin", &["s3:*"]);

    upload_bytes(&drive, "db/one.sql.gz", Bytes::from_static(b"one"))
        .await
        .expect("the minimal policy is enough to back up");
    let mut upload = drive.begin("db/killed.sql.gz").await.expect("begin");
    upload
        .write(Bytes::from(vec![7u8; 6 * 1024 * 1024]))
        .await
        .expect("write past one part");
    std::mem::forget(upload);

    let err = drive
        .incomplete_uploads()
        .await
        .expect_err("listing multipart uploads is not allowed");
    assert_eq!(err.kind, DriveErrorKind::Auth, "{err}");
    assert!(
        err.message
            .starts_with("Access Denied: ListMultipartUploads s3://backups/p/"),
        "{err}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("optional: allow s3:ListBucketMultipartUploads"),
        "{err}"
    );
    assert_presentable(&err);

    let left = admin.incomplete_uploads().await.expect("admin lists");
    let keys: Vec<_> = left.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["db/killed.sql.gz"]);
    let err = drive
        .discard_incomplete(&left[0])
        .await
        .expect_err("aborting is not allowed");
    assert_eq!(err.kind, DriveErrorKind::Auth, "{err}");
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("s3:AbortMultipartUpload"),
        "{err}"
    );
    assert_presentable(&err);
    assert_eq!(admin.incomplete_uploads().await.unwrap(), left);

    // What `backupman run` and `prune` do: the refusal is reported, nothing panics.
    let sweep = backupman_core::stale::sweep(
        &drive,
        drive.incomplete_uploads().await,
        chrono::Duration::zero(),
        chrono::Utc::now(),
        &mut [],
    )
    .await;
    assert!(sweep.discarded.is_empty());
    assert_eq!(
        sweep.error.map(|e| e.kind),
        Some(DriveErrorKind::Auth),
        "the sweep reports the refusal"
    );

    for check in drive.health().await {
        match check.check.as_str() {
            "multipart upload + abort" | "incomplete uploads" => {
                assert!(!check.required, "{} must only warn", check.check);
                let err = check.result.expect_err("not permitted");
                assert_eq!(err.kind, DriveErrorKind::Auth, "{}: {err}", check.check);
            }
            _ => assert!(check.result.is_ok(), "{}: {:?}", check.check, check.result),
        }
    }

    admin
        .discard_incomplete(&left[0])
        .await
        .expect("admin aborts");
    assert_eq!(admin.incomplete_uploads().await.unwrap(), vec![]);
}

#[tokio::test]
async fn connection_refused_names_endpoint_and_port() {
    let port = free_port(); // bound and released: nothing listens there
    let endpoint = format!("http://127.0.0.1:{port}");
    let drive = S3Drive::new(cfg(&endpoint, true)).unwrap();
    let err = put_error(&drive).await;
    assert_eq!(err.kind, DriveErrorKind::Connection, "{err}");
    assert!(err.message.starts_with("connection refused"), "{err}");
    assert!(err.message.contains(&endpoint), "{err}");
    assert!(err.hint.as_deref().unwrap().contains("port"), "{err}");
    assert_presentable(&err);
}

#[tokio::test]
async fn unresolvable_virtual_host_points_at_force_path_style() {
    let drive = S3Drive::new(cfg("http://backupman-test.invalid:9000", false)).unwrap();
    let err = put_error(&drive).await;
    assert_eq!(err.kind, DriveErrorKind::Connection, "{err}");
    assert!(
        err.message
            .starts_with("cannot resolve host `backups.backupman-test.invalid:9000`"),
        "{err}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("`force_path_style: true`"),
        "{err}"
    );
    assert_presentable(&err);
}

#[tokio::test]
async fn self_signed_certificate_is_not_trusted() {
    let tls = SelfSignedTlsServer::start();
    let drive = S3Drive::new(cfg(&format!("https://127.0.0.1:{}", tls.port), true)).unwrap();
    let err = put_error(&drive).await;
    assert_eq!(err.kind, DriveErrorKind::Certificate, "{err}");
    assert!(
        err.message.starts_with("certificate is not trusted"),
        "{err}"
    );
    assert_presentable(&err);
}

#[tokio::test]
async fn silent_server_times_out_naming_both_settings() {
    let silent = SilentServer::start();
    let mut config = cfg(&format!("http://127.0.0.1:{}", silent.port), true);
    config.timeout_seconds = Some(1);
    let drive = S3Drive::new(config).unwrap();
    let started = Instant::now();
    let err = put_error(&drive).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind, DriveErrorKind::Connection, "{err}");
    assert!(
        err.message
            .starts_with("operation error S3: PutObject, exceeded maximum number of attempts (1)"),
        "{err}"
    );
    let hint = err.hint.as_deref().unwrap();
    assert!(
        hint.contains("`timeout_seconds` (now 1)") && hint.contains("`max_attempts` (now 1)"),
        "{hint}"
    );
    assert_presentable(&err);
}

#[test]
fn configuration_mistakes_are_caught_before_any_request() {
    let mut no_region = cfg("http://127.0.0.1:9", true);
    no_region.region = " ".into();
    let err = S3Drive::new(no_region).unwrap_err();
    assert!(err.message.contains("Missing region"), "{err}");

    let err = S3Drive::new(cfg("localhost:9000", true)).unwrap_err();
    assert!(err.message.contains("not an http(s) URL"), "{err}");

    // The secret never shows in Debug output.
    let drive = S3Drive::new(cfg("http://127.0.0.1:9", true)).unwrap();
    assert!(!format!("{drive:?}").contains("super-secret-value"));
}
