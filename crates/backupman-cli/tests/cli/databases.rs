//! The `backupman` binary against real PostgreSQL and MariaDB servers on loopback: `run` onto a
//! local drive, `list`, `restore`, `verify [--restore]`, damaged objects, failing dumps and
//! `health`. Every test creates and drops its own uniquely named databases.
//! Run with `cargo xtask test` (PostgreSQL on 127.0.0.1:5432, MariaDB on 127.0.0.1:3306).
//!
//! Each scenario is written once, generic over [`Fixture`] (the test kit's `Db` with what these
//! scenarios load and expect), and run per engine.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::common::{Run, backupman, files};
use backupman_testkit::db::{Db, Fingerprint, MyDb, PgDb, unique};

const SCRATCH_PREFIX: &str = "backupman_verify";

/// `verify --restore` tests compare the scratch databases before and after: one at a time.
static SCRATCH: Mutex<()> = Mutex::new(());

fn scratch_lock() -> std::sync::MutexGuard<'static, ()> {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// A configuration with the given sources (YAML list items) and one local drive `L` in
/// `dir/drive`.
fn write_config(dir: &Path, sources: &str) -> String {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "data_sources:\n{sources}drives:\n  - provider: local\n    label: L\n    folder: drive\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn drive_dir(dir: &Path) -> PathBuf {
    dir.join("drive")
}

/// The stored objects (not manifests) on the local drive.
fn objects(dir: &Path) -> Vec<PathBuf> {
    files(&drive_dir(dir))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.gz"))
        .collect()
}

fn bm(dir: &Path, config: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--config", config]);
    backupman(dir, &all)
}

/// Backs up, checks `list --json` shows exactly that backup, returns its key.
fn run_and_list(dir: &Path, config: &str, label: &str) -> String {
    let run = bm(dir, config, &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("✔ {label} → L")),
        "{}",
        run.all()
    );
    let stored = objects(dir);
    assert_eq!(stored.len(), 1, "{stored:?}");

    let list = bm(dir, config, &["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let entries: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", list.stdout);
    let e = &entries[0];
    assert_eq!(e["source"], label);
    assert_eq!(e["drive"], "L");
    assert_eq!(e["has_manifest"], true);
    let key = e["key"].as_str().unwrap().to_owned();
    assert!(
        stored[0].ends_with(&key),
        "{key} is the stored file {stored:?}"
    );
    assert_eq!(e["size"], std::fs::metadata(&stored[0]).unwrap().len());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", stored[0].display())).unwrap())
            .unwrap();
    assert_eq!(e["sha256"], manifest["sha256"]);
    key
}

/// What the scenarios below load into an engine's database and expect of it.
trait Fixture: Db {
    /// The label of the database's source in these tests.
    const LABEL: &'static str;
    /// Every kind of value and relation the engine has: what the round trip restores.
    const FIXTURE: &'static str;
    /// One table with one row.
    const ONE_ROW: &'static str;
    /// Changes to [`Fixture::FIXTURE`] after its backup, which a forced restore undoes.
    const CHANGES: &'static str;
    /// What the server says about [`REJECTED_SQL`].
    const SYNTAX_ERROR: &'static str;
    /// Whether `restore` checks the whole object before it applies any of it (and so names a
    /// damaged one as such), because the server cannot roll a failed restore back.
    const CHECKS_BEFORE_RESTORE: bool;

    /// Checks that `expected`, the fingerprint of [`Fixture::FIXTURE`], holds all of it.
    fn check_fixture(expected: &Fingerprint);
    /// Checks what a fingerprint does not show in a restored [`Fixture::FIXTURE`].
    fn check_restored_fixture(&self) {}
}

/// The scratch databases `verify --restore` leaves behind, if any.
fn scratch_dbs<D: Db>() -> Vec<String> {
    D::databases_starting_with(SCRATCH_PREFIX)
}

/// A database of engine `D` holding some SQL, backed up onto the local drive of `config`.
struct Backup<D> {
    tmp: tempfile::TempDir,
    src: D,
    config: String,
    /// The key of the backup.
    key: String,
}

impl<D: Fixture> Backup<D> {
    /// Loads `sql` into `src`, backs it up with `run` and checks `list` (see `run_and_list`).
    fn of(src: D, sql: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        src.sql(sql);
        let config = write_config(tmp.path(), &src.source_yaml(D::LABEL));
        let key = run_and_list(tmp.path(), &config, D::LABEL);
        Self {
            tmp,
            src,
            config,
            key,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `backupman` with `args` and this configuration.
    fn bm(&self, args: &[&str]) -> Run {
        bm(self.dir(), &self.config, args)
    }

    /// `restore --source LABEL --latest --to TARGET`.
    fn restore_to(&self, target: &D) -> Run {
        self.bm(&[
            "restore",
            "--source",
            D::LABEL,
            "--latest",
            "--to",
            target.name(),
        ])
    }
}

// ------------------------------------------------------------------------------ scenarios

/// `run`, `list`, `restore --to` a new database, `verify KEY --restore --json`,
/// `verify --latest --restore --source`, `verify --latest`.
fn round_trip<D: Fixture>(src: D) {
    let b = Backup::of(src, D::FIXTURE);
    let label = D::LABEL;
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.json", objects(b.dir())[0].display())).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["provider"], b.src.provider());

    let copy = D::create("copy");
    let restore = b.restore_to(&copy);
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert!(restore.stderr.contains(&b.key), "{}", restore.stderr);
    let expected = b.src.fingerprint();
    D::check_fixture(&expected);
    assert_eq!(copy.fingerprint(), expected);
    copy.check_restored_fixture();

    // By key, and verify --restore reports tables and rows and leaves no scratch database.
    let (tables, rows) = b.src.table_summary();
    let _guard = scratch_lock();
    let before = scratch_dbs::<D>();
    let verify = b.bm(&["verify", &b.key, "--restore", "--json"]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(report[0]["ok"], true);
    let detail = report[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{tables} tables, {rows} rows")),
        "expected {tables} tables, {rows} rows: {detail}"
    );
    assert!(detail.contains(SCRATCH_PREFIX), "{detail}");
    assert!(
        verify.stderr.contains(&format!("✔ {label} on L")),
        "{}",
        verify.stderr
    );
    assert_eq!(scratch_dbs::<D>(), before);

    // The latest of one source, for a person.
    let verify = b.bm(&["verify", "--latest", "--restore", "--source", label]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify
            .stderr
            .contains(&format!("{tables} tables, {rows} rows")),
        "expected {tables} tables, {rows} rows: {}",
        verify.stderr
    );
    assert!(verify.stderr.contains(&b.key), "{}", verify.stderr);
    assert_eq!(scratch_dbs::<D>(), before);

    let latest = b.bm(&["verify", "--latest"]);
    assert_eq!(latest.code, 0, "{}", latest.all());
    assert!(latest.stderr.contains("SHA-256"), "{}", latest.stderr);
}

/// The two kinds of damage a stored object gets in these tests.
const DAMAGES: [&str; 2] = ["flipped", "truncated"];

/// Damages the stored object in place (one flipped bit in the middle, or cut in half) and
/// returns its original bytes.
fn damage(dir: &Path, what: &str) -> Vec<u8> {
    let stored = objects(dir);
    let original = std::fs::read(&stored[0]).unwrap();
    let mut bytes = original.clone();
    match what {
        "flipped" => {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
        }
        _ => bytes.truncate(bytes.len() / 2),
    }
    std::fs::write(&stored[0], &bytes).unwrap();
    original
}

/// Each of [`DAMAGES`] fails `verify` and `verify --restore` (leaving no scratch database)
/// and a restore, which applies nothing; the repaired object verifies again.
fn damaged_objects<D: Fixture>() {
    let b = Backup::of(D::create("dmg"), D::FIXTURE);
    let label = D::LABEL;

    for what in DAMAGES {
        let original = damage(b.dir(), what);

        let verify = b.bm(&["verify", "--latest"]);
        assert_eq!(verify.code, 1, "{what}: {}", verify.all());
        assert!(
            verify.stderr.contains(&format!("✘ {label} on L")),
            "{what}: {}",
            verify.stderr
        );
        assert!(
            verify.stderr.contains("damaged"),
            "{what}: {}",
            verify.stderr
        );

        {
            let _guard = scratch_lock();
            let before = scratch_dbs::<D>();
            let drill = b.bm(&["verify", "--latest", "--restore"]);
            assert_eq!(drill.code, 1, "{what}: {}", drill.all());
            assert!(drill.stderr.contains("damaged"), "{what}: {}", drill.stderr);
            assert_eq!(
                scratch_dbs::<D>(),
                before,
                "{what}: scratch database left behind"
            );
        }

        let target = D::create("dmg_target");
        let restore = b.restore_to(&target);
        assert_eq!(restore.code, 1, "{what}: {}", restore.all());
        assert!(
            restore.stderr.contains("✘ restore failed")
                && restore.stderr.contains("nothing was applied"),
            "{what}: {}",
            restore.stderr
        );
        if D::CHECKS_BEFORE_RESTORE {
            assert!(
                restore.stderr.contains("damaged"),
                "{what}: {}",
                restore.stderr
            );
        }
        assert_eq!(target.relation_count(), 0, "{what}: {}", restore.all());

        std::fs::write(&objects(b.dir())[0], original).unwrap();
    }
    let verify = b.bm(&["verify", "--latest"]);
    assert_eq!(verify.code, 0, "repaired: {}", verify.all());
}

/// A restore over the source's own database is refused without `--force` and undoes the
/// changes since the backup with it.
fn restore_over_own_database<D: Fixture>() {
    let b = Backup::of(D::create("own"), D::FIXTURE);
    let label = D::LABEL;
    let backed_up = b.src.fingerprint();

    b.src.sql(D::CHANGES);
    let changed = b.src.fingerprint();
    assert_ne!(changed, backed_up);

    let refused = b.bm(&["restore", "--source", label, "--latest"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("use --force"), "{}", refused.stderr);
    // Said before the backup is read: a MySQL/MariaDB restore checks the whole backup first,
    // and that check must not come before the target is looked at.
    assert!(
        !refused.stderr.contains("before restoring"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        b.src.fingerprint(),
        changed,
        "nothing applied without --force"
    );

    let forced = b.bm(&["restore", "--source", label, "--latest", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert_eq!(b.src.fingerprint(), backed_up);
}

/// `run` of a source whose database does not exist fails with the dump tool's words and
/// stores nothing.
fn missing_database_fails_the_run<D: Fixture>() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = unique("missing");
    let config = write_config(tmp.path(), &D::default_port_yaml("Gone", &missing));
    let run = bm(tmp.path(), &config, &["run"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(&D::missing_database_error(&missing)),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("✘ Gone"), "{}", run.stderr);
    assert_eq!(files(&drive_dir(tmp.path())), Vec::<PathBuf>::new());
}

/// Replaces the stored object with a well-formed gzip of `sql` and rewrites the manifest's
/// hash and sizes to match, so `verify`'s checks pass and only the restore itself fails.
fn replace_with_consistent_object(dir: &Path, sql: &str) {
    use std::io::Write;
    let stored = objects(dir);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(sql.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let check = backupman_core::check_stored(&bytes[..], None).unwrap();
    std::fs::write(&stored[0], &bytes).unwrap();
    let manifest_path = format!("{}.json", stored[0].display());
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["sha256"] = check.sha256.into();
    manifest["compressed_size"] = check.compressed_size.into();
    manifest["size"] = check.plain_size.into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

const REJECTED_SQL: &str = "CREATE TABLE applied_first (id int);\nINSERT INTO applied_first VALUES (1);\nTHIS IS NOT SQL;\n";

/// An intact object whose SQL the server rejects: `verify` passes, `verify --restore` fails
/// with the server's words and drops its scratch database, and a restore into a new database
/// fails. Returns that restore and its target, for the engine's own checks of what stayed.
fn rejected_restore<D: Fixture>() -> (Run, D) {
    let b = Backup::of(D::create("rej"), D::ONE_ROW);
    let label = D::LABEL;
    replace_with_consistent_object(b.dir(), REJECTED_SQL);

    let verify = b.bm(&["verify", "--latest"]);
    assert_eq!(
        verify.code,
        0,
        "the object itself is intact: {}",
        verify.all()
    );

    {
        let _guard = scratch_lock();
        let before = scratch_dbs::<D>();
        let drill = b.bm(&["verify", "--latest", "--restore"]);
        assert_eq!(drill.code, 1, "{}", drill.all());
        assert!(
            drill.stderr.contains(&format!("✘ {label} on L")),
            "{}",
            drill.stderr
        );
        assert!(drill.stderr.contains(D::SYNTAX_ERROR), "{}", drill.stderr);
        // The restore ran in a scratch database, which is gone again.
        assert!(drill.stderr.contains(SCRATCH_PREFIX), "{}", drill.stderr);
        assert_eq!(scratch_dbs::<D>(), before, "scratch database left behind");
    }

    let target = D::create("rej_target");
    let restore = b.restore_to(&target);
    assert_eq!(restore.code, 1, "{}", restore.all());
    (restore, target)
}

// ------------------------------------------------------------------------------ PostgreSQL

impl Fixture for PgDb {
    const LABEL: &'static str = "PG";
    const FIXTURE: &'static str = PG_FIXTURE;
    const ONE_ROW: &'static str = "CREATE TABLE t (id int); INSERT INTO t VALUES (1);";
    const CHANGES: &'static str = "UPDATE many SET label = 'changed' WHERE id < 100; \
         DELETE FROM kinds WHERE id = 1; SELECT setval('counter', 9000);";
    const SYNTAX_ERROR: &'static str = "syntax error";
    const CHECKS_BEFORE_RESTORE: bool = false;

    fn check_fixture(expected: &Fingerprint) {
        assert!(expected.len() >= 5, "{expected:?}");
        assert!(
            expected
                .iter()
                .any(|(r, rows)| r.starts_with("public.many") && rows.len() == 20000)
        );
        assert!(
            expected
                .iter()
                .any(|(r, rows)| r.contains("round_labels VIEW") && rows.len() == 20)
        );
        assert!(
            expected
                .iter()
                .any(|(_, rows)| rows.iter().any(|s| s == "public.counter 4242"))
        );
    }
}

const PG_FIXTURE: &str = r#"
CREATE TABLE kinds (
    id serial PRIMARY KEY, i8 bigint, num numeric(20,6), d double precision, flag boolean,
    t text, ts timestamptz, j jsonb, arr int[], bin bytea
);
INSERT INTO kinds (i8, num, d, flag, t, ts, j, arr, bin) VALUES
 (9223372036854775807, 12345678901234.123456, 'NaN', true, 'plain', '2024-02-29 12:34:56+05',
  '{"a": [1, "ü", null]}', '{1,2,NULL}', '\x00ff10'::bytea),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (-1, -0.000001, 1e308, false, E'Grüße, 世界 🚀 ''q'' "dq" back\\slash tab\there\nnl \\. end',
  '1970-01-01 00:00:00+00', '[]', '{}',
  (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g));
CREATE TABLE many (id int PRIMARY KEY, label text, val double precision);
INSERT INTO many SELECT g, 'row ' || g || ' ✓', g / 7.0 FROM generate_series(1, 20000) g;
CREATE SEQUENCE counter START 100;
SELECT setval('counter', 4242);
CREATE VIEW round_labels AS SELECT id, label FROM many WHERE id % 1000 = 0;
CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema"."Mixed Case" (id int PRIMARY KEY, "Weird Col" text);
INSERT INTO "Other Schema"."Mixed Case" VALUES (1, 'select'), (2, NULL);
"#;

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_run_list_restore_and_verify_restore_round_trip() {
    round_trip(PgDb::create("src"));
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_damaged_objects_fail_verify_and_restore_applies_nothing() {
    damaged_objects::<PgDb>();
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_restore_over_its_own_database_needs_force() {
    restore_over_own_database::<PgDb>();
}

/// A restore into a database that does not exist says so and how to make it, before
/// anything is read.
#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_restore_into_a_missing_database_says_createdb() {
    let b = Backup::of(PgDb::create("tomissing"), PgDb::FIXTURE);
    let missing = unique("absent");
    let out = b.bm(&[
        "restore",
        "--source",
        PgDb::LABEL,
        "--latest",
        "--to",
        &missing,
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains(&format!("database \"{missing}\" does not exist (hint: create it first, e.g. `createdb {missing}`")),
        "{}",
        out.stderr
    );
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_missing_database_fails_the_run_with_pg_dumps_words_and_stores_nothing() {
    missing_database_fails_the_run::<PgDb>();
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_health_passes_for_a_reachable_database_and_names_a_missing_one() {
    let tmp = tempfile::tempdir().unwrap();
    let src = PgDb::create("health");
    src.sql(PgDb::ONE_ROW);
    let config = write_config(tmp.path(), &src.source_yaml("PG"));
    let ok = bm(tmp.path(), &config, &["health"]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.stdout.contains("✔ source PG (postgres): can be dumped"),
        "{}",
        ok.stdout
    );

    let missing = unique("health_missing");
    let config = write_config(
        tmp.path(),
        &format!(
            "{}{}",
            src.source_yaml("PG"),
            PgDb::default_port_yaml("Gone", &missing)
        ),
    );
    let bad = bm(tmp.path(), &config, &["health", "--json"]);
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert!(
        bad.stderr.contains("✔ source PG (postgres)"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("✘ source Gone (postgres)"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains(&PgDb::missing_database_error(&missing)),
        "{}",
        bad.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["sources"][0]["ok"], true);
    assert_eq!(report["sources"][1]["ok"], false);
    assert_eq!(files(&drive_dir(tmp.path())), Vec::<PathBuf>::new());
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_a_restore_the_server_rejects_fails_verify_restore_and_drops_the_scratch_database() {
    let (restore, target) = rejected_restore::<PgDb>();
    assert!(
        restore.stderr.contains("syntax error") && restore.stderr.contains("nothing was applied"),
        "{}",
        restore.stderr
    );
    assert_eq!(
        target.relation_count(),
        0,
        "one transaction: nothing applied"
    );
}

// ------------------------------------------------------------------------ MySQL / MariaDB

impl Fixture for MyDb {
    const LABEL: &'static str = "Shop";
    const FIXTURE: &'static str = MY_FIXTURE;
    const ONE_ROW: &'static str = "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);";
    const CHANGES: &'static str =
        "UPDATE many SET label = 'changed' WHERE id < 100; DELETE FROM kinds WHERE id = 1;";
    const SYNTAX_ERROR: &'static str = "You have an error in your SQL syntax";
    const CHECKS_BEFORE_RESTORE: bool = true;

    fn check_fixture(expected: &Fingerprint) {
        assert!(
            expected
                .iter()
                .any(|(r, rows)| r == "many BASE TABLE" && rows.len() == 20000),
            "{:?}",
            expected
                .iter()
                .map(|(r, v)| (r, v.len()))
                .collect::<Vec<_>>()
        );
        assert!(
            expected
                .iter()
                .any(|(r, rows)| r == "round_labels VIEW" && rows.len() == 20)
        );
        assert!(expected.iter().any(|(r, _)| r == "counter SEQUENCE"));
    }

    fn check_restored_fixture(&self) {
        assert_eq!(self.sql("SELECT NEXTVAL(counter)").trim(), "4243");
        assert_eq!(self.sql("SELECT twice(21)").trim(), "42");
    }
}

const MY_FIXTURE: &str = r#"
CREATE TABLE kinds (
    id INT AUTO_INCREMENT PRIMARY KEY, bi BIGINT, ubi BIGINT UNSIGNED, num DECIMAL(20,6),
    d DOUBLE, dtm DATETIME(6), vc VARCHAR(100), tx TEXT, bin BLOB, js JSON, en ENUM('a','ü')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, kind_id INT, note TEXT) ENGINE=InnoDB;
CREATE TRIGGER kinds_audit AFTER INSERT ON kinds FOR EACH ROW
    INSERT INTO audit (kind_id, note) VALUES (NEW.id, 'inserted');
INSERT INTO kinds (bi, ubi, num, d, dtm, vc, tx, bin, js, en) VALUES
 (-9223372036854775808, 18446744073709551615, 12345678901234.123456, 1e308,
  '2024-02-29 12:34:56.789012', 'ñ', 'Grüße, 世界 🚀 \'q\' "dq" back\\slash\ttab\nnl; DROP TABLE x; --',
  UNHEX((SELECT GROUP_CONCAT(LPAD(HEX(seq), 2, '0') ORDER BY seq SEPARATOR '') FROM seq_0_to_255)),
  '{"a": [1, "ü", null]}', 'ü'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (0, 0, -0.000001, -1e-300, '1000-01-01 00:00:00', '', '', 0x00, '[]', 'a');
CREATE TABLE many (id INT PRIMARY KEY, label VARCHAR(40), val DOUBLE) ENGINE=InnoDB;
INSERT INTO many SELECT seq, CONCAT('row ', seq, ' ✓'), seq / 7 FROM seq_1_to_20000;
CREATE VIEW round_labels AS SELECT id, label FROM many WHERE id % 1000 = 0;
CREATE SEQUENCE counter START WITH 100;
SELECT SETVAL(counter, 4242);
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
"#;

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_run_list_restore_and_verify_restore_round_trip() {
    round_trip(MyDb::create("src"));
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mysql_provider_run_list_restore_and_verify_restore_round_trip() {
    round_trip(MyDb::create("src").mysql_provider());
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_damaged_objects_fail_verify_and_restore_applies_nothing() {
    damaged_objects::<MyDb>();
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_restore_over_its_own_database_needs_force() {
    restore_over_own_database::<MyDb>();
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_failing_dumps_fail_the_run_with_the_tools_words_and_store_nothing() {
    missing_database_fails_the_run::<MyDb>();

    // A user that does not exist.
    let tmp = tempfile::tempdir().unwrap();
    let src = MyDb::create("user");
    src.sql(MyDb::ONE_ROW);
    let nobody = unique("nobody");
    let config = write_config(
        tmp.path(),
        &format!(
            "  - provider: mysql\n    label: Wrong User\n    host: 127.0.0.1\n    db_name: {}\n    user: {nobody}\n    password: not-the-password\n",
            src.name
        ),
    );
    let run = bm(tmp.path(), &config, &["run"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("Access denied for user '{nobody}'")),
        "{}",
        run.stderr
    );
    assert!(
        !run.all().contains("not-the-password"),
        "the password never appears: {}",
        run.all()
    );
    assert_eq!(files(&drive_dir(tmp.path())), Vec::<PathBuf>::new());
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_a_restore_the_server_rejects_fails_verify_restore_and_drops_the_scratch_database() {
    let (restore, target) = rejected_restore::<MyDb>();
    // MySQL/MariaDB cannot roll back: what ran before the error stays, and the error says so.
    assert!(
        restore.stderr.contains("remain applied"),
        "{}",
        restore.stderr
    );
    assert_eq!(target.sql("SELECT COUNT(*) FROM applied_first").trim(), "1");
}
