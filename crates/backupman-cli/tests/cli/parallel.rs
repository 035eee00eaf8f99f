//! Sources backed up at the same time: a hanging source holds only its own slot, the report
//! keeps the configured order, lines never mix, `--parallel 1` is one source after another;
//! drives are built and swept once per run; `health` with a drive down answers in time.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{backupman, fake_dump_tool, rt};
use backupman_testkit::proxy::LatencyProxy;
use backupman_testkit::s3::{S3Server, SilentServer, Style};

fn demo_copy(dir: &Path, name: &str) {
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        dir.join(name),
    )
    .unwrap();
}

/// `- provider: sqlite` items labelled `labels`, each on its own copy of the demo database,
/// each followed by `extra(label)` (more of its options, indented by four).
fn sqlite_sources(dir: &Path, labels: &[&str], extra: impl Fn(&str) -> String) -> String {
    labels
        .iter()
        .map(|label| {
            let file = format!("{}.sqlite", label.to_lowercase());
            demo_copy(dir, &file);
            format!(
                "  - provider: sqlite\n    label: {label}\n    db_path: {file}\n{}",
                extra(label)
            )
        })
        .collect()
}

/// A `--json` report's source labels, in its order, and each one's `ok`.
fn report_sources(stdout: &str) -> Vec<(String, bool)> {
    let report: serde_json::Value = serde_json::from_str(stdout).unwrap();
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_owned(),
                s["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Every stderr line is one whole message: a mark and a source at its start, never two
/// messages run together on one line.
fn assert_lines_whole(stderr: &str, labels: &[&str]) {
    for line in stderr.lines() {
        if is_log_line(line) {
            continue;
        }
        let whole = ["✔ ", "✘ ", "⚠ ", "interrupted: "]
            .iter()
            .any(|mark| line.starts_with(mark));
        assert!(whole, "a line that is no whole message: {line:?}\n{stderr}");
        let marks = line.matches(['✔', '✘', '⚠']).count();
        assert!(marks <= 1, "two messages on one line: {line:?}");
        if line.starts_with("✔ ") {
            assert!(
                labels
                    .iter()
                    .any(|l| line.starts_with(&format!("✔ {l} → Disk: "))),
                "{line:?}"
            );
            assert!(line.ends_with(')'), "cut short: {line:?}");
        }
    }
}

/// A line of the log: a timestamp, then its level (`2026-01-02T03:04:05.678Z  INFO …`).
fn is_log_line(line: &str) -> bool {
    let Some((stamp, rest)) = line.split_once(' ') else {
        return false;
    };
    chrono_like(stamp)
        && ["INFO ", "WARN ", "ERROR ", "DEBUG "]
            .iter()
            .any(|level| rest.trim_start().starts_with(level))
}

fn chrono_like(stamp: &str) -> bool {
    stamp.len() >= 20
        && stamp.ends_with('Z')
        && stamp.as_bytes()[4] == b'-'
        && stamp.as_bytes()[10] == b'T'
}

/// With two slots, a source whose dump never ends holds one: the three others go through
/// the other slot and are reported while it still hangs; then an interrupt stops it. The
/// report keeps the configured order.
#[test]
fn a_hanging_source_holds_only_its_own_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let tool = fake_dump_tool(tmp.path(), "sleep 600");
    let labels = ["Alpha", "Bravo", "Charlie"];
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Hangs\n    db_name: app\n    dump_tool_path: {}\n{}drives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
            tool.display(),
            sqlite_sources(tmp.path(), &labels, |_| String::new())
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_backupman"))
        .args([
            "run",
            "-c",
            config.to_str().unwrap(),
            "--json",
            "--parallel",
            "2",
        ])
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stored = Vec::new();
    while stored.len() < labels.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {stored:?} were stored while Hangs hung"));
        assert!(
            !line.starts_with("✘ Hangs") && !line.starts_with("✔ Hangs"),
            "Hangs cannot have finished: {line}"
        );
        if let Some(label) = labels
            .iter()
            .find(|l| line.starts_with(&format!("✔ {l} → Disk: ")))
        {
            stored.push(*label);
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "Hangs still runs");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("✘ Hangs → Disk: not stored, the dump failed: interrupted"),
        "{stderr}"
    );
    assert_eq!(
        report_sources(&stdout),
        [
            ("Hangs".to_owned(), false),
            ("Alpha".to_owned(), true),
            ("Bravo".to_owned(), true),
            ("Charlie".to_owned(), true)
        ]
    );
    assert_lines_whole(&stderr, &labels);
}

/// Each source's `before` hook notes its start and waits, its `after` hook notes its end:
/// with `--parallel 1` the notes alternate in configuration order; with `--parallel 3` the
/// three start before any ends.
#[test]
fn parallel_one_is_one_source_after_another_and_three_overlap() {
    let labels = ["Alpha", "Bravo", "Charlie"];
    for (parallel, overlap) in [("1", false), ("3", true)] {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("order.log");
        let sources = sqlite_sources(tmp.path(), &labels, |label| {
            format!(
                "    hooks:\n      before: \"echo start {label} >> '{log}'; sleep 1\"\n      after: \"echo end {label} >> '{log}'\"\n",
                log = log.display()
            )
        });
        let config = tmp.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "data_sources:\n{sources}drives:\n  - provider: local\n    label: Disk\n    folder: disk\n"
            ),
        )
        .unwrap();
        let run = backupman(
            tmp.path(),
            &[
                "run",
                "-c",
                config.to_str().unwrap(),
                "--json",
                "--parallel",
                parallel,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.all());
        let order = std::fs::read_to_string(&log).unwrap();
        let order: Vec<&str> = order.lines().collect();
        if overlap {
            assert!(
                order[..3].iter().all(|l| l.starts_with("start ")),
                "{order:?}"
            );
        } else {
            assert_eq!(
                order,
                [
                    "start Alpha",
                    "end Alpha",
                    "start Bravo",
                    "end Bravo",
                    "start Charlie",
                    "end Charlie"
                ]
            );
        }
        assert_eq!(
            report_sources(&run.stdout),
            labels.map(|l| (l.to_owned(), true))
        );
        assert_lines_whole(&run.stderr, &labels);
    }
}

#[test]
fn parallel_out_of_range_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["0", "65"] {
        let run = backupman(tmp.path(), &["run", "--parallel", bad]);
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("--parallel"), "{}", run.stderr);
        assert!(run.stderr.contains("1..=64"), "{}", run.stderr);
    }
}

/// Five sources to two S3 drives through a request-counting proxy: each drive is swept for
/// incomplete uploads once (one ListMultipartUploads per drive), not once per source, and
/// every source still lands on both.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn drives_are_swept_and_folders_listed_once_per_run_not_once_per_source() {
    let server = S3Server::rclone(Style::Path);
    rt().block_on(server.create_bucket("backups"));
    let proxy = LatencyProxy::start(server.port, Duration::from_millis(2));
    let tmp = tempfile::tempdir().unwrap();
    let labels = ["One", "Two", "Three", "Four", "Five"];
    let drive = |label: &str, prefix: &str| {
        format!(
            "  - provider: s3\n    label: {label}\n    bucket: backups\n    region: us-east-1\n    access_key: {}\n    secret_key: \"{}\"\n    endpoint: {}\n    prefix: {prefix}\n    force_path_style: true\n",
            server.access_key,
            server.secret_key,
            proxy.endpoint()
        )
    };
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n{}drives:\n{}{}retention:\n  by: count\n  value: 3\n",
            sqlite_sources(tmp.path(), &labels, |_| String::new()),
            drive("East", "east"),
            drive("West", "west"),
        ),
    )
    .unwrap();
    let run = backupman(
        tmp.path(),
        &["run", "-c", config.to_str().unwrap(), "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let sweeps: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains("?uploads"))
        .collect();
    assert_eq!(sweeps.len(), 2, "one sweep per drive: {sweeps:#?}");
    for prefix in ["east", "west"] {
        assert_eq!(
            sweeps
                .iter()
                .filter(|l| l.contains(&format!("prefix={prefix}")))
                .count(),
            1,
            "{sweeps:#?}"
        );
    }
    // Each source's folder is listed once per drive, by a single page here: the sweep and
    // retention share that listing, and retention by count reads no manifest.
    let listings: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains("list-type=2"))
        .collect();
    assert_eq!(listings.len(), labels.len() * 2, "{listings:#?}");
    for prefix in ["east", "west"] {
        let on_drive = listings
            .iter()
            .filter(|l| l.contains(&format!("prefix={prefix}")));
        assert_eq!(on_drive.count(), labels.len(), "{listings:#?}");
    }
    let manifest_reads = proxy.count(|l| l.starts_with("GET ") && l.contains(".json"));
    assert_eq!(manifest_reads, 0, "{:#?}", proxy.requests());
    // Each source: its object and its manifest on each drive.
    let puts = proxy.count(|l| l.starts_with("PUT ") && !l.contains(".backupman"));
    assert_eq!(puts, labels.len() * 2 * 2, "{:#?}", proxy.requests());
    assert_eq!(
        report_sources(&run.stdout),
        labels.map(|l| (l.to_owned(), true))
    );
}

/// One drive on a closed port, one behind a proxy that accepts and never answers, one that
/// works: `health` answers within ten seconds, names both broken drives and why, and passes
/// the working one.
#[test]
fn health_with_drives_down_answers_in_time_and_names_them() {
    let silent = SilentServer::start();
    let hanging = LatencyProxy::start(silent.port, Duration::from_secs(3600));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let tmp = tempfile::tempdir().unwrap();
    demo_copy(tmp.path(), "demo.sqlite");
    let s3 = |label: &str, endpoint: &str| {
        format!(
            "  - provider: s3\n    label: {label}\n    bucket: backups\n    region: us-east-1\n    access_key: AKIAEXAMPLE\n    secret_key: \"${{SECRET}}\"\n    endpoint: {endpoint}\n    force_path_style: true\n"
        )
    };
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\ndrives:\n{}{}  - provider: local\n    label: Disk\n    folder: disk\n",
            s3("Closed", &format!("http://127.0.0.1:{closed_port}")),
            s3("Hanging", &hanging.endpoint()),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let run = crate::common::backupman_env(
        tmp.path(),
        &["health", "-c", config.to_str().unwrap(), "--json"],
        &[("SECRET", "not-a-real-secret")],
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "health took {took:?}");
    assert_eq!(run.code, 1, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let drive = |label: &str| {
        report["drives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["drive"] == label)
            .unwrap_or_else(|| panic!("{label} in {report:#}"))
            .clone()
    };
    let closed = drive("Closed");
    assert_eq!(closed["ok"], false);
    // The first check names where the credentials came from; the first to reach the store
    // is PutObject.
    let put = closed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "PutObject")
        .unwrap_or_else(|| panic!("no PutObject check: {closed:#}"))
        .clone();
    let refused = put["error"].as_str().unwrap();
    assert!(refused.contains("connection refused"), "{refused}");
    assert!(refused.contains(&closed_port.to_string()), "{refused}");
    let hung = drive("Hanging");
    assert_eq!(hung["ok"], false);
    assert_eq!(hung["checks"][0]["check"], "reachable");
    let silent_msg = hung["checks"][0]["error"].as_str().unwrap();
    assert!(
        silent_msg.contains(&format!(
            "no answer from {} (bucket `backups`) within 8 s",
            hanging.endpoint()
        )),
        "{silent_msg}"
    );
    assert_eq!(drive("Disk")["ok"], true);
    assert!(
        run.stderr.contains("✘ drive Closed (s3)") && run.stderr.contains("✘ drive Hanging (s3)"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("not-a-real-secret"));
}
