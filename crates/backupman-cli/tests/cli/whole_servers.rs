//! Whole-server sources against the machine's PostgreSQL and MariaDB: four databases of the
//! test's own, one excluded, one created between two runs; each database stored as an object
//! of its own and restored alone; excluded tables absent, and present without rows where only
//! their data is excluded; PostgreSQL's globals restored into a fresh cluster the test starts
//! (`initdb` on a private port), with the test's role present.
//!
//! Other tests use the same servers at the same time, so a `databases: all` here excludes
//! every database but its own with `exclude` globs (see [`only_prefix`]).

use std::path::Path;

use crate::common::{Run, backupman, files};
use backupman_core::slugify;
use backupman_testkit::cluster::PrivatePostgres;
use backupman_testkit::db::{Db, MY_HOST, MY_PORT, MY_USER, MyDb, PG_HOST, PG_PORT, PG_USER};
use backupman_testkit::db::{PgDb, my, pg};
use serde_json::Value;

/// `exclude` patterns leaving out every database whose name does not start with `prefix`
/// (letters, digits and `_` only): for each length, names that match the prefix so far and
/// then differ (`[!c]*`), and the prefix's shorter beginnings themselves.
fn only_prefix(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in prefix.char_indices() {
        out.push(format!("{}[!{c}]*", &prefix[..i]));
        if i > 0 {
            out.push(prefix[..i].to_owned());
        }
    }
    out
}

/// The names this test process gives its databases start with this.
fn prefix() -> String {
    format!("bmt_ws_{}_", std::process::id())
}

fn yaml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn write_config(dir: &Path, source: &str) -> String {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "data_sources:\n{source}drives:\n  - provider: local\n    label: Disk\n    folder: disk\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn bm(dir: &Path, config: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--config", config]);
    backupman(dir, &all)
}

/// `run --json`, which must succeed; its sources by label.
fn run_ok(dir: &Path, config: &str) -> Vec<Value> {
    let run = bm(dir, config, &["run", "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    report["sources"].as_array().unwrap().clone()
}

fn entry<'a>(sources: &'a [Value], label: &str) -> &'a Value {
    sources
        .iter()
        .find(|s| s["source"] == label)
        .unwrap_or_else(|| panic!("no {label:?} in {sources:#?}"))
}

fn labels(sources: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = sources
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// The backup objects stored in each folder of the drive.
fn folders(dir: &Path) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for file in files(&dir.join("disk")) {
        let name = file.to_string_lossy().into_owned();
        if !name.ends_with(".sql.gz") {
            continue;
        }
        let folder = file
            .parent()
            .and_then(Path::file_name)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match out.iter_mut().find(|(f, _)| *f == folder) {
            Some((_, n)) => *n += 1,
            None => out.push((folder, 1)),
        }
    }
    out.sort();
    out
}

fn expected_folders(server: &str, names: &[&str]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = names
        .iter()
        .map(|n| (slugify(&format!("{server}/{n}")), 1))
        .collect();
    out.sort();
    out
}

/// The tables a test database gets: rows to keep, a table left out entirely, and one whose
/// rows are left out.
const TABLES: &str = "CREATE TABLE orders (id int PRIMARY KEY, item varchar(20)); \
     INSERT INTO orders VALUES (1, 'apple'), (2, 'pear'), (3, 'plum'); \
     CREATE TABLE secrets (id int); INSERT INTO secrets VALUES (42); \
     CREATE TABLE audit (id int); INSERT INTO audit VALUES (7), (8);";

#[test]
fn postgres_server_each_database_alone_one_excluded_one_new_and_the_globals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = PgDb::reserve("ws");
    let shop = PgDb::reserve("ws");
    let skipped = PgDb::reserve("ws");
    let late = PgDb::reserve("ws");
    for db in [&app, &shop, &skipped] {
        pg("postgres", &format!("CREATE DATABASE \"{}\"", db.name));
        db.sql(TABLES);
    }
    shop.sql("INSERT INTO orders VALUES (4, 'shop only')");
    let role = format!("bmt_ws_role_{}", std::process::id());
    pg("postgres", &format!("CREATE ROLE \"{role}\" LOGIN"));
    let _role = DropRole(role.clone());

    let mut exclude = only_prefix(&prefix());
    exclude.push(skipped.name.clone());
    let config = write_config(
        dir,
        &format!(
            "  - provider: postgres\n    label: PG\n    host: {PG_HOST}\n    port: {PG_PORT}\n    user: {PG_USER}\n    tls: disable\n    databases: all\n    exclude: {}\n    exclude_tables: [secrets]\n    exclude_table_data: [audit]\n",
            yaml_list(&exclude)
        ),
    );

    let health = bm(dir, &config, &["health", "--json"]);
    let health: Value = serde_json::from_str(&health.stdout).unwrap();
    assert_eq!(
        health["sources"][0]["databases"],
        serde_json::json!([app.name, shop.name, "globals"]),
        "{health:#}"
    );

    let first = run_ok(dir, &config);
    let part = |db: &str| format!("PG/{db}");
    assert_eq!(
        labels(&first),
        [part(&app.name), part(&shop.name), part("globals")],
        "{first:#?}"
    );
    for s in &first {
        assert_eq!(s["ok"], true, "{s:#}");
        assert_eq!(s["new_database"], true, "{s:#}");
        assert_eq!(s["attempts"], 1, "{s:#}");
    }
    assert_eq!(entry(&first, &part(&app.name))["database"], app.name);
    assert_eq!(entry(&first, &part("globals"))["database"], "globals");
    assert_eq!(
        folders(dir),
        expected_folders("PG", &[&app.name, &shop.name, "globals"])
    );

    // A database created between two runs is backed up by the next, and said to be new.
    pg("postgres", &format!("CREATE DATABASE \"{}\"", late.name));
    late.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);");
    let second = run_ok(dir, &config);
    assert_eq!(second.len(), 4, "{second:#?}");
    assert_eq!(entry(&second, &part(&late.name))["new_database"], true);
    assert!(
        entry(&second, &part(&app.name))
            .get("new_database")
            .is_none()
    );
    let listed = bm(dir, &config, &["list", "--source", "PG", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 7, "{listed:#}");

    // Each database restored alone, into a database of its own.
    for (db, orders) in [(&app, 3), (&shop, 4)] {
        let copy = PgDb::create("ws_copy");
        let restored = bm(
            dir,
            &config,
            &[
                "restore",
                "--source",
                "PG",
                "--database",
                &db.name,
                "--latest",
                "--to",
                &copy.name,
            ],
        );
        assert_eq!(restored.code, 0, "{}", restored.all());
        assert_eq!(
            copy.sql("SELECT count(*) FROM orders").trim(),
            orders.to_string()
        );
        let tables = copy.base_tables();
        assert!(!tables.iter().any(|t| t.contains("secrets")), "{tables:?}");
        assert!(tables.iter().any(|t| t.contains("audit")), "{tables:?}");
        assert_eq!(copy.sql("SELECT count(*) FROM audit").trim(), "0");
        assert_eq!(copy.relation_count(), 2, "only orders and audit");
    }

    // The globals, into a fresh cluster: the test's role is there afterwards.
    let cluster = PrivatePostgres::start();
    let none = format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'");
    assert_eq!(cluster.sql("postgres", &none).trim(), "0");
    let target = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let restored = bm(
        dir,
        &config,
        &[
            "restore",
            "--source",
            "PG/globals",
            "--latest",
            "--to",
            &target,
        ],
    );
    assert_eq!(restored.code, 0, "{}", restored.all());
    assert_eq!(cluster.sql("postgres", &none).trim(), "1");
    let can_login = format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'");
    assert_eq!(cluster.sql("postgres", &can_login).trim(), "t");
}

#[test]
fn mariadb_server_each_database_alone_one_excluded_one_new() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = MyDb::reserve("ws");
    let shop = MyDb::reserve("ws");
    let skipped = MyDb::reserve("ws");
    let late = MyDb::reserve("ws");
    for db in [&app, &shop, &skipped] {
        my(None, &format!("CREATE DATABASE `{}`", db.name));
        db.sql(TABLES);
    }
    let mut exclude = only_prefix(&prefix());
    exclude.push(skipped.name.clone());
    let config = write_config(
        dir,
        &format!(
            "  - provider: mariadb\n    label: Maria\n    host: {MY_HOST}\n    port: {MY_PORT}\n    user: {MY_USER}\n    databases: all\n    exclude: {}\n    exclude_tables: [secrets]\n    exclude_table_data: [audit]\n",
            yaml_list(&exclude)
        ),
    );

    // The server marks its own databases, which `databases: all` leaves out.
    let settings =
        backupman_dump::MysqlSettings::new("Maria", backupman_dump::MysqlFlavor::Mariadb, {
            let mut server = backupman_dump::ServerSettings::new(MY_HOST, "");
            server.port = MY_PORT;
            server.user = Some(MY_USER.into());
            server
        });
    let found = backupman_dump::list_databases(&settings.into()).unwrap();
    for system in ["information_schema", "performance_schema", "mysql"] {
        let db = found.iter().find(|d| d.name == system).unwrap();
        assert!(db.system, "{db:?}");
    }
    assert!(!found.iter().find(|d| d.name == app.name).unwrap().system);

    let first = run_ok(dir, &config);
    let part = |db: &str| format!("Maria/{db}");
    assert_eq!(labels(&first), [part(&app.name), part(&shop.name)]);
    my(None, &format!("CREATE DATABASE `{}`", late.name));
    late.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let second = run_ok(dir, &config);
    assert_eq!(
        labels(&second),
        [part(&app.name), part(&shop.name), part(&late.name)]
    );
    assert_eq!(entry(&second, &part(&late.name))["new_database"], true);
    let mut expected = vec![
        (slugify(&part(&app.name)), 2),
        (slugify(&part(&late.name)), 1),
        (slugify(&part(&shop.name)), 2),
    ];
    expected.sort();
    assert_eq!(folders(dir), expected);

    let copy = MyDb::create("ws_copy");
    let restored = bm(
        dir,
        &config,
        &[
            "restore",
            "--source",
            "Maria",
            "--database",
            &app.name,
            "--latest",
            "--to",
            &copy.name,
        ],
    );
    assert_eq!(restored.code, 0, "{}", restored.all());
    assert_eq!(copy.sql("SELECT count(*) FROM orders").trim(), "3");
    let tables = copy.base_tables();
    assert!(!tables.iter().any(|t| t.contains("secrets")), "{tables:?}");
    assert_eq!(copy.sql("SELECT count(*) FROM audit").trim(), "0");
}

/// Drops a role from the machine's PostgreSQL when the test ends.
struct DropRole(String);

impl Drop for DropRole {
    fn drop(&mut self) {
        let _ = backupman_testkit::db::psql("postgres")
            .arg("-c")
            .arg(format!("DROP ROLE IF EXISTS \"{}\"", self.0))
            .output();
    }
}
