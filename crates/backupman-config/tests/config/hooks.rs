//! `data_sources[].hooks`: the commands, their default and explicit timeout, and mistakes.

use std::time::Duration;

use backupman_config::{HooksConfig, parse};

const HEAD: &str = "drives:\n  - provider: local\n    label: l\n    folder: /b\ndata_sources:\n  - provider: sqlite\n    label: s\n    db_path: /x.db\n";

#[test]
fn hooks_load_with_their_timeout() {
    let text = format!(
        "{HEAD}    hooks:\n      before: systemctl stop app\n      after: \"echo done >> /tmp/log\"\n      on_failure: ${{ALERT:-}}\n      timeout_seconds: 20\n"
    );
    let loaded = parse(&text, "config.yml", |_| None).unwrap();
    let hooks = &loaded.config.sources[0].hooks;
    assert_eq!(hooks.before.as_deref(), Some("systemctl stop app"));
    assert_eq!(hooks.after.as_deref(), Some("echo done >> /tmp/log"));
    // An empty command (here from an unset variable's empty default) is no command.
    assert_eq!(hooks.on_failure, None);
    assert_eq!(hooks.timeout, Duration::from_secs(20));
    assert!(!hooks.is_empty());
}

#[test]
fn without_hooks_nothing_runs_and_the_timeout_is_five_minutes() {
    let loaded = parse(HEAD, "config.yml", |_| None).unwrap();
    let hooks = &loaded.config.sources[0].hooks;
    assert_eq!(hooks, &HooksConfig::default());
    assert!(hooks.is_empty());
    assert_eq!(hooks.timeout, Duration::from_secs(300));
}

#[test]
fn hook_mistakes_are_located() {
    let text = format!("{HEAD}    hooks:\n      timeout_seconds: 0\n");
    let err = parse(&text, "config.yml", |_| None).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.line, p.path.as_str()),
        (10, "data_sources[0].hooks.timeout_seconds")
    );
    let text = format!("{HEAD}    hooks:\n      befor: x\n");
    let err = parse(&text, "config.yml", |_| None).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.line, 10);
    assert_eq!(p.hint.as_deref(), Some("did you mean `before`?"));
}
