//! Webhook notifications: a loopback HTTP listener in the test receives what `backupman run`
//! POSTs; failing endpoints never change the run's outcome.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::backupman;

struct Request {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 answering every request with `status`. It stops
/// by itself after `max` requests or when nothing arrives for a few seconds.
fn listener(status: &'static str, max: usize) -> (String, JoinHandle<Vec<Request>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hooks/backup", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut idle_since = Instant::now();
        while got.len() < max && idle_since.elapsed() < Duration::from_secs(8) {
            let (stream, _) = match listener.accept() {
                Ok(conn) => conn,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
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
            idle_since = Instant::now();
        }
        got
    });
    (url, handle)
}

fn setup(endpoints: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        tmp.path().join("demo.sqlite"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n\
             drives:\n  - provider: local\n    label: Disk\n    folder: disk\n\
             notifiers:\n  webhook:\n    endpoints:\n{endpoints}"
        ),
    )
    .unwrap();
    tmp
}

fn run(dir: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec!["run", "-c", "config.yml"];
    args.extend_from_slice(extra);
    backupman(dir, &args)
}

const TOKEN: &str = "wh-s3cret-T0ken";

#[test]
fn a_successful_run_posts_its_summary_with_the_token() {
    let (url, server) = listener("200 OK", 2);
    let (plain_url, plain_server) = listener("204 No Content", 2);
    let tmp = setup(&format!(
        "      - url: {url}\n        token: {TOKEN}\n      - url: {plain_url}\n"
    ));
    let out = run(tmp.path(), &["--json", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        !out.all().contains(TOKEN),
        "the token leaked: {}",
        out.all()
    );

    let got = server.join().unwrap();
    assert_eq!(got.len(), 1, "one POST, no retries");
    let req = &got[0];
    assert_eq!(req.request_line, "POST /hooks/backup HTTP/1.1");
    assert_eq!(
        req.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    // The same report `run --json` prints, plus where and when.
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["sources"], printed["sources"]);
    assert_eq!(body["sources"][0]["source"], "Demo");
    assert_eq!(body["sources"][0]["drives"][0]["drive"], "Disk");
    assert_eq!(body["test_mode"], false);
    let host = body["hostname"].as_str().unwrap();
    assert!(!host.is_empty());
    let started = body["started_at"].as_str().unwrap();
    let finished = body["finished_at"].as_str().unwrap();
    let started = chrono::DateTime::parse_from_rfc3339(started).unwrap();
    let finished = chrono::DateTime::parse_from_rfc3339(finished).unwrap();
    assert!(started <= finished);

    let plain = plain_server.join().unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].header("authorization"), None);
}

#[test]
fn a_failed_run_is_reported_too() {
    let (url, server) = listener("200 OK", 1);
    let tmp = setup(&format!("      - url: {url}\n"));
    std::fs::remove_file(tmp.path().join("demo.sqlite")).unwrap();
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = server.join().unwrap();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["sources"][0]["ok"], false);
    assert!(body["sources"][0]["error"].as_str().is_some(), "{body}");
}

#[test]
fn a_failing_endpoint_is_retried_then_only_a_warning() {
    let (url, server) = listener("500 Internal Server Error", 10);
    let tmp = setup(&format!("      - url: {url}\n        token: {TOKEN}\n"));
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("✔ Demo → Disk"), "{}", out.stderr);
    let got = server.join().unwrap();
    assert_eq!(got.len(), 3, "three attempts");
    assert!(
        got.iter()
            .all(|r| r.header("authorization") == Some(&*format!("Bearer {TOKEN}")))
    );
    assert!(
        out.stderr.contains(&format!(
            "WARN webhook {url}: not notified after 3 attempt(s): HTTP 500 Internal Server Error"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(TOKEN));
}

#[test]
fn a_refusing_endpoint_is_not_retried() {
    let (url, server) = listener("401 Unauthorized", 10);
    let tmp = setup(&format!("      - url: {url}\n"));
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(server.join().unwrap().len(), 1);
    assert!(
        out.stderr
            .contains("not notified after 1 attempt(s): HTTP 401 Unauthorized"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unreachable_endpoint_leaves_the_exit_code_alone() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = setup(&format!(
        "      - url: http://127.0.0.1:{port}/x?key={TOKEN}\n        token: {TOKEN}\n"
    ));
    let out = run(tmp.path(), &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(
        out.stderr.contains(&format!(
            "webhook http://127.0.0.1:{port}/x?…: not notified after 3 attempt(s)"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(TOKEN), "{}", out.all());

    // --quiet: not even the warning.
    let quiet = run(tmp.path(), &["--quiet"]);
    assert_eq!(quiet.code, 0, "{}", quiet.all());
    assert_eq!(quiet.stderr, "", "{}", quiet.stderr);
}
