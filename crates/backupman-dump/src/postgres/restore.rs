//! Restoring into PostgreSQL with `psql`: the whole dump runs in one transaction
//! (`--single-transaction`) that commits only at the end of its input, so a failed restore
//! applies nothing. psql runs without a psqlrc (`-X`), stops at the first error
//! (`ON_ERROR_STOP=1`), and reads the dump through [`PsqlFilter`], so no meta-command from a
//! backup reaches it. The globals of a whole server (`pg_dumpall --globals-only`) are the
//! exception to the transaction: see `Psql::restore_command`.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use super::PostgresConnection;
use crate::process::{run_capture, tool_version};
use crate::restore::client::SqlClient;
use crate::restore::filter::{Filter, PsqlFilter};
use crate::restore::{DatabaseSummary, PlainName, RestoreError, TableCount};

/// `psql`, connected to a restore target.
pub(crate) struct Psql<'a> {
    connection: &'a PostgresConnection,
    tool: PathBuf,
}

impl<'a> Psql<'a> {
    /// Finds `psql` beside the configured `pg_dump`, or on `PATH`.
    pub(crate) fn find(connection: &'a PostgresConnection) -> Result<Self, RestoreError> {
        let tool = connection.psql().ok_or_else(|| {
            RestoreError::Tool("psql not found on PATH: install postgresql-client".into())
        })?;
        Ok(Self { connection, tool })
    }

    /// `psql` connected to `database`, stopping at the first error.
    fn command(&self, database: &str) -> Command {
        let mut cmd = self.connection.command_in(&self.tool, database);
        cmd.args(["-X", "--no-password", "-v", "ON_ERROR_STOP=1"]);
        cmd
    }

    fn database(&self) -> &str {
        &self.connection.server.database
    }

    /// Creates the database `name` on the target's server.
    pub(crate) fn create_database(&self, name: PlainName<'_>) -> Result<(), RestoreError> {
        self.admin(&format!("CREATE DATABASE \"{name}\""))
    }

    /// Drops the database `name` on the target's server, if it exists.
    pub(crate) fn drop_database(&self, name: PlainName<'_>) -> Result<(), RestoreError> {
        // WITH (FORCE) (PostgreSQL 13+) ends sessions left over from a killed client.
        let forced = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        self.admin(&forced)
            .or_else(|_| self.admin(&format!("DROP DATABASE IF EXISTS \"{name}\"")))
    }
}

impl fmt::Display for Psql<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.connection, f)
    }
}

impl SqlClient for Psql<'_> {
    fn transactional(&self) -> bool {
        // pg_dumpall's globals run statement by statement (see `restore_command`).
        !self.connection.globals
    }

    fn count_objects_query(&self) -> (&'static str, &'static str) {
        if self.connection.globals {
            // Restoring roles over a server's own would change their passwords and rights.
            return (
                "SELECT count(*) FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user",
                "roles besides the one connected",
            );
        }
        (
            "SELECT count(*) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'",
            "tables, views or sequences",
        )
    }

    fn restore_command(&self) -> Command {
        let mut cmd = self.command(self.database());
        if self.connection.globals {
            // pg_dumpall's output is made to run statement by statement: it creates every
            // role, the one connected included, and that CREATE failing is expected (its
            // ALTER ROLE then sets the role's attributes). As psql's documentation for it says,
            // errors are reported and do not stop it; the filter still lets only SQL through.
            cmd.args(["-v", "ON_ERROR_STOP=0", "--quiet", "--file=-"]);
            return cmd;
        }
        cmd.args(["--quiet", "--single-transaction", "--file=-"]);
        cmd
    }

    fn filter(&self) -> Result<Box<dyn Filter>, RestoreError> {
        // psql's version decides how it reads BEGIN ... END bodies, which the filter follows.
        let version = tool_version(&self.tool);
        let major = version.as_deref().and_then(psql_major).ok_or_else(|| {
            RestoreError::Tool(format!(
                "cannot tell the version of {} (it printed {:?})",
                self.tool.display(),
                version.unwrap_or_default()
            ))
        })?;
        Ok(Box::new(PsqlFilter::new(major)))
    }

    /// Fields separated by NUL.
    fn query_command(&self, sql: &str) -> Command {
        let mut cmd = self.command(self.database());
        cmd.args(["-A", "-t", "-z", "-c", sql]);
        cmd
    }

    fn admin_command(&self, sql: &str) -> Command {
        // The maintenance database: the target's may not exist yet, or is being dropped.
        let mut cmd = self.command("postgres");
        cmd.args(["-q", "-c", sql]);
        cmd
    }

    fn absent_database(&self) -> Option<String> {
        let name = PlainName::new(self.database(), "").ok()?;
        let mut cmd = self.command("postgres");
        cmd.args([
            "-A",
            "-t",
            "-c",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        ]);
        let out = run_capture(&mut cmd, None).ok()?;
        (out.trim() == "0").then(|| name.to_string())
    }

    fn summarize(&self) -> Result<DatabaseSummary, RestoreError> {
        let out = self.query(
            "SELECT format('%I.%I', table_schema, table_name), \
               (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
                  table_schema, table_name), false, true, '')))[1]::text \
             FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' \
               AND table_schema NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 1",
        )?;
        let bad = |line: &str| self.failed(format!("unexpected line in a row count: {line:?}"));
        let mut tables = Vec::new();
        for line in out.lines().filter(|l| !l.is_empty()) {
            let (name, rows) = line.split_once('\0').ok_or_else(|| bad(line))?;
            let rows = rows.parse().map_err(|_| bad(line))?;
            tables.push(TableCount {
                name: name.to_owned(),
                rows,
            });
        }
        Ok(DatabaseSummary { tables })
    }
}

/// The major version in psql's `--version` line: `psql (PostgreSQL) 15.20 (Debian ...)` → 15,
/// `psql (PostgreSQL) 9.6.24` → 9.
fn psql_major(line: &str) -> Option<u32> {
    let number = line
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split(['.', 'b', 'r', 'd']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::psql_major;

    #[test]
    fn majors_are_read_from_version_lines() {
        assert_eq!(
            psql_major("psql (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(psql_major("psql (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(psql_major("psql (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(psql_major("psql (PostgreSQL) 17rc1"), Some(17));
        assert_eq!(psql_major("psql (PostgreSQL)"), None);
    }
}
