//! No secret leaves backupman where it should not: one full `run --debug --json` with every
//! kind of secret set to a marker of its own (PostgreSQL and MariaDB passwords, S3 keys, the
//! SMTP password, a webhook token, API keys, and an age identity used by `verify` and
//! `restore`), then a scan of everything it printed, every manifest on every drive, the
//! webhook bodies and the mail it sent, and the command line of every process it started,
//! read from /proc while the dumps ran.
//! Run with `cargo xtask test` (PostgreSQL, MariaDB, s3s-fs, aiosmtpd, `age`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Run, backupman, files, listener};
use backupman_testkit::db::{Db, MY_HOST, MY_PORT, MyDb, PgDb, my};
use backupman_testkit::s3::{S3Server, Style};
use backupman_testkit::smtp::{SmtpMode, SmtpServer};

/// What every marker starts with, so one search finds any of them.
const MARK: &str = "S3CRET-MARK";

/// The processes descending from `root`, with their command lines (NUL-separated arguments
/// joined by spaces).
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut parent = std::collections::HashMap::new();
    let mut cmdline = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after its `)`.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        parent.insert(pid, ppid);
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            cmdline.insert(pid, String::from_utf8_lossy(&raw).replace('\0', " "));
        }
    }
    let under = |mut pid: u32| {
        while let Some(&p) = parent.get(&pid) {
            if p == root {
                return true;
            }
            if p <= 1 {
                return false;
            }
            pid = p;
        }
        false
    };
    cmdline.into_iter().filter(|(pid, _)| under(*pid)).collect()
}

/// Runs `backupman args` in `dir`, reading the command line of each process it starts every
/// few milliseconds until it exits; returns its run and every command line seen.
fn run_watching(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (Run, BTreeSet<String>) {
    let mut child = crate::common::backupman_command(dir, args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            s
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        for (_, line) in descendants(child.id()) {
            seen.insert(line);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "backupman did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (run, seen)
}

/// Fails naming where a secret was found.
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} holds the secret {secret:?}:\n{text}"
        );
    }
}

/// A dump tool that waits before it runs the real one, so the scan sees it running.
fn slow_tool(dir: &Path, name: &str) -> PathBuf {
    backupman_testkit::script(
        dir,
        &format!("slow-{name}"),
        &format!("sleep 1\nexec {name} \"$@\""),
    )
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB, s3s-fs and aiosmtpd: run cargo xtask test"]
fn no_secret_reaches_output_manifests_notifications_or_process_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg_password = format!("{MARK}-pg-pass");
    let my_password = format!("{MARK}-my-pass");
    let token = format!("{MARK}-webhook-token");
    let api_key = format!("{MARK}-api-key");

    let pg = PgDb::create("secrets");
    pg.sql("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000);");
    let my_db = MyDb::create("secrets");
    my_db.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);");
    let my_user = format!("bm_{}", &my_db.name()[my_db.name().len() - 8..]);
    my(
        None,
        &format!(
            "CREATE USER '{my_user}'@'%' IDENTIFIED BY '{my_password}'; \
             GRANT ALL ON `{}`.* TO '{my_user}'@'%';",
            my_db.name()
        ),
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = S3Server::s3s_fs(Style::Path);
    rt.block_on(s3.create_bucket("secret-scan"));
    let smtp = SmtpServer::start(SmtpMode::StartTls);
    let (hook_url, hook) = listener("200 OK", 2);

    let identity = dir.join("backup-key.txt");
    let public = backupman_testkit::age_keygen(&identity);
    let identity_secret = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();

    let config = format!(
        "data_sources:\n{pg_yaml}    password: {pg_password}\n    dump_tool_path: {pg_tool}\n\
         \x20 - provider: mariadb\n    label: My\n    host: {MY_HOST}\n    port: {MY_PORT}\n    db_name: {my_name}\n    user: {my_user}\n    password: {my_password}\n    dump_tool_path: {my_tool}\n\
         drives:\n  - provider: local\n    label: L\n    folder: drive\n{s3_yaml}\
         encryption:\n  age_recipients: [{public}]\n\
         http:\n  api_keys: [{api_key}]\n\
         notifiers:\n  webhook:\n    endpoints:\n      - url: {hook_url}\n        token: {token}\n\
         \x20 mail:\n    smtp_host: 127.0.0.1\n    smtp_port: {smtp_port}\n    smtp_crypto: tls\n    smtp_ca_file: {ca}\n    smtp_user: {smtp_user}\n    smtp_password: {smtp_password}\n    from: backupman@example.com\n    destinations:\n      - email: ops@example.com\n",
        pg_yaml = pg.source_yaml("PG"),
        pg_tool = slow_tool(dir, "pg_dump").display(),
        my_name = my_db.name(),
        my_tool = slow_tool(dir, "mariadb-dump").display(),
        s3_yaml = crate::common::s3_drive_yaml(&s3, "S3", "secret-scan", "scan"),
        public = public.trim(),
        smtp_port = smtp.port,
        ca = smtp.ca_file().unwrap().display(),
        smtp_user = smtp.user.as_deref().unwrap(),
        smtp_password = smtp.password.as_deref().unwrap(),
    );
    std::fs::write(dir.join("config.yml"), &config).unwrap();
    let secrets: Vec<&str> = vec![
        MARK,
        &pg_password,
        &my_password,
        &token,
        &api_key,
        &s3.access_key,
        &s3.secret_key,
        smtp.password.as_deref().unwrap(),
        &identity_secret,
    ];

    let (run, processes) =
        run_watching(dir, &["run", "--debug", "--json", "-c", "config.yml"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("DEBUG"), "--debug logs: {}", run.stderr);
    assert_clean("run's stdout (--json)", &run.stdout, &secrets);
    assert_clean("run's stderr (--debug)", &run.stderr, &secrets);
    let dumps: Vec<&String> = processes
        .iter()
        .filter(|p| p.contains("pg_dump") || p.contains("mariadb-dump"))
        .collect();
    assert!(
        dumps.iter().any(|p| p.contains("pg_dump"))
            && dumps.iter().any(|p| p.contains("mariadb-dump")),
        "the scan must see both dump tools running: {processes:#?}"
    );
    for p in &processes {
        assert_clean("a child's command line", p, &secrets);
    }

    // Every manifest, on the local drive and in the S3 server's own folder.
    let mut manifests = 0;
    for file in files(&dir.join("drive"))
        .into_iter()
        .chain(files(&s3.data_dir().unwrap()))
    {
        // The S3 server keeps JSON metadata of its own beside each object: scanned too.
        if file.to_string_lossy().ends_with(".json") {
            manifests += usize::from(file.to_string_lossy().ends_with(".age.json"));
            assert_clean(
                &file.display().to_string(),
                &std::fs::read_to_string(&file).unwrap(),
                &secrets,
            );
        }
    }
    assert_eq!(manifests, 4, "two sources on two drives");

    // The webhook bodies (the token travels in its header, which is its purpose) and the mail.
    let requests = hook.join().unwrap();
    assert_eq!(requests.len(), 2, "one post per backup");
    for r in &requests {
        assert_clean(
            "a webhook body",
            &String::from_utf8_lossy(&r.body),
            &secrets,
        );
    }
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(
        mails[0].login.as_deref(),
        smtp.user.as_deref(),
        "the mail logged in"
    );
    assert_clean("the mail", &mails[0].raw, &secrets);

    // The identity, used to verify and restore.
    let key = dir.join("backup-key.txt");
    let key = key.to_str().unwrap();
    let verify = backupman(
        dir,
        &[
            "verify",
            "--latest",
            "--debug",
            "--json",
            "--identity",
            key,
            "-c",
            "config.yml",
        ],
    );
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stderr.contains("decrypted and decoded"),
        "{}",
        verify.stderr
    );
    assert_clean("verify's output", &verify.all(), &secrets);
    let copy = PgDb::create("secrets_copy");
    let (restore, processes) = run_watching(
        dir,
        &[
            "restore",
            "--source",
            "PG",
            "--latest",
            "--to",
            copy.name(),
            "--debug",
            "-c",
            "config.yml",
        ],
        &[("BACKUPMAN_AGE_IDENTITY", key)],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(copy.fingerprint(), pg.fingerprint());
    assert_clean("restore's output", &restore.all(), &secrets);
    for p in &processes {
        assert_clean("a restore child's command line", p, &secrets);
    }
    my(None, &format!("DROP USER '{my_user}'@'%'"));
}
