//! Hooks with real commands around a real backup: a failing or hanging `before` stores
//! nothing, `after` and `on_failure` see the backup through `BACKUPMAN_*` variables, and a
//! failing `after` is a warning.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{backupman, demo_setup, files};

const DRIVE: &str = "drives:\n  - provider: local\n    label: Disk\n    folder: disk\n";

/// The `BACKUPMAN_*` variables a hook wrote with `env > file`.
fn vars(file: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("the hook did not write {}: {e}", file.display()));
    text.lines()
        .filter(|l| l.starts_with("BACKUPMAN_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn stored(dir: &Path) -> Vec<std::path::PathBuf> {
    files(&dir.join("disk"))
}

#[test]
fn a_failing_before_hook_stores_nothing_and_runs_on_failure() {
    let (tmp, config) = demo_setup(&format!(
        "    hooks:\n      before: 'echo service will not stop >&2; exit 3'\n      on_failure: 'env > failure.env'\n      after: 'touch after-ran'\n{DRIVE}"
    ));
    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("✘ Demo: the before hook failed (exit status 3): service will not stop"),
        "{}",
        run.stderr
    );
    assert!(stored(tmp.path()).is_empty(), "{:?}", stored(tmp.path()));
    assert!(!tmp.path().join("after-ran").exists());

    let env = vars(&tmp.path().join("failure.env"));
    assert_eq!(env["BACKUPMAN_HOOK"], "on_failure");
    assert_eq!(env["BACKUPMAN_STATUS"], "failure");
    assert_eq!(env["BACKUPMAN_SOURCE"], "Demo");
    assert_eq!(env["BACKUPMAN_KEY"], "");
    assert!(
        env["BACKUPMAN_ERROR"].contains("before hook failed"),
        "{env:?}"
    );

    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let hooks = &json["sources"][0]["hooks"];
    assert_eq!(hooks[0]["hook"], "before");
    assert_eq!(hooks[0]["ok"], false);
    assert_eq!(hooks[1]["hook"], "on_failure");
    assert_eq!(hooks[1]["ok"], true);
    assert_eq!(json["sources"][0]["ok"], false);
}

#[test]
fn a_hanging_before_hook_is_killed_with_its_children_at_the_timeout() {
    let (tmp, config) = demo_setup(&format!(
        "    hooks:\n      before: 'sleep 60 & echo $! > child.pid; sleep 60'\n      timeout_seconds: 1\n{DRIVE}"
    ));
    let started = Instant::now();
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        run.stderr
            .contains("the before hook was still running after 1 s and was killed"),
        "{}",
        run.stderr
    );
    assert!(stored(tmp.path()).is_empty(), "{:?}", stored(tmp.path()));
    // The hook's background child was in its process group: it died too.
    let pid = std::fs::read_to_string(tmp.path().join("child.pid")).unwrap();
    assert!(
        dies_within(pid.trim(), Duration::from_secs(5)),
        "the hook's child {} outlived the timeout",
        pid.trim()
    );
}

/// Whether process `pid` is gone or a zombie (killed, not yet reaped by whoever inherited
/// it) within `limit`.
fn dies_within(pid: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let dead = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // The state follows the command name in parentheses: `123 (sleep) Z ...`.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        };
        if dead {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn after_sees_the_backup_through_its_environment() {
    let (tmp, config) = demo_setup(&format!(
        "    hooks:\n      before: 'env > before.env'\n      after: 'env > after.env'\n      on_failure: 'touch failure-ran'\n{DRIVE}"
    ));
    let run = backupman(tmp.path(), &["run", "-c", &config, "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let objects: Vec<_> = stored(tmp.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(!tmp.path().join("failure-ran").exists());

    let before = vars(&tmp.path().join("before.env"));
    assert_eq!(before["BACKUPMAN_HOOK"], "before");
    assert_eq!(before["BACKUPMAN_STATUS"], "started");
    assert_eq!(before["BACKUPMAN_PROVIDER"], "sqlite");
    assert_eq!(before["BACKUPMAN_KEY"], "");

    let after = vars(&tmp.path().join("after.env"));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let source = &json["sources"][0];
    assert_eq!(after["BACKUPMAN_HOOK"], "after");
    assert_eq!(after["BACKUPMAN_STATUS"], "success");
    assert_eq!(after["BACKUPMAN_SOURCE"], "Demo");
    assert_eq!(after["BACKUPMAN_TEST_MODE"], "0");
    assert_eq!(after["BACKUPMAN_ERROR"], "");
    assert_eq!(after["BACKUPMAN_KEY"], source["key"].as_str().unwrap());
    assert!(
        objects[0].ends_with(&after["BACKUPMAN_KEY"]),
        "{objects:?} {after:?}"
    );
    assert_eq!(
        after["BACKUPMAN_COMPRESSED_SIZE"],
        std::fs::metadata(&objects[0]).unwrap().len().to_string()
    );
    assert_eq!(after["BACKUPMAN_SIZE"], source["size"].to_string());
    assert_eq!(
        after["BACKUPMAN_SHA256"],
        source["sha256"].as_str().unwrap()
    );
    let hooks: Vec<_> = source["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["hook"].as_str().unwrap(), h["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(hooks, [("before", true), ("after", true)]);
}

#[test]
fn a_failing_after_hook_is_a_warning_and_the_backup_stays() {
    let (tmp, config) = demo_setup(&format!(
        "    hooks:\n      after: 'echo cache flush failed >&2; exit 1'\n{DRIVE}"
    ));
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("⚠ Demo: the after hook failed (exit status 1): cache flush failed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        stored(tmp.path())
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "gz"))
            .count(),
        1
    );
}

#[test]
fn a_dry_run_names_the_hooks_and_runs_none() {
    let (tmp, config) = demo_setup(&format!(
        "    hooks:\n      before: 'touch before-ran'\n      on_failure: 'touch failure-ran'\n      timeout_seconds: 30\n{DRIVE}"
    ));
    let run = backupman(tmp.path(), &["run", "--dry-run", "-c", &config]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("    with hooks before, on_failure (each at most 30 s)"),
        "{}",
        run.stdout
    );
    assert!(!tmp.path().join("before-ran").exists());
    assert!(!tmp.path().join("failure-ran").exists());
}
