//! Whole-server sources (`databases`, `exclude`), table exclusions, `retry`, per-source
//! `schedule` and `notifiers.ping`: what loads, what it means, and every mistake at its line.

use std::time::Duration;

use backupman_config::{Databases, Loaded, RetryConfig, parse};

fn load(text: &str) -> Loaded {
    parse(text, "config.yml", |_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(text: &str) -> Vec<(usize, String, String)> {
    crate::common::problems_of(text, |_| None)
}

const DRIVE: &str = "drives:\n  - provider: local\n    label: L\n    folder: /b\n";

#[test]
fn a_whole_server_source_loads_with_its_exclusions_retry_and_schedule() {
    let text = format!(
        "retry: {{attempts: 4, delay_seconds: 5}}\n\
         data_sources:\n\
         \x20 - provider: postgres\n    label: Main PG\n    databases: all\n    exclude: [scratch, 'test_*']\n\
         \x20   exclude_tables: [audit]\n    exclude_table_data: [sessions]\n\
         \x20   schedule: {{cron: '*/2 * * * * *', timezone: Europe/Paris}}\n\
         \x20 - provider: mariadb\n    label: Shop\n    databases: [shop, mysql]\n    retry: {{attempts: 1}}\n\
         \x20 - provider: sqlite\n    label: Lite\n    db_path: /l.db\n\
         {DRIVE}notifiers:\n  ping:\n    endpoints:\n      - name: hc\n        url: https://hc-ping.com/abc/\n"
    );
    let config = load(&text).config;
    let pg = &config.sources[0];
    let selection = pg.databases.as_ref().unwrap();
    assert_eq!(selection.databases, Databases::All);
    assert!(selection.includes("app", false));
    assert!(
        !selection.includes("template1", true),
        "system databases are left out of all"
    );
    assert!(!selection.includes("scratch", false));
    assert!(!selection.includes("test_42", false));
    assert_eq!(pg.db_name, None);
    assert_eq!(pg.exclude_tables, ["audit"]);
    assert_eq!(pg.exclude_table_data, ["sessions"]);
    assert_eq!(
        pg.retry,
        RetryConfig {
            attempts: 4,
            delay: Duration::from_secs(5)
        },
        "the top-level retry"
    );
    let schedule = pg.schedule.as_ref().unwrap();
    assert_eq!(schedule.timezone, chrono_tz::Europe::Paris);

    let shop = &config.sources[1];
    let selection = shop.databases.as_ref().unwrap();
    assert!(
        selection.includes("mysql", true),
        "a listed system database is backed up"
    );
    assert!(!selection.includes("other", false));
    assert_eq!(shop.retry.attempts, 1, "its own retry");
    assert_eq!(
        shop.retry.delay,
        Duration::from_secs(30),
        "the default delay"
    );
    assert_eq!(config.sources[2].retry.attempts, 4);

    assert_eq!(config.pings.len(), 1);
    assert_eq!(config.pings[0].url.expose(), "https://hc-ping.com/abc");
    assert!(
        !format!("{:?}", config.pings).contains("hc-ping"),
        "the URL is a secret"
    );
}

#[test]
fn a_source_without_retry_or_databases_is_as_before() {
    let text =
        format!("data_sources:\n  - provider: postgres\n    label: App\n    db_name: app\n{DRIVE}");
    let app = &load(&text).config.sources[0];
    assert_eq!(app.db_name.as_deref(), Some("app"));
    assert_eq!(app.databases, None);
    assert_eq!(app.retry, RetryConfig::default());
    assert_eq!(app.retry.attempts, 1);
    assert!(app.exclude_tables.is_empty() && app.schedule.is_none() && app.part_of.is_none());
}

#[test]
fn mistakes_are_located() {
    let text = format!(
        "retry: {{attempts: 0}}\n\
         data_sources:\n\
         \x20 - provider: postgres\n    label: A\n    db_name: a\n    databases: all\n\
         \x20 - provider: postgres\n    label: B\n    databases: some\n\
         \x20 - provider: mysql\n    label: C\n    db_name: c\n    exclude: [x]\n\
         \x20 - provider: sqlite\n    label: D\n    db_path: /d.db\n    exclude_tables: [t]\n\
         \x20 - provider: postgres\n    label: E\n    databases: [app, app, globals]\n    exclude: ['[z']\n\
         \x20 - provider: postgres\n    label: E x\n    db_name: ex\n\
         \x20 - provider: postgres\n    label: F\n    db_name: f\n    schedule: {{cron: 'nope'}}\n\
         {DRIVE}notifiers:\n  ping:\n    endpoints:\n      - url: ftp://x\n      - name: none\n"
    );
    let found = problems(&text);
    let has = |line: usize, path: &str, message: &str| {
        assert!(
            found
                .iter()
                .any(|(l, p, m)| *l == line && p == path && m.contains(message)),
            "missing ({line}, {path}, {message}) in {found:#?}"
        );
    };
    has(1, "retry.attempts", "attempts must be from 1 to 10");
    has(
        5,
        "data_sources[0].db_name",
        "`db_name` and `databases` are both given",
    );
    has(
        9,
        "data_sources[1].databases",
        "\"some\" is neither `all` nor a list",
    );
    has(13, "data_sources[2].exclude", "`exclude` needs `databases`");
    has(
        17,
        "data_sources[3].exclude_tables",
        "does not apply to provider `sqlite`",
    );
    has(
        20,
        "data_sources[4].databases[1]",
        "\"app\" is listed twice",
    );
    has(
        20,
        "data_sources[4].databases[2]",
        "share the folder of the server's globals",
    );
    has(21, "data_sources[4].exclude[0]", "invalid pattern \"[z\"");
    has(
        22,
        "data_sources[5].label",
        "lies among those of the whole-server source \"E\"",
    );
    has(
        28,
        "data_sources[6].schedule.cron",
        "invalid cron expression",
    );
    has(36, "notifiers.ping.endpoints[0].url", "invalid URL");
    has(
        37,
        "notifiers.ping.endpoints[1].url",
        "missing required option",
    );
    assert!(
        !found.iter().any(|(_, _, m)| m.contains("ftp://x")),
        "{found:#?}"
    );
}
