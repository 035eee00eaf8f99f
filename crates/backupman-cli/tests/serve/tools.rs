//! The service checked by outside tools: `promtool check metrics` on `/metrics`,
//! schemathesis against `/openapi.json`.

use std::io::Write;
use std::process::{Command, Stdio};

use backupman_testkit::s3::bin_from_env;

use crate::server::{LOCAL_DISK, Server, curl, finished, setup};

#[test]
#[ignore = "needs promtool (Debian prometheus): run cargo xtask test"]
fn metrics_pass_promtool_and_count_what_happened() {
    let (tmp, config) = setup(LOCAL_DISK, "  backup_job:\n    cron: \"* * * * * *\"\n");
    let server = Server::start(tmp.path(), &config);
    let results = server.wait_for_backups(|r| finished(r).len() >= 2);
    let (status, body) = curl(&server.url("/metrics"), &[]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (cargo xtask provision installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} not in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let finished_count = value("backupman_backups_total{source=\"Demo\",status=\"finished\"} ");
    assert!(finished_count >= 2.0, "{text}");
    let newest = &results[0];
    let size = newest["Size"].as_f64().unwrap();
    assert_eq!(
        value("backupman_backup_bytes{source=\"Demo\",drive=\"Disk\"} "),
        size
    );
    let last = value("backupman_last_success_timestamp_seconds{source=\"Demo\"} ");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(now - 60.0 < last && last <= now + 1.0, "{last} vs {now}");
    assert!(value("backupman_backup_duration_seconds{source=\"Demo\"} ") > 0.0);
    assert!(
        text.contains("# TYPE backupman_scheduler_skipped_total counter"),
        "{text}"
    );
    // Prometheus itself asks for OpenMetrics.
    let (_, body) = curl(
        &server.url("/metrics"),
        &["-H", "Accept: application/openmetrics-text; version=1.0.0"],
    );
    let open = String::from_utf8(body).unwrap();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE backupman_backups counter"), "{open}");

    // Restarted, the last success is read back from the drive: no false alert.
    drop(server);
    // (It is read in the background: a slow drive must not hold up the start.)
    let server = Server::start(tmp.path(), &config);
    let read_back = server.last_success("Demo");
    // The newest manifest's end: that of the last backup scraped, or of one after it.
    assert!(
        read_back >= last - 1.0 && read_back <= now + 60.0,
        "{read_back} vs {last}"
    );
}

#[test]
#[ignore = "needs schemathesis (provisioned by xtask): run cargo xtask test"]
fn schemathesis_finds_no_server_error() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let server = Server::start(tmp.path(), &config);
    // A stored backup, so that ids found by links lead somewhere.
    assert_eq!(server.post_backup().0, 200);
    server.wait_for_backups(|r| finished(r).len() == 1);
    let out = Command::new(bin_from_env("BACKUPMAN_SCHEMATHESIS_BIN"))
        .args(["run", &server.url("/openapi.json")])
        .args(["--header", &format!("X-Api-Key: {}", crate::server::KEY)])
        .args(["--max-time", "40", "--workers", "2", "--seed", "1"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}\n{}", server.log());
    // Its summary: every operation tested, test cases generated, no failure of any check
    // (a server error would be one: `not_a_server_error` is among them).
    assert!(report.contains("Tested: 8"), "{report}");
    let cases = report
        .lines()
        .skip_while(|l| !l.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no test case count in {report}"));
    assert!(cases.contains("generated"), "{cases}");
    assert!(!cases.contains("failure"), "{cases}\n{report}");
    assert!(!report.contains("Server error"), "{report}");
    eprintln!("schemathesis: {}", cases.trim());
}
