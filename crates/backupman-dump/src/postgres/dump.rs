//! The PostgreSQL source: `pg_dump` in plain SQL format, streamed from its stdout.
//!
//! The dump is made with `--clean --if-exists`: it starts by dropping (if present) every
//! object it is about to create, so the same file restores into an empty database (the
//! drops are no-ops) and over an existing copy of the database (`restore --force`), and
//! without `--create`, so it restores into a database of any name. Owners and privileges
//! are kept; add `--no-owner --no-privileges` to `dump_options` when backups are restored
//! on servers without the same roles.

use std::env;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use backupman_core::{CancellationToken, Dump, SourceError};

use super::PostgresConnection;
use crate::process::{find_companion, find_tool, run_capture, tool_version};
use crate::server::ServerSettings;
use crate::settings::PostgresSettings;
use crate::tool_source::{ToolSource, impl_source};

/// A PostgreSQL database dumped with `pg_dump`.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    settings: PostgresSettings,
    connection: PostgresConnection,
}

impl PostgresSource {
    /// The source `settings` describe.
    pub fn new(settings: PostgresSettings) -> Self {
        Self {
            connection: PostgresConnection::new(&settings),
            settings,
        }
    }

    /// The arguments given to `pg_dump` (connection settings travel in the environment).
    pub(crate) fn dump_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--no-password",
            "--format=plain",
            "--clean",
            "--if-exists",
            "--quote-all-identifiers",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        for table in &self.settings.exclude_tables {
            args.push(format!("--exclude-table={table}"));
        }
        for table in &self.settings.exclude_table_data {
            args.push(format!("--exclude-table-data={table}"));
        }
        args.extend(self.settings.dump_options.iter().cloned());
        args
    }

    /// `pg_dumpall --globals-only`: roles and tablespaces. Role passwords are kept (a rebuilt
    /// server must let its users in); the backup is as secret as the databases' dumps.
    fn globals_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["--no-password", "--globals-only", "--quote-all-identifiers"]
            .into_iter()
            .map(String::from)
            .collect();
        args.extend(self.settings.dump_options.iter().cloned());
        args
    }

    fn pg_dumpall(&self) -> Result<PathBuf, SourceError> {
        find_companion(self.settings.dump_tool.as_deref(), "pg_dumpall").ok_or_else(|| {
            self.error("pg_dumpall not found beside pg_dump or on PATH: install the PostgreSQL client tools (e.g. postgresql-client)")
        })
    }

    fn pg_dump(&self) -> Result<PathBuf, SourceError> {
        find_tool(self.settings.dump_tool.as_deref(), &["pg_dump"]).map_err(|e| {
            SourceError::new(format!(
                "{e}: install the PostgreSQL client tools (e.g. postgresql-client) or set dump_tool_path"
            ))
        })
    }

    /// Runs one SQL statement with `psql` (unaligned, tuples only) and returns its output.
    fn query(&self, psql: &Path, sql: &str) -> Result<String, SourceError> {
        let mut cmd = self.connection.command(psql);
        cmd.args([
            "-X",
            "-At",
            "--no-password",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]);
        run_capture(&mut cmd, None).map_err(|e| self.error(e))
    }

    /// The server's version number (`SHOW server_version_num`, e.g. 150004), via `psql`.
    /// `None` when no `psql` is installed.
    fn server_version_num(&self) -> Result<Option<u32>, SourceError> {
        let Some(psql) = self.connection.psql() else {
            return Ok(None);
        };
        let out = self.query(&psql, "SHOW server_version_num")?;
        out.trim()
            .parse()
            .map(Some)
            .map_err(|_| self.error(format!("unexpected server_version_num {:?}", out.trim())))
    }

    /// Fails, with the fix, when `pg_dump` is older than the server (it would refuse anyway,
    /// with a less helpful message). Returns the tool's version and the server's version
    /// number (when `psql` could ask).
    fn check_versions(&self, tool: &Path) -> Result<(Option<String>, Option<u32>), SourceError> {
        let version = tool_version(tool);
        let Some(server) = self.server_version_num()? else {
            return Ok((version, None));
        };
        let server_major = if server >= 100_000 {
            server / 10_000
        } else {
            server / 100
        };
        if let Some(tool_major) = version.as_deref().and_then(pg_dump_major)
            && tool_major < server_major
        {
            return Err(self.error(format!(
                "{} is older than the PostgreSQL {server_major} server and cannot dump it: \
                 install the PostgreSQL {server_major} client tools (postgresql-client-{server_major}) \
                 or point dump_tool_path at a pg_dump of version {server_major} or newer",
                version.as_deref().unwrap_or("pg_dump"),
            )));
        }
        Ok((version, Some(server)))
    }
}

impl ToolSource for PostgresSource {
    const STARTING: &'static str = "starting pg_dump";

    fn source_label(&self) -> &str {
        &self.settings.label
    }

    fn provider_name(&self) -> &'static str {
        "postgres"
    }

    fn server(&self) -> &ServerSettings {
        &self.connection.server
    }

    fn database_name(&self) -> String {
        if self.settings.globals {
            backupman_core::GLOBALS_DATABASE.to_owned()
        } else {
            self.connection.server.database.clone()
        }
    }

    fn start_blocking(&self, cancel: CancellationToken) -> Result<Dump, SourceError> {
        if self.settings.globals {
            let tool = self.pg_dumpall()?;
            let version = tool_version(&tool);
            let mut cmd = self.connection.command(&tool);
            cmd.args(self.globals_args());
            return self.spawn_dump(cmd, version, cancel);
        }
        let tool = self.pg_dump()?;
        let (tool_version, server) = self.check_versions(&tool)?;
        let mut cmd = self.connection.command(&tool);
        if server.is_some_and(|v| v >= 140_000) {
            // A backend waiting on a lock does not notice that its client was killed (a
            // cancelled run) and would hold its place in the lock queue until it got the lock;
            // with this it checks the connection and ends. Older servers reject the setting.
            cmd.env(
                "PGOPTIONS",
                with_connection_check(env::var_os("PGOPTIONS").as_deref()),
            );
        }
        cmd.args(self.dump_args());
        tracing::debug!(source = %self.settings.label, tool = %tool.display(), args = ?self.dump_args(), "spawning pg_dump");
        self.spawn_dump(cmd, tool_version, cancel)
    }

    fn check_blocking(&self) -> Result<(), SourceError> {
        if self.settings.globals {
            // Reading pg_authid needs a superuser (or pg_read_all_data is not enough): the
            // real dump, to nowhere, is the check.
            let mut cmd = self.connection.command(&self.pg_dumpall()?);
            cmd.args(self.globals_args());
            cmd.arg("--file=/dev/null");
            run_capture(&mut cmd, None).map_err(|e| self.error(e))?;
            return Ok(());
        }
        let tool = self.pg_dump()?;
        self.check_versions(&tool)?;
        // Tables and sequences the user cannot read would make the real dump fail.
        if let Some(psql) = self.connection.psql() {
            let out = self.query(&psql, UNREADABLE)?;
            let unreadable: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
            if !unreadable.is_empty() {
                return Err(self.error(format!(
                    "user {} cannot read {} ({}): grant SELECT on them, or use a role such as pg_read_all_data",
                    self.server().user.as_deref().unwrap_or("(default)"),
                    if unreadable.len() == 1 { "this relation" } else { "these relations" },
                    unreadable.join(", ")
                )));
            }
        }
        // A schema-only dump exercises the connection, the catalog reads and the locks.
        let mut cmd = self.connection.command(&tool);
        cmd.args(["--no-password", "--schema-only", "--file=/dev/null"]);
        cmd.args(&self.settings.dump_options);
        run_capture(&mut cmd, None).map_err(|e| self.error(e))?;
        Ok(())
    }
}

/// `PGOPTIONS` for `pg_dump`: the caller's own, plus a check of the client connection every
/// second while a query runs (PostgreSQL 14+).
fn with_connection_check(existing: Option<&OsStr>) -> OsString {
    let mut options = existing.map(OsStr::to_owned).unwrap_or_default();
    if !options.is_empty() {
        options.push(" ");
    }
    options.push("-c client_connection_check_interval=1000");
    options
}

/// Relations in user schemas the current user may not SELECT from.
const UNREADABLE: &str = "SELECT format('%I.%I', n.nspname, c.relname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'm', 'S') \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
       AND NOT has_table_privilege(c.oid, 'SELECT') \
     ORDER BY 1";

/// `pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)` → 15; `pg_dump (PostgreSQL) 9.6.24` → 9.
fn pg_dump_major(version: &str) -> Option<u32> {
    let number = version
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let major: u32 = number
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(major)
}

impl_source!(PostgresSource);

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_core::Secret;

    fn settings() -> PostgresSettings {
        let mut server = ServerSettings::new("db.example", "app");
        server.port = 5433;
        server.user = Some("backup".into());
        server.password = Some(Secret::new("s3cret-pw"));
        server.tls = Some("require".into());
        let mut settings = PostgresSettings::new("app", server);
        settings.dump_options = vec!["--exclude-table=audit".into()];
        settings
    }

    #[test]
    fn password_travels_in_the_environment_only() {
        let source = PostgresSource::new(settings());
        let args = source.dump_args();
        assert!(args.iter().all(|a| !a.contains("s3cret-pw")), "{args:?}");
        assert!(args.contains(&"--clean".to_owned()));
        assert_eq!(args.last().unwrap(), "--exclude-table=audit");
        let cmd = source.connection.command(&PathBuf::from("pg_dump"));
        let envs: Vec<(String, String)> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        for (key, value) in [
            ("PGPASSWORD", "s3cret-pw"),
            ("PGHOST", "db.example"),
            ("PGPORT", "5433"),
            ("PGSSLMODE", "require"),
            ("PGDATABASE", "app"),
        ] {
            assert!(
                envs.contains(&(key.into(), value.into())),
                "{key} in {envs:?}"
            );
        }
        assert!(!format!("{source:?}").contains("s3cret-pw"));
    }

    #[test]
    fn the_connection_check_joins_the_callers_options() {
        assert_eq!(
            with_connection_check(None),
            "-c client_connection_check_interval=1000"
        );
        assert_eq!(
            with_connection_check(Some(OsStr::new("-c search_path=app"))),
            "-c search_path=app -c client_connection_check_interval=1000"
        );
    }

    #[test]
    fn majors_are_parsed() {
        assert_eq!(
            pg_dump_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 17devel"), Some(17));
        assert_eq!(pg_dump_major("nonsense"), None);
    }
}
