//! Scratch databases on the machine's PostgreSQL (`127.0.0.1:5432`, user `postgres`, trust)
//! and MariaDB (`127.0.0.1:3306`, user `root`, no password), each dropped when its guard is,
//! however the test ends; the command-line clients (`psql`, `mariadb`) as witnesses
//! independent of the code under test; and a [`Fingerprint`] of everything a database holds,
//! so that two databases can be compared after a restore.
//!
//! ```no_run
//! use backupman_testkit::db::{Db, PgDb};
//!
//! let db = PgDb::create("example");
//! db.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
//! let copy = PgDb::create("example_copy");
//! copy.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
//! assert_eq!(db.fingerprint(), copy.fingerprint());
//! ```

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use backupman_config::SourceProvider;

/// The machine's PostgreSQL server.
pub const PG_HOST: &str = "127.0.0.1";
/// Its port.
pub const PG_PORT: u16 = 5432;
/// A superuser it trusts.
pub const PG_USER: &str = "postgres";
/// The machine's MariaDB server.
pub const MY_HOST: &str = "127.0.0.1";
/// Its port.
pub const MY_PORT: u16 = 3306;
/// A user with every privilege and no password.
pub const MY_USER: &str = "root";

/// `bmt_{what}_{pid}_{n}`: unique per test process and call, so test binaries running at the
/// same time never share a database.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "bmt_{what}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `cmd` with `stdin` (or none) and returns its stdout; panics with its stderr when it
/// fails, since a client that fails means the test's own setup is wrong.
pub fn output_of(cmd: &mut Command, stdin: Option<&[u8]>) -> Vec<u8> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the client installed?)"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input)
            .expect("write the client's input");
    }
    let out = child.wait_with_output().expect("wait for the client");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text_of(cmd: &mut Command, stdin: Option<&[u8]>) -> String {
    String::from_utf8(output_of(cmd, stdin)).expect("client output is UTF-8")
}

/// `bash -c` with the given command line (pipefail on), asserting success.
pub fn shell(command: &str) -> String {
    text_of(
        Command::new("bash")
            .arg("-c")
            .arg(format!("set -o pipefail; {command}")),
        None,
    )
}

/// The non-empty lines of a client's output.
pub fn lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every relation's rows as md5s (sorted), and whatever else an engine keeps beside them
/// (sequence states, counters, routines, triggers, events): equal fingerprints, equal data.
pub type Fingerprint = Vec<(String, Vec<String>)>;

/// A test database, dropped when the value is, on either engine: what scenarios written once
/// for both engines need of it.
pub trait Db: Sized {
    /// A new, empty database named after `what` (see [`unique`]).
    fn create(what: &str) -> Self;
    /// Only the name: the database is expected to be created by the code under test, and is
    /// dropped all the same.
    fn reserve(what: &str) -> Self;
    /// The database's name.
    fn name(&self) -> &str;
    /// The `provider` this database is backed up as.
    fn provider(&self) -> &str;
    /// Runs SQL (one or many statements) through the command-line client; returns its batch
    /// output (tab-separated, one row a line).
    fn sql(&self, sql: &str) -> String;
    /// This database as a source (a YAML list item of `data_sources`) with `label`.
    fn source_yaml(&self, label: &str) -> String;
    /// A source (YAML list item) for the database `db_name` on the server's default port.
    fn default_port_yaml(label: &str, db_name: &str) -> String;
    /// What the server says when the database `db_name` does not exist.
    fn missing_database_error(db_name: &str) -> String;
    /// Lists the base tables (not views, not sequences), quoted for use in SQL.
    fn base_tables(&self) -> Vec<String>;
    /// Every relation (tables, views, sequences) the database holds.
    fn relation_count(&self) -> u64;
    /// Every database on the server whose name starts with `prefix`, sorted.
    fn databases_starting_with(prefix: &str) -> Vec<String>;
    /// What the database holds, to compare with another.
    fn fingerprint(&self) -> Fingerprint;

    /// (base tables, their total rows).
    fn table_summary(&self) -> (u64, u64) {
        let tables = self.base_tables();
        let rows = tables
            .iter()
            .map(|t| {
                self.sql(&format!("SELECT count(*) FROM {t}"))
                    .trim()
                    .parse::<u64>()
                    .expect("a count")
            })
            .sum();
        (tables.len() as u64, rows)
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// `psql` connected to `db`, stopping at the first error.
pub fn psql(db: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        PG_HOST,
        "-U",
        PG_USER,
    ])
    .arg("-p")
    .arg(PG_PORT.to_string())
    .arg("-d")
    .arg(db);
    cmd
}

/// Runs SQL (one or many statements) through `psql`; returns unaligned, tuples-only output.
pub fn pg(db: &str, sql: &str) -> String {
    let mut cmd = psql(db);
    cmd.arg("-At");
    text_of(&mut cmd, Some(sql.as_bytes()))
}

/// A PostgreSQL database dropped (forcefully) when the test ends, however it ends.
#[derive(Debug)]
pub struct PgDb {
    /// The database's name.
    pub name: String,
}

impl Db for PgDb {
    fn create(what: &str) -> Self {
        let name = unique(what);
        pg("postgres", &format!("CREATE DATABASE \"{name}\""));
        Self { name }
    }

    fn reserve(what: &str) -> Self {
        Self { name: unique(what) }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> &str {
        "postgres"
    }

    fn sql(&self, sql: &str) -> String {
        pg(&self.name, sql)
    }

    fn source_yaml(&self, label: &str) -> String {
        format!(
            "  - provider: postgres\n    label: {label}\n    host: {PG_HOST}\n    port: {PG_PORT}\n    db_name: {}\n    user: {PG_USER}\n    tls: disable\n",
            self.name
        )
    }

    fn default_port_yaml(label: &str, db_name: &str) -> String {
        format!(
            "  - provider: postgres\n    label: {label}\n    host: {PG_HOST}\n    db_name: {db_name}\n    user: {PG_USER}\n    tls: disable\n"
        )
    }

    fn missing_database_error(db_name: &str) -> String {
        format!("database \"{db_name}\" does not exist")
    }

    fn base_tables(&self) -> Vec<String> {
        lines(&self.sql(
            "SELECT format('%I.%I', table_schema, table_name) \
             FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
               AND table_schema NOT IN ('pg_catalog', 'information_schema')",
        ))
    }

    /// Tables, views, sequences (every kind of relation outside the system schemas).
    fn relation_count(&self) -> u64 {
        self.sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p','v','m','S','f') \
               AND n.nspname NOT IN ('pg_catalog','information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%'",
        )
        .trim()
        .parse()
        .expect("a count")
    }

    fn databases_starting_with(prefix: &str) -> Vec<String> {
        lines(&pg(
            "postgres",
            &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1"),
        ))
    }

    /// Every relation's rows, each as an md5 (sorted), views included; every sequence's state
    /// (`unset` before its first `nextval`); the user triggers.
    fn fingerprint(&self) -> Fingerprint {
        let relations = lines(&self.sql(
            "SELECT format('%I.%I', table_schema, table_name) || ' ' || table_type \
             FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        ));
        let mut out: Fingerprint = relations
            .iter()
            .map(|r| {
                let name = r.rsplit_once(' ').map_or(r.as_str(), |(n, _)| n);
                let name = name.strip_suffix(" BASE").unwrap_or(name);
                (
                    r.clone(),
                    lines(&self.sql(&format!("SELECT md5(t::text) FROM {name} t ORDER BY 1"))),
                )
            })
            .collect();
        out.push((
            "sequences".into(),
            lines(&self.sql(
                "SELECT schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, 'unset') \
                 FROM pg_sequences ORDER BY 1",
            )),
        ));
        out.push((
            "triggers".into(),
            lines(&self.sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1")),
        ));
        out
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = psql("postgres")
            .arg("-c")
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------- MariaDB

/// The `mariadb` client in batch mode (tab-separated, special characters escaped), connected
/// to `db` or to no database.
pub fn mariadb(db: Option<&str>) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.arg(format!("--host={MY_HOST}"))
        .arg(format!("--port={MY_PORT}"))
        .arg(format!("--user={MY_USER}"))
        .args([
            "--batch",
            "--skip-column-names",
            "--default-character-set=utf8mb4",
        ]);
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    cmd
}

/// Runs SQL through the `mariadb` client; returns batch output (tab-separated, escaped).
pub fn my(db: Option<&str>, sql: &str) -> String {
    text_of(&mut mariadb(db), Some(sql.as_bytes()))
}

/// A MariaDB database dropped when the test ends, backed up by a source of the `mariadb`
/// provider or, with [`MyDb::mysql_provider`], the `mysql` one.
#[derive(Debug)]
pub struct MyDb {
    /// The user's name.
    pub name: String,
    provider: SourceProvider,
}

impl MyDb {
    /// The same database, backed up as a `mysql` source.
    pub fn mysql_provider(mut self) -> Self {
        self.provider = SourceProvider::Mysql;
        self
    }

    /// Raw client output, for binary columns.
    pub fn raw(&self, sql: &str) -> Vec<u8> {
        output_of(&mut mariadb(Some(&self.name)), Some(sql.as_bytes()))
    }
}

impl Db for MyDb {
    fn create(what: &str) -> Self {
        let db = Self::reserve(what);
        my(
            None,
            &format!("CREATE DATABASE `{}` CHARACTER SET utf8mb4", db.name),
        );
        db
    }

    fn reserve(what: &str) -> Self {
        Self {
            name: unique(what),
            provider: SourceProvider::Mariadb,
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> &str {
        self.provider.as_str()
    }

    fn sql(&self, sql: &str) -> String {
        my(Some(&self.name), sql)
    }

    fn source_yaml(&self, label: &str) -> String {
        format!(
            "  - provider: {}\n    label: {label}\n    host: {MY_HOST}\n    port: {MY_PORT}\n    db_name: {}\n    user: {MY_USER}\n",
            self.provider(),
            self.name
        )
    }

    fn default_port_yaml(label: &str, db_name: &str) -> String {
        format!(
            "  - provider: mariadb\n    label: {label}\n    host: {MY_HOST}\n    db_name: {db_name}\n    user: {MY_USER}\n"
        )
    }

    fn missing_database_error(db_name: &str) -> String {
        format!("Unknown database '{db_name}'")
    }

    fn base_tables(&self) -> Vec<String> {
        lines(&self.sql(
            "SELECT CONCAT('`', table_name, '`') FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
        ))
    }

    fn relation_count(&self) -> u64 {
        self.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()")
            .trim()
            .parse()
            .expect("a count")
    }

    fn databases_starting_with(prefix: &str) -> Vec<String> {
        lines(&my(
            None,
            &format!(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{prefix}%' ORDER BY 1"
            ),
        ))
    }

    /// Every relation's rows (tables, views, sequences), each as an md5 of all its quoted
    /// columns (sorted); AUTO_INCREMENT counters; routines, triggers and events.
    fn fingerprint(&self) -> Fingerprint {
        let relations = lines(&self.sql(
            "SELECT CONCAT(table_name, ' ', table_type) FROM information_schema.tables \
             WHERE table_schema = DATABASE() ORDER BY 1",
        ));
        let mut out: Fingerprint = relations
            .iter()
            .map(|r| {
                let name = r.split(' ').next().expect("a name");
                let cols = lines(&self.sql(&format!(
                    "SELECT CONCAT('QUOTE(`', column_name, '`)') FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = '{name}' ORDER BY ordinal_position"
                )))
                .join(", ");
                (
                    r.clone(),
                    lines(&self.sql(&format!(
                        "SELECT MD5(CONCAT_WS(0x1f, {cols})) FROM `{name}` ORDER BY 1"
                    ))),
                )
            })
            .collect();
        out.push((
            "auto_increment".into(),
            lines(&self.sql(
                "SELECT CONCAT(table_name, ' ', auto_increment) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND auto_increment IS NOT NULL ORDER BY 1",
            )),
        ));
        out.push((
            "routines and triggers".into(),
            lines(&self.sql(
                "SELECT CONCAT('routine ', routine_name) n FROM information_schema.routines \
                   WHERE routine_schema = DATABASE() \
                 UNION ALL SELECT CONCAT('trigger ', trigger_name) FROM information_schema.triggers \
                   WHERE trigger_schema = DATABASE() ORDER BY 1",
            )),
        ));
        out.push((
            "events".into(),
            lines(&self.sql(
                "SELECT event_name FROM information_schema.events \
                 WHERE event_schema = DATABASE() ORDER BY 1",
            )),
        ));
        out
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = mariadb(None)
            .arg("-e")
            .arg(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A MariaDB account dropped when the test ends.
#[derive(Debug)]
pub struct MyUser(pub String);

impl Drop for MyUser {
    fn drop(&mut self) {
        let _ = mariadb(None)
            .arg("-e")
            .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------- sessions

/// A client session left open (its input not closed) after running some SQL, so that what it
/// started (a transaction holding a lock) lasts; the client is killed when the test ends.
#[derive(Debug)]
pub struct OpenSession(Child);

impl OpenSession {
    /// `psql` connected to `db`.
    pub fn pg(db: &str, sql: &str) -> Self {
        Self::start(psql(db), sql)
    }

    /// The `mariadb` client connected to `db`.
    pub fn my(db: &str, sql: &str) -> Self {
        Self::start(mariadb(Some(db)), sql)
    }

    fn start(mut cmd: Command, sql: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let stdin = child.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(sql.as_bytes()).expect("write the SQL");
        stdin.write_all(b"\n").expect("write the SQL");
        stdin.flush().expect("flush the SQL");
        Self(child)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
