//! Webhook, Slack and Discord notifications: a loopback HTTP listener in the test receives
//! what `backupman run` POSTs. Webhooks carry the original backupman's header and body (one
//! `backup_report` per backup); failing endpoints never change the run's outcome.

use std::net::TcpListener;
use std::path::Path;

use crate::common::{Request, backupman, listener, notify_setup};

/// `notifiers.webhook` with these endpoints (YAML list items).
fn webhooks(endpoints: &str) -> String {
    format!("  webhook:\n    endpoints:\n{endpoints}")
}

fn run(dir: &Path, extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["run", "-c", "config.yml"];
    args.extend_from_slice(extra);
    backupman(dir, &args)
}

fn json(req: &Request) -> serde_json::Value {
    serde_json::from_slice(&req.body).unwrap()
}

const TOKEN: &str = "wh-s3cret-T0ken";

#[test]
fn each_backup_is_posted_as_the_original_backup_report_with_the_token() {
    let (url, server) = listener("200 OK", 3);
    let (plain_url, plain_server) = listener("204 No Content", 3);
    let tmp = notify_setup(&webhooks(&format!(
        "      - name: Receiver\n        url: {url}\n        token: {TOKEN}\n      - url: {plain_url}\n"
    )));
    let out = run(tmp.path(), &["--json", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        !out.all().contains(TOKEN),
        "the token leaked: {}",
        out.all()
    );
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();

    let got = server.join().unwrap();
    assert_eq!(got.len(), 2, "one POST per backup, no retries");
    for (req, source) in got.iter().zip(&printed["sources"].as_array().unwrap()[..]) {
        assert_eq!(req.request_line, "POST /hooks/backup HTTP/1.1");
        assert_eq!(req.header("x-webhook-token"), Some(TOKEN));
        assert_eq!(
            req.header("authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
        let body = json(req);
        assert_eq!(body["Event"], "backup_report", "{body}");
        let payload = &body["Payload"];
        assert_eq!(payload["Label"], source["source"]);
        assert_eq!(payload["Status"], "finished");
        assert_eq!(payload["Key"], source["key"]);
        assert_eq!(payload["Size"], source["compressed_size"]);
        let id = payload["Id"].as_str().unwrap();
        assert_eq!(id.len(), 32, "{payload}");
        let created = payload["CreatedAt"].as_str().unwrap();
        let updated = payload["UpdatedAt"].as_str().unwrap();
        let created = chrono::DateTime::parse_from_rfc3339(created).unwrap();
        let updated = chrono::DateTime::parse_from_rfc3339(updated).unwrap();
        assert!(created <= updated);
        let files = payload["DriveFiles"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{payload}");
        let file = &files[0];
        assert_eq!(file["BackupId"], id);
        assert_eq!(file["Provider"], "local");
        assert_eq!(file["Label"], "Disk");
        assert_eq!(file["Status"], "finished");
        assert_eq!(file["Path"], source["drives"][0]["location"]);
        assert!(
            Path::new(file["Path"].as_str().unwrap()).is_file(),
            "{file}"
        );
    }
    let labels: Vec<_> = got
        .iter()
        .map(|r| json(r)["Payload"]["Label"].clone())
        .collect();
    assert_eq!(labels, ["Demo", "Copy"]);

    let plain = plain_server.join().unwrap();
    assert_eq!(plain.len(), 2);
    for req in &plain {
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.header("x-webhook-token"), None);
        assert_eq!(json(req)["Event"], "backup_report");
    }
}

#[test]
fn the_run_summary_is_an_opt_in_event() {
    let (url, server) = listener("200 OK", 1);
    let (both_url, both_server) = listener("200 OK", 3);
    let tmp = notify_setup(&webhooks(&format!(
        "      - url: {url}\n        events: [run_summary]\n\
         \x20     - url: {both_url}\n        events: [backup_report, run_summary]\n"
    )));
    let out = run(tmp.path(), &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();

    let got = server.join().unwrap();
    assert_eq!(got.len(), 1, "one POST per run");
    let body = json(&got[0]);
    assert_eq!(body["Event"], "run_summary");
    let summary = &body["Payload"];
    // The same report `run --json` prints, plus where and when.
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["sources"], printed["sources"]);
    assert_eq!(summary["test_mode"], false);
    assert!(!summary["hostname"].as_str().unwrap().is_empty());
    let started = summary["started_at"].as_str().unwrap();
    let finished = summary["finished_at"].as_str().unwrap();
    let started = chrono::DateTime::parse_from_rfc3339(started).unwrap();
    let finished = chrono::DateTime::parse_from_rfc3339(finished).unwrap();
    assert!(started <= finished);

    let events: Vec<_> = both_server
        .join()
        .unwrap()
        .iter()
        .map(|r| json(r)["Event"].clone())
        .collect();
    assert_eq!(events, ["backup_report", "backup_report", "run_summary"]);
}

#[test]
fn a_failed_backup_is_reported_as_failed() {
    let (url, server) = listener("200 OK", 2);
    let tmp = notify_setup(&webhooks(&format!("      - url: {url}\n")));
    std::fs::remove_file(tmp.path().join("demo.sqlite")).unwrap();
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = server.join().unwrap();
    assert_eq!(got.len(), 2);
    let demo = json(&got[0]);
    assert_eq!(demo["Payload"]["Label"], "Demo");
    assert_eq!(demo["Payload"]["Status"], "failed");
    assert!(demo["Payload"]["Error"].as_str().is_some(), "{demo}");
    let copy = json(&got[1]);
    assert_eq!(copy["Payload"]["Label"], "Copy");
    assert_eq!(copy["Payload"]["Status"], "finished");
}

#[test]
fn test_mode_sends_no_backup_report_since_nothing_is_kept() {
    let (url, server) = listener("200 OK", 3);
    let tmp = notify_setup(&webhooks(&format!(
        "      - url: {url}\n        events: [backup_report, run_summary]\n"
    )));
    let out = run(tmp.path(), &["--test-mode"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = server.join().unwrap();
    assert_eq!(got.len(), 1, "only the run summary");
    let body = json(&got[0]);
    assert_eq!(body["Event"], "run_summary");
    assert_eq!(body["Payload"]["test_mode"], true);
}

#[test]
fn a_failing_endpoint_is_retried_then_only_a_warning() {
    let (url, server) = listener("500 Internal Server Error", 10);
    let tmp = notify_setup(&webhooks(&format!(
        "      - name: Receiver\n        url: {url}\n        token: {TOKEN}\n"
    )));
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("✔ Demo → Disk"), "{}", out.stderr);
    let got = server.join().unwrap();
    // Three attempts at the first backup's report; the second is not tried at a dead endpoint.
    assert_eq!(got.len(), 3, "three attempts");
    assert!(
        got.iter()
            .all(|r| r.header("x-webhook-token") == Some(TOKEN))
    );
    assert!(got.iter().all(|r| json(r)["Payload"]["Label"] == "Demo"));
    assert!(
        out.stderr.contains(&format!(
            "⚠ webhook Receiver ({url}): not notified after 3 attempt(s): HTTP 500 Internal Server Error (2 messages not delivered); the backup itself is unaffected"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(TOKEN));
}

#[test]
fn a_refusing_endpoint_is_not_retried() {
    let (url, server) = listener("401 Unauthorized", 10);
    let tmp = notify_setup(&webhooks(&format!("      - url: {url}\n")));
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
    let tmp = notify_setup(&webhooks(&format!(
        "      - url: http://127.0.0.1:{port}/x?key={TOKEN}\n        token: {TOKEN}\n"
    )));
    let out = run(tmp.path(), &["--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(
        out.stderr.contains(&format!(
            "⚠ webhook http://127.0.0.1:{port}/x?…: not notified after 3 attempt(s)"
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

#[test]
fn slack_and_discord_get_one_short_message_per_run() {
    let (slack_url, slack) = listener("200 OK", 2);
    let (discord_url, discord) = listener("204 No Content", 2);
    let tmp = notify_setup(&format!(
        "  slack:\n    webhook_url: {slack_url}?secret={TOKEN}\n\
         \x20 discord:\n    webhook_url: {discord_url}\n"
    ));
    std::fs::remove_file(tmp.path().join("copy.sqlite")).unwrap();
    let out = run(tmp.path(), &["--debug"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!out.all().contains(TOKEN), "{}", out.all());

    let got = slack.join().unwrap();
    assert_eq!(got.len(), 1, "one message per run");
    let text = json(&got[0])["text"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("backupman on ") && lines[0].ends_with(": 1 of 2 backups FAILED"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("✔ Demo: ") && lines[1].contains(" on Disk in "),
        "{text}"
    );
    assert!(lines[2].starts_with("✘ Copy: "), "{text}");
    assert_eq!(lines.len(), 3, "{text}");

    let got = discord.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(json(&got[0])["content"], text.as_str());
}

#[test]
fn a_failing_slack_webhook_is_a_warning_without_its_url() {
    let (url, server) = listener("404 Not Found", 5);
    let tmp = notify_setup(&format!("  slack:\n    webhook_url: {url}/{TOKEN}\n"));
    let out = run(tmp.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(server.join().unwrap().len(), 1);
    assert!(
        out.stderr.contains(
            "⚠ Slack: not notified after 1 attempt(s): HTTP 404 Not Found; the backup itself is unaffected"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(TOKEN), "{}", out.all());
}
