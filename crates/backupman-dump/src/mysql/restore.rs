//! Restoring into MySQL or MariaDB with the `mariadb` / `mysql` client. DDL commits
//! implicitly, so statements executed before a failure stay applied: the target says so
//! ([`RestoreTarget::is_transactional`](crate::restore::RestoreTarget::is_transactional)).
//!
//! The client runs with `--sandbox`, which refuses every client command that reaches the
//! shell or the file system (`\!`, `system`, `source`, `tee`...): its own parser decides, so
//! nothing the filter could miss gets run. A client without that option (MySQL's `mysql`,
//! MariaDB's before 10.5.25, 10.6.18, 10.11.8 and 11.0.6) is refused. The dump also passes
//! [`MariadbFilter`], which finds planted commands before anything is applied.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use super::{MysqlConnection, is_mariadb_tool};
use crate::process::{find_tool, run_capture, tool_version};
use crate::restore::client::SqlClient;
use crate::restore::filter::{Filter, MariadbFilter};
use crate::restore::{DatabaseSummary, PlainName, RestoreError, TableCount};

/// Clients tried, in order.
const CLIENTS: &[&str] = &["mariadb", "mysql"];

/// How many tables one row-count query counts.
const TABLES_PER_QUERY: usize = 200;

/// The `mariadb` or `mysql` client, connected to a restore target.
pub(crate) struct MysqlClient<'a> {
    connection: &'a MysqlConnection,
    tool: PathBuf,
    mariadb: bool,
}

impl<'a> MysqlClient<'a> {
    /// Finds the client on `PATH`.
    pub(crate) fn find(connection: &'a MysqlConnection) -> Result<Self, RestoreError> {
        let tool = find_tool(None, CLIENTS)
            .map_err(|e| RestoreError::Tool(format!("{e}: install mariadb-client")))?;
        let mariadb = is_mariadb_tool(tool_version(&tool).as_deref());
        Ok(Self {
            connection,
            tool,
            mariadb,
        })
    }

    /// The client connected to `database`, or to none (statements about databases).
    fn command(&self, database: Option<&str>) -> Command {
        let mut cmd = self.connection.command(&self.tool, self.mariadb);
        cmd.arg("--default-character-set=utf8mb4");
        if let Some(db) = database {
            cmd.arg(format!("--database={db}"));
        }
        cmd
    }

    fn database(&self) -> &str {
        &self.connection.server.database
    }

    /// Creates the database `name` on the target's server.
    pub(crate) fn create_database(&self, name: PlainName<'_>) -> Result<(), RestoreError> {
        self.admin(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    }

    /// Drops the database `name` on the target's server, if it exists.
    pub(crate) fn drop_database(&self, name: PlainName<'_>) -> Result<(), RestoreError> {
        self.admin(&format!("DROP DATABASE IF EXISTS `{name}`"))
    }
}

impl fmt::Display for MysqlClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.connection, f)
    }
}

impl SqlClient for MysqlClient<'_> {
    fn transactional(&self) -> bool {
        false
    }

    fn count_objects_query(&self) -> (&'static str, &'static str) {
        (
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
            "tables, views or sequences",
        )
    }

    fn restore_command(&self) -> Command {
        let mut cmd = self.command(Some(self.database()));
        cmd.args(["--batch", "--sandbox"]);
        cmd
    }

    fn filter(&self) -> Result<Box<dyn Filter>, RestoreError> {
        let help = run_capture(Command::new(&self.tool).arg("--help"), None)
            .map_err(|e| RestoreError::Tool(format!("cannot run {}: {e}", self.tool.display())))?;
        if !help.contains("--sandbox") {
            let version = tool_version(&self.tool).unwrap_or_else(|| "unknown version".into());
            return Err(RestoreError::Tool(format!(
                "{} ({version}) has no --sandbox option, without which a restore could run client commands planted in a backup; install a client that has it: MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 or newer",
                self.tool.display()
            )));
        }
        Ok(Box::new(MariadbFilter::new()))
    }

    /// Fields separated by tabs.
    fn query_command(&self, sql: &str) -> Command {
        let mut cmd = self.command(Some(self.database()));
        cmd.args(["--batch", "--skip-column-names", "--raw", "-e", sql]);
        cmd
    }

    fn admin_command(&self, sql: &str) -> Command {
        let mut cmd = self.command(None);
        cmd.args(["--batch", "-e", sql]);
        cmd
    }

    fn summarize(&self) -> Result<DatabaseSummary, RestoreError> {
        let bad = |line: &str| self.failed(format!("unexpected line in a row count: {line:?}"));
        let out = self.query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
        )?;
        let names: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        let mut tables = Vec::new();
        // Each count is tagged with the table's index, so no name needs quoting on its way
        // back.
        for (chunk_no, chunk) in names.chunks(TABLES_PER_QUERY).enumerate() {
            let sql = chunk
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    format!(
                        "SELECT {}, count(*) FROM `{}`",
                        chunk_no * TABLES_PER_QUERY + i,
                        name.replace('`', "``")
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            for line in self.query(&sql)?.lines().filter(|l| !l.is_empty()) {
                let (index, rows) = line.split_once('\t').ok_or_else(|| bad(line))?;
                let index: usize = index.parse().map_err(|_| bad(line))?;
                let name = names.get(index).ok_or_else(|| bad(line))?;
                tables.push(TableCount {
                    name: (*name).to_owned(),
                    rows: rows.parse().map_err(|_| bad(line))?,
                });
            }
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DatabaseSummary { tables })
    }
}
