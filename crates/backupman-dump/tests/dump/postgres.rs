//! PostgreSQL round trips against a real server: dump through the engine onto a local drive,
//! restore with our code and with plain `gunzip | psql`, compare contents, and check that
//! failures leave nothing behind. Run with `cargo xtask test`.

use std::fs;
use std::time::Duration;

use crate::common::*;
use backupman_core::Source;
use backupman_dump::postgres::PostgresSource;
use backupman_dump::restore::{self, RestoreError, RestoreOptions, drop_database, summarize};

/// Awkward data: most column types, NULLs, unicode, every byte value, 1 MB values, a view,
/// sequences with a current value, a trigger, a mixed-case schema and a 100k-row table.
const FIXTURE: &str = r#"
CREATE TABLE kinds (
    id serial PRIMARY KEY,
    i2 smallint, i8 bigint, num numeric(24,6), r real, d double precision, flag boolean,
    t text, vc varchar(50), ch char(5), dt date, ts timestamp(6), tstz timestamptz,
    iv interval, u uuid, j jsonb, arr int[], bin bytea, ip inet
);
INSERT INTO kinds (i2, i8, num, r, d, flag, t, vc, ch, dt, ts, tstz, iv, u, j, arr, bin, ip) VALUES
 (32767, 9223372036854775807, 123456789012345678.123456, 1.5, 'NaN', true, 'plain', 'x', 'abc',
  '2024-02-29', '2024-01-01 12:34:56.789012', '2024-01-01 12:34:56+05', '1 year 2 days 03:04:05',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, "ü", null], "b": {"c": false}}',
  '{1,2,NULL}', '\x00ff10'::bytea, '10.0.0.1/8'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (-32768, -1, -0.000001, '-Infinity', 1e308, false,
  E'Grüße, 世界 🚀 ''quotes'' "double" back\\slash tab\there\nnew line \\. end', 'ñ', 'ü',
  '0001-01-01', '1999-12-31 23:59:59', '1970-01-01 00:00:00+00', '-1 mon', NULL, '[]', '{}',
  '', '::1'),
 (0, 0, 0, 0, 0, NULL, '', '', '', NULL, NULL, NULL, NULL, NULL, 'null', NULL,
  (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g),
  NULL);

CREATE TABLE big_values (id int PRIMARY KEY, body text, blob bytea);
INSERT INTO big_values
  SELECT g, repeat(md5(g::text), 32768), decode(repeat(md5((g * 7)::text), 16384), 'hex')
  FROM generate_series(1, 2) g;

CREATE TABLE many (id int PRIMARY KEY, label text, val double precision, at timestamptz);
INSERT INTO many
  SELECT g, 'row ' || g || ' ✓', g / 7.0, timestamptz '2020-01-01' + g * interval '1 minute'
  FROM generate_series(1, 100000) g;

CREATE SEQUENCE counter START 100;
SELECT setval('counter', 4242);
CREATE VIEW round_labels AS SELECT id, label FROM many WHERE id % 1000 = 0;

CREATE TABLE audit (id serial PRIMARY KEY, kind_id int, note text);
CREATE FUNCTION log_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (kind_id, note) VALUES (NEW.id, 'inserted');
    RETURN NEW;
END $$;
CREATE TRIGGER kinds_audit AFTER INSERT ON kinds FOR EACH ROW EXECUTE FUNCTION log_kind();
INSERT INTO kinds (t) VALUES ('after trigger');

CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema"."Mixed Case" (id int PRIMARY KEY, "Weird Col" text);
INSERT INTO "Other Schema"."Mixed Case" VALUES (1, 'select'), (2, NULL);
"#;

fn load_fixture(db: &PgDb) {
    db.sql(FIXTURE);
}

/// The trigger fires in the restored database, and sequences continue where they were.
fn assert_alive(db: &PgDb) {
    assert_eq!(db.sql("SELECT nextval('counter')").trim(), "4243");
    let before: u64 = db.sql("SELECT count(*) FROM audit").trim().parse().unwrap();
    db.sql("INSERT INTO kinds (t) VALUES ('restored')");
    let after: u64 = db.sql("SELECT count(*) FROM audit").trim().parse().unwrap();
    assert_eq!(after, before + 1, "the trigger fires after restore");
    assert_eq!(db.sql("SELECT max(id) FROM kinds").trim(), "6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn awkward_data_round_trips_through_our_restore_and_plain_psql() {
    let source_db = PgDb::create("pg_src");
    load_fixture(&source_db);
    let expected = source_db.fingerprint();

    let store = LocalStore::new();
    let report = store
        .backup(PostgresSource::new(source_db.settings()))
        .await;
    let (object, manifest) = stored_and_checked(&report, &store);
    assert!(
        manifest
            .tool_version
            .as_deref()
            .unwrap()
            .starts_with("pg_dump (PostgreSQL) "),
        "{manifest:?}"
    );
    assert_eq!(manifest.provider, "postgres");
    assert!(manifest.size > 5_000_000, "the dump holds the 1 MB values");

    // 1. Our restore, into a scratch database it creates, hash checked while streaming.
    let ours = PgDb::reserve("pg_ours");
    let (target, outcome) = restore_into_new(source_db.settings(), &ours.name, &object, &manifest);
    assert_eq!(outcome.plain_size, Some(manifest.size));
    assert_eq!(ours.fingerprint(), expected);
    let summary = summarize(&target).unwrap();
    assert_eq!(summary.rows_of("public.many"), Some(100_000));
    assert_eq!(summary.rows_of("public.big_values"), Some(2));
    assert_eq!(
        summary.rows_of("Other Schema.Mixed Case"),
        None,
        "names are quoted"
    );
    assert_eq!(summary.rows_of("\"Other Schema\".\"Mixed Case\""), Some(2));
    assert_alive(&ours);
    drop_database(&target).unwrap();

    // 2. The plain client, as a person would without backupman.
    let plain = PgDb::create("pg_plain");
    shell(&format!(
        "gunzip -c '{}' | psql -X -q -v ON_ERROR_STOP=1 -h {PG_HOST} -p {PG_PORT} -U {PG_USER} -d {} >/dev/null",
        object.display(),
        plain.name
    ));
    assert_eq!(plain.fingerprint(), expected);
    assert_alive(&plain);
}

/// Backslashes where the restore filter must see data: at line starts inside COPY rows
/// (the first column starts with one), inside multi-line text values (a column default, a
/// comment), and on lines of dollar-quoted function bodies.
const BACKSLASHES: &str = r#"
CREATE TABLE lines (
    body text,
    id int PRIMARY KEY,
    note text DEFAULT E'first\n\\! a default''s second line\n\\.'
);
INSERT INTO lines (body, id) VALUES
 (E'\\! starts with a backslash', 1),
 (E'multi\n\\! second line\n\\.\n\\o last', 2),
 (E'\\.', 3),
 (E'\\', 4),
 (E'tab\tand \\\\ two', 5);
COMMENT ON TABLE lines IS E'a comment\n\\! whose second line starts with a backslash';
CREATE FUNCTION shout() RETURNS text LANGUAGE sql AS $fn$
SELECT 'first line
\! a line of the body
\o and another'::text
$fn$;
CREATE FUNCTION whisper() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN 'x
\y';
END $$;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn backslashes_at_line_starts_in_data_restore_row_for_row_through_the_filter() {
    let source_db = PgDb::create("pg_bs_src");
    source_db.sql(BACKSLASHES);
    let expected = source_db.fingerprint();
    let store = LocalStore::new();
    let report = store
        .backup(PostgresSource::new(source_db.settings()))
        .await;
    let (object, manifest) = stored_and_checked(&report, &store);

    // The dump does hold such lines, outside and inside COPY data, so the filter meets them.
    let plain = shell(&format!("gunzip -c '{}'", object.display()));
    for start in [
        r"\\! starts with a backslash",
        r"\\.",
        r"\! a default''s second line",
        r"\! whose second line",
        r"\! a line of the body",
        r"\y';",
    ] {
        assert!(
            plain.lines().any(|l| l.starts_with(start)),
            "no line starts with {start:?}:\n{plain}"
        );
    }

    let copy = PgDb::reserve("pg_bs_copy");
    let (target, outcome) = restore_into_new(source_db.settings(), &copy.name, &object, &manifest);
    assert_eq!(outcome.plain_size, Some(manifest.size));
    assert_eq!(copy.fingerprint(), expected);
    assert_eq!(summarize(&target).unwrap().rows_of("public.lines"), Some(5));
    assert_eq!(
        copy.sql("SELECT body FROM lines WHERE id = 2").trim_end(),
        "multi\n\\! second line\n\\.\n\\o last"
    );
    assert_eq!(
        copy.sql("SELECT shout()").trim_end(),
        "first line\n\\! a line of the body\n\\o and another"
    );
    assert_eq!(copy.sql("SELECT whisper()").trim_end(), "x\n\\y");
    assert_eq!(
        copy.sql("SELECT obj_description('lines'::regclass)")
            .trim_end(),
        "a comment\n\\! whose second line starts with a backslash"
    );
    drop_database(&target).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn restoring_over_an_existing_database_needs_force_and_replaces_it() {
    let db = PgDb::create("pg_force");
    db.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;
            CREATE VIEW odd AS SELECT * FROM t WHERE id % 2 = 1;");
    let before = db.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t");
    let store = LocalStore::new();
    let report = store.backup(PostgresSource::new(db.settings())).await;
    stored(&report, &store);

    db.sql("DELETE FROM t WHERE id > 10; UPDATE t SET v = 'changed'; DROP VIEW odd;");
    let err = restore_needs_force(&store, &report, db.settings()).await;
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        db.sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t"),
        before
    );
    assert_eq!(db.sql("SELECT count(*) FROM odd").trim(), "250");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_damaged_backup_applies_nothing() {
    let db = PgDb::create("pg_damaged_src");
    db.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;");
    let store = LocalStore::new();
    let report = store.backup(PostgresSource::new(db.settings())).await;
    let (object, manifest) = stored(&report, &store);
    let bytes = fs::read(&object).unwrap();

    let target_db = PgDb::create("pg_damaged_dst");
    let target = target_of(target_db.settings());

    // Wrong hash: the whole dump went through psql, which is killed before COMMIT.
    let err = restore_with_a_wrong_hash(&bytes, &manifest, &target);
    assert!(
        matches!(
            err,
            RestoreError::Damaged {
                partially_applied: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was applied"), "{err}");
    assert_eq!(target_db.relation_count(), 0);

    // Truncated object: the gzip stream ends early.
    let err = restore::restore(
        &bytes[..bytes.len() * 2 / 3],
        &target,
        &RestoreOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::Corrupt { .. }), "{err}");
    assert_eq!(target_db.relation_count(), 0);

    // An SQL error halfway: psql stops and its single transaction rolls back.
    let bad = gzip(
        b"CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\nSELECT no_such_column FROM a;\n",
    );
    let err = restore::restore(&bad[..], &target, &RestoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no_such_column"), "{err}");
    assert!(err.to_string().contains("nothing was applied"), "{err}");
    assert_eq!(target_db.relation_count(), 0);

    // And the good object still restores into the same database.
    let good = RestoreOptions {
        expected: Some(manifest),
        force: false,
        identities: None,
    };
    restore::restore(&bytes[..], &target, &good).unwrap();
    assert_eq!(target_db.sql("SELECT count(*) FROM t").trim(), "20000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_missing_database_fails_with_pg_dumps_words_and_stores_nothing() {
    let missing = PgDb::reserve("pg_missing");
    check_and_backup_fail(
        PostgresSource::new(missing.settings()),
        &LocalStore::new(),
        "does not exist",
        &format!("database \"{}\" does not exist", missing.name),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn an_unknown_role_fails_and_stores_nothing() {
    let db = PgDb::create("pg_role");
    let mut cfg = db.settings();
    cfg.server.user = Some("bmt_no_such_role".into());
    let store = LocalStore::new();
    let report = store.backup(PostgresSource::new(cfg.clone())).await;
    failed_leaving_nothing(&report, &store, "role \"bmt_no_such_role\" does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_dump_killed_mid_stream_stores_nothing() {
    let db = PgDb::create("pg_killed");
    db.sql("CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g;");
    // Real pg_dump output, cut off after 200 kB, then the tool dies by SIGKILL.
    killed_dump_stores_nothing(db.settings(), "pg_dump", PostgresSource::new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn an_older_pg_dump_is_refused_with_a_hint() {
    let db = PgDb::create("pg_old");
    let tools = tempfile::tempdir().unwrap();
    let old = script(
        tools.path(),
        "pg_dump",
        r#"if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 9.6.24"; exit 0; fi
exec pg_dump "$@""#,
    );
    let mut cfg = db.settings();
    cfg.dump_tool = Some(old);
    let source = PostgresSource::new(cfg.clone());
    let err = source.check().await.unwrap_err();
    assert!(err.message.contains("older than the PostgreSQL"), "{err}");
    assert!(err.message.contains("postgresql-client-"), "{err}");
    let store = LocalStore::new();
    let report = store.backup(source).await;
    failed_leaving_nothing(&report, &store, "dump_tool_path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn check_names_tables_the_user_cannot_read() {
    let db = PgDb::create("pg_check");
    db.sql("CREATE TABLE open_t (id int); CREATE TABLE secret_t (id int);");
    PostgresSource::new(db.settings()).check().await.unwrap();

    let role = unique("role");
    pg("postgres", &format!("CREATE ROLE {role} LOGIN"));
    db.sql(&format!(
        "REVOKE ALL ON secret_t FROM PUBLIC; GRANT SELECT ON open_t TO {role};"
    ));
    let mut cfg = db.settings();
    cfg.server.user = Some(role.clone());
    let result = PostgresSource::new(cfg.clone()).check().await;
    // Clean the role up before asserting.
    db.sql(&format!("DROP OWNED BY {role}"));
    drop(db);
    pg("postgres", &format!("DROP ROLE {role}"));
    let err = result.unwrap_err();
    assert!(
        err.message.contains("\"public\".\"secret_t\"") || err.message.contains("public.secret_t"),
        "{err}"
    );
    assert!(!err.message.contains("open_t"), "{err}");
}

/// Backends of `db` whose client calls itself `pg_dump`, counted with `extra` conditions.
fn pg_dump_backends(db: &PgDb, extra: &str) -> u64 {
    pg(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'pg_dump' {extra}",
            db.name
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn cancelling_kills_a_pg_dump_blocked_on_a_lock_and_stores_nothing() {
    let db = PgDb::create("pg_cancel");
    db.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one');");
    // Another session holds the table in an open transaction: pg_dump's own LOCK TABLE waits.
    let holder = OpenSession::pg(&db.name, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;");
    eventually("the lock to be held", Duration::from_secs(10), || {
        db.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 't' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        )
        .trim()
            == "1"
    })
    .await;

    cancel_a_blocked_dump(
        PostgresSource::new(db.settings()),
        "pg_dump's backend",
        || pg_dump_backends(&db, "AND wait_event_type = 'Lock'") == 1,
        || pg_dump_backends(&db, "") == 0,
    )
    .await;

    // Only pg_dump was killed: the holder's session is still there, holding its lock.
    assert_eq!(
        db.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                WHERE c.relname = 't' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        )
        .trim(),
        "1"
    );
    drop(holder);
    assert_eq!(db.sql("SELECT v FROM t").trim(), "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_pg_dump_that_succeeds_but_warns_is_stored_and_its_warning_reported() {
    let db = PgDb::create("pg_warn");
    db.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g;");
    let rows = "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t";
    let copy = PgDb::reserve("pg_warn_copy");
    a_warning_dump_is_stored(
        (&db, &copy),
        "pg_dump",
        "  pg_dump: warning: simulated notice from a wrapper  ",
        rows,
        PostgresSource::new,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
async fn a_pg_dump_that_exits_1_after_a_whole_dump_fails_with_its_stderr() {
    let db = PgDb::create("pg_exit1");
    db.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    let report = an_exit_1_dump_fails(
        db.settings(),
        "pg_dump",
        "pg_dump: error: simulated failure",
        PostgresSource::new,
    )
    .await;
    assert_eq!(report.warnings, None);
}
