//! `serve` on an open network: idle and half-sent connections, a flood of `/health`
//! requests, short API keys.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::fake_dump_tool;
use crate::server::{KEY, LOCAL_DISK, Server, curl, setup, write_config};

/// `/ping` over a fresh connection: its status and how long it took.
fn ping(server: &Server) -> (u16, Vec<u8>, Duration) {
    let started = Instant::now();
    let (status, body) = curl(&server.url("/ping"), &["--max-time", "10"]);
    (status, body, started.elapsed())
}

#[test]
fn eleven_hundred_idle_connections_under_ulimit_1024_do_not_keep_ping_out() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    // As the finding had it: 1,100 idle connections to a server allowed 1,024 files, with
    // the default limit of 512 connections.
    let server = Server::start_with_fd_limit(tmp.path(), &config, Some(1024));
    let idle: Vec<TcpStream> = (0..1100)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", server.port))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    let (status, body, took) = ping(&server);
    eprintln!("/ping with 1,100 idle connections open: {status} in {took:?}");
    assert_eq!(
        (status, body),
        (200, br#"{"message":"pong"}"#.to_vec()),
        "{}",
        server.log()
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The oldest idle connections were closed to make room: reading them ends at once.
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(first.read(&mut buf).unwrap(), 0, "closed without an answer");
    // And every route still works.
    assert_eq!(server.get("/api/backups").0, 200, "{}", server.log());
    let open = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    eprintln!("serve holds {open} file descriptors");
    assert!(open < 600, "{open} descriptors open");
    drop(idle);
}

#[test]
fn a_half_sent_request_and_an_idle_connection_are_closed_after_the_header_timeout() {
    let (tmp, config) = setup(LOCAL_DISK, "  header_timeout_seconds: 1\n");
    let server = Server::start(tmp.path(), &config);
    let closed_after = |sent: &[u8]| {
        let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        conn.write_all(sent).unwrap();
        let mut answer = Vec::new();
        // Ends (EOF or reset) when the server closes the connection.
        let _ = conn.read_to_end(&mut answer);
        let took = started.elapsed();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
        took
    };
    let half = closed_after(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: 1");
    let silent = closed_after(b"");
    eprintln!("closed after: half-sent request {half:?}, silent connection {silent:?}");
    for took in [half, silent] {
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    // A whole request on a kept-alive connection is answered, then the connection waits
    // for the next head only as long.
    let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"message":"pong"}"#), "{answer}");
}

/// A stand-in for mariadb-dump that notes each call (but `--version`) in `count`.
fn counting_source(dir: &Path) -> String {
    let count = dir.join("count");
    let tool = fake_dump_tool(dir, &format!("sh -c 'echo dump >> {}'", count.display()));
    format!(
        "data_sources:\n  - provider: mariadb\n    label: Counted\n    db_name: app\n    dump_tool_path: {}\n",
        tool.display()
    )
}

fn dumps(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn twenty_concurrent_open_health_requests_start_no_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &counting_source(tmp.path()), "");
    let server = Server::start(tmp.path(), &config);
    // The first answer waits for the check run at start.
    let first: serde_json::Value =
        serde_json::from_slice(&curl(&server.url("/health"), &[]).1).unwrap();
    assert_eq!(first["Status"], "UP", "{first}\n{}", server.log());
    assert_eq!(dumps(tmp.path()), 1, "the check at start");
    let url = server.url("/health");
    let answers: Vec<(u16, Vec<u8>)> = std::thread::scope(|s| {
        let requests: Vec<_> = (0..20).map(|_| s.spawn(|| curl(&url, &[]))).collect();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (status, body) in answers {
        assert_eq!(status, 200);
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(report, first, "the same last report");
        assert_eq!(
            report["Details"]["DataSources"]["Components"]["Counted"]["Status"],
            "UP"
        );
        assert_eq!(
            report["Details"]["Drives"]["Components"]["Disk"]["Status"],
            "UP"
        );
    }
    assert_eq!(dumps(tmp.path()), 1, "no request started a dump");
    // With the key: a fresh check.
    let (status, body) = server.get("/health");
    assert_eq!(status, 200);
    let fresh: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(fresh["Status"], "UP", "{fresh}");
    assert_eq!(dumps(tmp.path()), 2, "one fresh check");
    // A wrong key is no key: the last report, no check.
    let (status, _) = curl(&server.url("/health"), &["-H", "X-Api-Key: nope"]);
    assert_eq!(status, 200);
    assert_eq!(dumps(tmp.path()), 2);
}

#[test]
fn a_short_api_key_is_warned_about_and_the_originals_example_still_works() {
    let (tmp, config) = crate::common::demo_setup(&format!(
        "drives:\n{LOCAL_DISK}http:\n  api_keys: [apikey1, 0123456789abcdef0123456789abcdef]\n"
    ));
    let server = Server::start(tmp.path(), &config);
    let (status, _) = curl(&server.url("/api/backups"), &["-H", "X-Api-Key: apikey1"]);
    assert_eq!(status, 200);
    let log = server.log();
    assert!(
        log.contains("http.api_keys[0] has only 7 characters")
            && log.contains("openssl rand -hex 32"),
        "{log}"
    );
    assert!(
        !log.contains("api_keys[1] has only"),
        "a long key is not warned about:\n{log}"
    );
    assert!(
        !log.contains("apikey1"),
        "the key itself is never logged:\n{log}"
    );
    // The test kit's own key is short too, and warned about the same way.
    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    assert!(
        server.log().contains(&format!(
            "http.api_keys[0] has only {} characters",
            KEY.len()
        )),
        "{}",
        server.log()
    );
}
