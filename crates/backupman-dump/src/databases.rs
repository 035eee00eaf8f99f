//! The databases on a server, for a whole-server source: asked of the server when a run
//! starts, so a database created since the last run is backed up too.

use backupman_core::SourceError;

use crate::mysql::{MysqlConnection, is_mariadb_tool};
use crate::postgres::PostgresConnection;
use crate::process::{find_tool, run_capture, tool_version};
use crate::settings::DatabaseSettings;
use crate::supervise::ProcessError;

/// One database of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDatabase {
    /// Its name.
    pub name: String,
    /// The server's own (PostgreSQL's templates; MySQL's `information_schema`,
    /// `performance_schema`, `sys` and `mysql`), left out of `databases: all`.
    pub system: bool,
}

/// MySQL's and MariaDB's own databases.
const MYSQL_SYSTEM: &[&str] = &["information_schema", "performance_schema", "sys", "mysql"];

/// The databases on the server `settings` reach, by name. Blocking: it runs the server's
/// client (`psql`, `mariadb`/`mysql`). SQLite has no server: an error.
pub fn list_databases(settings: &DatabaseSettings) -> Result<Vec<ServerDatabase>, SourceError> {
    let failed = |e: ProcessError| {
        SourceError::new(format!(
            "source {:?}: cannot list the server's databases: {e}",
            settings.label()
        ))
        .with_cause(e)
    };
    let refused = |why: &str| ProcessError::NotFound(why.to_owned());
    let mut out = match settings {
        DatabaseSettings::Postgres(s) => {
            let connection = PostgresConnection::new(s);
            let psql = connection.psql().ok_or_else(|| {
                failed(refused("psql not found on PATH: install postgresql-client"))
            })?;
            let database = match s.server.database.as_str() {
                "" => "postgres",
                named => named,
            };
            let mut cmd = connection.command_in(&psql, database);
            // One record per database, NUL-terminated (a name may hold any character), the
            // first character saying whether it is a template.
            cmd.args([
                "-X",
                "-A",
                "-t",
                "-0",
                "--no-password",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ]);
            cmd.arg(
                "SELECT CASE WHEN datistemplate THEN 't' ELSE 'f' END || datname \
                 FROM pg_database WHERE datallowconn ORDER BY datname",
            );
            let out = run_capture(&mut cmd, None).map_err(failed)?;
            out.split('\0')
                .map(|r| r.trim_start_matches('\n'))
                .filter(|r| !r.is_empty())
                .map(|r| ServerDatabase {
                    system: r.starts_with('t'),
                    name: r[1..].to_owned(),
                })
                .collect::<Vec<_>>()
        }
        DatabaseSettings::Mysql(s) => {
            let tool = find_tool(None, &["mariadb", "mysql"])
                .map_err(|e| failed(refused(&format!("{e}: install mariadb-client"))))?;
            let mariadb = is_mariadb_tool(tool_version(&tool).as_deref());
            let mut cmd = MysqlConnection::new(s).command(&tool, mariadb);
            cmd.args([
                "--batch",
                "--skip-column-names",
                "--raw",
                "-e",
                "SHOW DATABASES",
            ]);
            let out = run_capture(&mut cmd, None).map_err(failed)?;
            out.lines()
                .filter(|l| !l.is_empty())
                .map(|name| ServerDatabase {
                    system: MYSQL_SYSTEM.contains(&name),
                    name: name.to_owned(),
                })
                .collect()
        }
        DatabaseSettings::Sqlite(_) => {
            return Err(SourceError::new(format!(
                "source {:?}: cannot list the server's databases: an SQLite file is one database",
                settings.label()
            )));
        }
    };
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
