//! A PostgreSQL 15 cluster of a test's own (`initdb` and `pg_ctl` on a free loopback port in
//! a temp folder), for tests that must stop a server or need an empty one, never the
//! machine's shared server. Stopped when its guard is dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::s3::free_port;

/// Where PostgreSQL 15's server tools are.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs `program` as the `postgres` user when we are root (initdb refuses root), else as is.
pub fn as_postgres(program: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// Whether the tests run as root (initdb refuses to).
pub fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Runs `cmd` and panics with its output unless it succeeds.
pub fn check(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PostgreSQL 15 cluster of our own: `initdb` in a temp folder, trust authentication on
/// 127.0.0.1:`port`. Stopped (immediate) when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    root: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl PrivatePostgres {
    /// initdb and start a new cluster on a free port.
    pub fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            // The `postgres` user must reach the folder and own the cluster's.
            check(
                Command::new("chmod").arg("755").arg(root.path()),
                "chmod the temp folder",
            );
            check(
                Command::new("chown").arg("postgres").arg(&data),
                "chown the data folder to postgres",
            );
        }
        check(
            as_postgres(&format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        );
        let pg = Self {
            root,
            port: free_port(),
        };
        pg.start_again();
        pg
    }

    /// The cluster's data folder.
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Starts the (stopped) cluster again, on its port.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data().display()
        );
        check(
            as_postgres(&format!("{PG_BIN}/pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.data().join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
    }

    /// `pg_ctl stop -m immediate`: every backend is killed at once, as in a crash.
    pub fn stop_immediate(&self) {
        check(
            as_postgres(&format!("{PG_BIN}/pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop -m immediate",
        );
    }

    /// Runs `sql` in `db` as `postgres`; its unaligned, tuples-only output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        check(
            Command::new("psql")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1"])
                .args(["-c", sql]),
            &format!("psql {sql}"),
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Already stopped is fine: whatever state the test left, nothing keeps running.
        let _ = as_postgres(&format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
