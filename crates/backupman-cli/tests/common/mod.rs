//! Running the real `backupman` binary the way a person would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn backupman(dir: &Path, args: &[&str]) -> Run {
    backupman_env(dir, args, &[])
}

/// The `backupman` command with `args` in `dir`, with extra environment variables and none
/// of the caller's that would change what it does.
pub fn backupman_command(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backupman"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("BACKUPMAN_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("AWS_CA_BUNDLE")
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied());
    cmd
}

/// `backupman` run in `dir` with extra environment variables.
pub fn backupman_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let out: Output = backupman_command(dir, args, envs)
        .output()
        .expect("backupman runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir`, relative, hidden files included.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Every row of every table, as text, in a stable order: two databases with equal dumps here
/// hold the same data.
pub fn sqlite_rows(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut rows = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            let values: Vec<String> = (0..n)
                .map(|i| match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => format!("{v:?}"),
                    rusqlite::types::ValueRef::Text(t) => {
                        format!("{:?}", String::from_utf8_lossy(t))
                    }
                    rusqlite::types::ValueRef::Blob(b) => format!("x'{}'", hex(b)),
                })
                .collect();
            rows.push(format!("{table}: {}", values.join(" | ")));
        }
    }
    rows
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A backup of source "Demo" taken at `t` as the engine stores it: its key (in the first key
/// format, or with `unique` the current one) and its manifest's bytes. The manifest agrees
/// with the key on the time, as the engine's always does.
pub fn forged_backup(t: chrono::DateTime<chrono::Utc>, unique: bool) -> (String, Vec<u8>) {
    let key = if unique {
        format!(
            "demo/demo-{}-0a1b2c.sqlite.gz",
            t.format("%Y%m%dT%H%M%S%.3fZ")
        )
    } else {
        format!("demo/demo-{}.sqlite.gz", t.format("%Y%m%dT%H%M%SZ"))
    };
    let manifest = serde_json::json!({
        "version": 1, "source": "Demo", "provider": "sqlite", "database": "demo.sqlite",
        "key": key, "started_at": t, "finished_at": t, "size": 1, "compressed_size": 15,
        "sha256": "00", "compression": "gzip-6", "tool_version": null, "backupman_version": "test"
    });
    (key, serde_json::to_vec(&manifest).unwrap())
}

/// A temp folder holding a copy of the demo database and a `config.yml` whose only source is
/// it (label `Demo`); `rest` is the YAML that follows `data_sources` (drives, retention...).
pub fn demo_setup(rest: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        tmp.path().join("demo.sqlite"),
    )
    .unwrap();
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n{rest}"
        ),
    )
    .unwrap();
    (tmp, config.display().to_string())
}

/// One HTTP request as [`listener`] received it.
pub struct Request {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 answering every request with `status`. It stops
/// by itself after `max` requests or when nothing arrives for a few seconds.
pub fn listener(
    status: &'static str,
    max: usize,
) -> (String, std::thread::JoinHandle<Vec<Request>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hooks/backup", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut idle_since = std::time::Instant::now();
        while got.len() < max && idle_since.elapsed() < std::time::Duration::from_secs(8) {
            let (stream, _) = match listener.accept() {
                Ok(conn) => conn,
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            let request = Request {
                request_line: request_line.trim_end().to_owned(),
                headers,
                body: Vec::new(),
            };
            let length: usize = request
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            got.push(Request { body, ..request });
            idle_since = std::time::Instant::now();
        }
        got
    });
    (url, handle)
}

/// A temp folder with two copies of the demo database as sources (`Demo`, `Copy`), one local
/// drive `Disk` (folder `disk`), and `notifiers` (YAML indented under `notifiers:`).
pub fn notify_setup(notifiers: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["demo.sqlite", "copy.sqlite"] {
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
            tmp.path().join(name),
        )
        .unwrap();
    }
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n\
             \x20 - provider: sqlite\n    label: Copy\n    db_path: copy.sqlite\n\
             drives:\n  - provider: local\n    label: Disk\n    folder: disk\n\
             notifiers:\n{notifiers}"
        ),
    )
    .unwrap();
    tmp
}

/// Writes an executable stand-in for `mariadb-dump` into `dir`: it answers `--version` like
/// the real tool, and otherwise runs `body` (a shell command producing the dump).
pub fn fake_dump_tool(dir: &Path, body: &str) -> PathBuf {
    backupman_testkit::script(
        dir,
        "mariadb-dump",
        &format!(
            "if [ \"$1\" = \"--version\" ]; then echo 'mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB'; exit 0; fi\nexec {body}"
        ),
    )
}

/// Waits, at most 30 s, until a file under `disk` (a local drive's folder) holds data: the
/// backup is writing to the drive, so a signal now interrupts it mid-stream.
pub fn wait_until_writing(disk: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !files(disk)
        .iter()
        .any(|f| f.metadata().map(|m| m.len() > 0).unwrap_or(false))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the backup never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Sends `signal` (as `kill` names it, e.g. `-INT`) to `child` and waits, at most `within`,
/// for it to exit; returns its exit code and everything it wrote to its (piped) stderr.
pub fn interrupt_and_wait(
    child: &mut std::process::Child,
    signal: &str,
    within: std::time::Duration,
) -> (Option<i32>, String) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + within;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("backupman did not stop within {within:?} after {signal}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (code, stderr)
}

/// Random bytes (incompressible), `mib` MiB of them, in a fresh SQLite database.
pub fn random_sqlite(path: &Path, mib: u32) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {mib})
         INSERT INTO blobs SELECT i, randomblob(1048576) FROM n;"
    ))
    .unwrap();
}

/// A `drives:` item for `bucket` under `prefix` on `server`, labelled `label`.
pub fn s3_drive_yaml(
    server: &backupman_testkit::s3::S3Server,
    label: &str,
    bucket: &str,
    prefix: &str,
) -> String {
    format!(
        "  - provider: s3\n    label: {label}\n    bucket: {bucket}\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    prefix: {prefix}\n    force_path_style: {}\n    timeout_seconds: 20\n    max_attempts: 2\n",
        server.access_key,
        server.secret_key,
        server.endpoint,
        server.style == backupman_testkit::s3::Style::Path
    )
}

/// A two-thread tokio runtime for tests that talk to servers through the SDK.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The rows of the bundled demo database, what every restore of it must give back.
pub fn demo_rows() -> Vec<String> {
    sqlite_rows(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/demo.sqlite"
    )))
}
