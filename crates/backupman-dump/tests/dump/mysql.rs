//! MariaDB (MySQL) round trips against a real server: dump through the engine onto a local
//! drive, restore with our code and with plain `gunzip | mariadb`, compare contents, and check
//! that failures leave nothing behind. Run with `cargo xtask test`.

use std::fs;
use std::time::Duration;

use crate::common::*;
use backupman_core::{Secret, Source};
use backupman_dump::mysql::MysqlSource;
use backupman_dump::restore::{self, RestoreError, RestoreOptions, drop_database, summarize};

/// Awkward data: most column types, NULLs, 4-byte unicode, every byte value, 1 MB values, a
/// view, a sequence, AUTO_INCREMENT state, a trigger, a procedure, a function, an event and a
/// 100k-row table.
const FIXTURE: &str = r#"
CREATE TABLE kinds (
    id INT AUTO_INCREMENT PRIMARY KEY,
    ti TINYINT, usi SMALLINT UNSIGNED, bi BIGINT, ubi BIGINT UNSIGNED, num DECIMAL(24,6),
    f FLOAT, d DOUBLE, bits BIT(8), dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL, tm TIME(3),
    yr YEAR, ch CHAR(5), vc VARCHAR(100), tx TEXT, bin BLOB, vb VARBINARY(16), js JSON,
    en ENUM('a','b','ü'), st SET('x','y','z')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, kind_id INT, note TEXT) ENGINE=InnoDB;
CREATE TRIGGER kinds_audit AFTER INSERT ON kinds FOR EACH ROW
    INSERT INTO audit (kind_id, note) VALUES (NEW.id, 'inserted');
INSERT INTO kinds (ti, usi, bi, ubi, num, f, d, bits, dt, dtm, ts, tm, yr, ch, vc, tx, bin, vb, js, en, st) VALUES
 (127, 65535, -9223372036854775808, 18446744073709551615, 123456789012345678.123456, 1.5,
  1e308, b'10100101', '2024-02-29', '2024-01-01 12:34:56.789012', '2038-01-19 03:14:07',
  '-838:59:59.000', 2155, 'abc', 'ñ', 'plain', 0x00FF10, 0x0001, '{"a": [1, "ü", null]}', 'ü', 'x,z'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (-128, 0, 0, 0, -0.000001, -0.0, -1e-300, b'0', '1000-01-01', '1000-01-01 00:00:00', NULL,
  '00:00:00', 1901, '', '',
  'Grüße, 世界 🚀 \'quotes\' "double" back\\slash tab\there\nnew line; DROP TABLE x; -- end',
  '', '', '[]', 'a', ''),
 (0, 1, 2, 3, 4, 5, 6, b'11111111', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  UNHEX((SELECT GROUP_CONCAT(LPAD(HEX(seq), 2, '0') ORDER BY seq SEPARATOR '') FROM seq_0_to_255)),
  NULL, NULL, NULL, NULL);

CREATE TABLE big_values (id INT PRIMARY KEY, body LONGTEXT, blob_col LONGBLOB) ENGINE=InnoDB;
INSERT INTO big_values SELECT seq, REPEAT(MD5(seq), 32768), UNHEX(REPEAT(MD5(seq * 7), 16384))
  FROM seq_1_to_2;

CREATE TABLE many (id INT PRIMARY KEY, label VARCHAR(40), val DOUBLE, at DATETIME) ENGINE=InnoDB;
INSERT INTO many SELECT seq, CONCAT('row ', seq, ' ✓'), seq / 7, '2020-01-01' + INTERVAL seq MINUTE
  FROM seq_1_to_100000;

CREATE VIEW round_labels AS SELECT id, label FROM many WHERE id % 1000 = 0;
CREATE SEQUENCE counter START WITH 100;
SELECT SETVAL(counter, 4242);
CREATE PROCEDURE add_note(IN n TEXT) INSERT INTO audit (kind_id, note) VALUES (NULL, n);
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE 1 = 0;
"#;

/// Trigger, procedure, function and sequence work in the restored database.
fn assert_alive(db: &MyDb) {
    assert_eq!(db.sql("SELECT NEXTVAL(counter)").trim(), "4243");
    assert_eq!(db.sql("SELECT twice(21)").trim(), "42");
    let count = |db: &MyDb| -> u64 { db.sql("SELECT COUNT(*) FROM audit").trim().parse().unwrap() };
    let before = count(db);
    db.sql("INSERT INTO kinds (tx) VALUES ('restored')");
    db.sql("CALL add_note('by procedure')");
    assert_eq!(
        count(db),
        before + 2,
        "trigger and procedure work after restore"
    );
    assert_eq!(db.sql("SELECT MAX(id) FROM kinds").trim(), "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn awkward_data_round_trips_through_our_restore_and_the_plain_client() {
    let source_db = MyDb::create("my_src");
    source_db.sql(FIXTURE);
    let expected = source_db.fingerprint();

    let store = LocalStore::new();
    let report = store.backup(MysqlSource::new(source_db.settings())).await;
    let (object, manifest) = stored_and_checked(&report, &store);
    let tool = manifest.tool_version.as_deref().unwrap();
    assert!(
        tool.contains("mariadb-dump") || tool.contains("mysqldump"),
        "{tool}"
    );
    assert_eq!(manifest.provider, "mariadb");

    // 1. Our restore into a scratch database it creates.
    let ours = MyDb::reserve("my_ours");
    let (target, _) = restore_into_new(source_db.settings(), &ours.name, &object, &manifest);
    assert_eq!(ours.fingerprint(), expected);
    let summary = summarize(&target).unwrap();
    assert_eq!(summary.rows_of("many"), Some(100_000));
    assert_eq!(summary.rows_of("kinds"), Some(4));
    assert_eq!(
        summary.rows_of("round_labels"),
        None,
        "views are not tables"
    );
    assert_alive(&ours);
    drop_database(&target).unwrap();
    assert_eq!(
        my(None, &format!("SHOW DATABASES LIKE '{}'", ours.name)).trim(),
        ""
    );

    // 2. The plain client, as a person would without backupman.
    let plain = MyDb::create("my_plain");
    shell(&format!(
        "gunzip -c '{}' | mariadb --host={MY_HOST} --port={MY_PORT} --user={MY_USER} {}",
        object.display(),
        plain.name
    ));
    assert_eq!(plain.fingerprint(), expected);
    assert_alive(&plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn restoring_over_an_existing_database_needs_force_and_replaces_it() {
    let db = MyDb::create("my_force");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_500;");
    let before = db.sql("SELECT * FROM t ORDER BY id");
    let store = LocalStore::new();
    let report = store.backup(MysqlSource::new(db.settings())).await;
    stored(&report, &store);

    db.sql("DELETE FROM t WHERE id > 10; UPDATE t SET v = 'changed';");
    restore_needs_force(&store, &report, db.settings()).await;
    assert_eq!(db.sql("SELECT * FROM t ORDER BY id"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_damaged_backup_is_reported_and_says_what_was_applied() {
    let db = MyDb::create("my_damaged_src");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, REPEAT('x', 100) FROM seq_1_to_20000;");
    let store = LocalStore::new();
    let report = store.backup(MysqlSource::new(db.settings())).await;
    let (object, manifest) = stored(&report, &store);
    let bytes = fs::read(&object).unwrap();

    let target_db = MyDb::create("my_damaged_dst");
    let target = target_of(target_db.settings());
    assert!(!target.is_transactional());
    let err = restore_with_a_wrong_hash(&bytes, &manifest, &target);
    assert!(
        matches!(
            err,
            RestoreError::Damaged {
                partially_applied: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("remain applied"), "{err}");

    let empty = MyDb::create("my_damaged_dst2");
    let target = target_of(empty.settings());
    let err = restore::restore(
        &bytes[..bytes.len() / 2],
        &target,
        &RestoreOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::Corrupt { .. }), "{err}");

    // An SQL error: the client's own message comes back.
    let bad = gzip(b"SELECT no_such_column FROM no_such_table;\n");
    let err = restore::restore(
        &bad[..],
        &target,
        &RestoreOptions {
            force: true,
            ..RestoreOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn passwords_travel_in_the_environment_and_wrong_ones_fail_cleanly() {
    let db = MyDb::create("my_auth");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    let user = MyUser(unique("u"));
    let password = "r1ght pw #$'\"`;";
    my(
        None,
        &format!(
            "CREATE USER '{}'@'%' IDENTIFIED BY '{}'",
            user.0,
            password.replace('\\', "\\\\").replace('\'', "\\'")
        ),
    );

    let mut cfg = db.settings();
    cfg.server.user = Some(user.0.clone());
    cfg.server.password = Some(Secret::new("wrong"));
    let store = LocalStore::new();
    let report = check_and_backup_fail(
        MysqlSource::new(cfg.clone()),
        &store,
        "Access denied",
        "Access denied",
    )
    .await;
    assert!(!report.failure.unwrap().message.contains(password));

    // Right password, no privileges on the database yet.
    cfg.server.password = Some(Secret::new(password));
    let report = store.backup(MysqlSource::new(cfg.clone())).await;
    failed_leaving_nothing(&report, &store, "Access denied");

    my(
        None,
        &format!(
            "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `{}`.* TO '{}'@'%'",
            db.name, user.0
        ),
    );
    let source = MysqlSource::new(cfg.clone());
    source.check().await.unwrap();
    let report = store.backup(source).await;
    let (object, _) = stored(&report, &store);
    let plain = shell(&format!("gunzip -c '{}'", object.display()));
    assert!(
        plain.contains("INSERT INTO `t` VALUES") && plain.contains("(2);"),
        "{plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_missing_database_fails_with_the_tools_words_and_stores_nothing() {
    let missing = MyDb::reserve("my_missing");
    check_and_backup_fail(
        MysqlSource::new(missing.settings()),
        &LocalStore::new(),
        "Unknown database",
        &format!("Unknown database '{}'", missing.name),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_dump_killed_mid_stream_stores_nothing() {
    let db = MyDb::create("my_killed");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_50000;");
    killed_dump_stores_nothing(db.settings(), "mariadb-dump", MysqlSource::new).await;
}

/// Sessions on `db` running a statement of the dump tool (they all carry its hint
/// `SQL_NO_CACHE`), counted with `extra` conditions.
fn dump_sessions(db: &MyDb, extra: &str) -> u64 {
    my(
        None,
        &format!(
            "SELECT count(*) FROM information_schema.processlist \
             WHERE db = '{}' AND info LIKE '%SQL_NO_CACHE%' {extra}",
            db.name
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn cancelling_kills_a_dump_blocked_on_a_table_lock_and_stores_nothing() {
    let db = MyDb::create("my_cancel");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB; INSERT INTO t VALUES (1, 'one');");
    let holder = OpenSession::my(&db.name, "LOCK TABLES t WRITE;");
    let locked = format!("SHOW OPEN TABLES FROM `{}` WHERE In_use > 0", db.name);
    eventually("the table lock to be held", Duration::from_secs(10), || {
        !my(None, &locked).trim().is_empty()
    })
    .await;

    cancel_a_blocked_dump(
        MysqlSource::new(db.settings()),
        "the dump's session",
        || dump_sessions(&db, "AND state = 'Waiting for table metadata lock'") == 1,
        || dump_sessions(&db, "") == 0,
    )
    .await;

    assert!(
        !my(None, &locked).trim().is_empty(),
        "the holder keeps its lock"
    );
    drop(holder);
    assert_eq!(db.sql("SELECT v FROM t").trim(), "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_dump_that_succeeds_but_warns_is_stored_and_one_that_exits_1_fails() {
    let db = MyDb::create("my_warn");
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_3000;");
    let rows = "SELECT COUNT(*), MD5(GROUP_CONCAT(id, v ORDER BY id SEPARATOR ',')) FROM t";
    let copy = MyDb::reserve("my_warn_copy");
    let cfg = a_warning_dump_is_stored(
        (&db, &copy),
        "mariadb-dump",
        "mariadb-dump: Warning: simulated notice from a wrapper",
        rows,
        MysqlSource::new,
    )
    .await;
    an_exit_1_dump_fails(
        cfg,
        "mariadb-dump",
        "mariadb-dump: simulated failure",
        MysqlSource::new,
    )
    .await;
}
