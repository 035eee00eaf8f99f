//! The MySQL/MariaDB source: `mariadb-dump` (or `mysqldump`) streamed from its stdout.
//!
//! The dump is one consistent snapshot (`--single-transaction`, for InnoDB tables) with
//! routines, triggers and events, binary columns as hex (`--hex-blob`, so the file is plain
//! text whatever the data) and without `CREATE DATABASE`/`USE`, so it restores into a
//! database of any name. `mariadb-dump` writes `DROP TABLE IF EXISTS` before each table, so
//! the same file also restores over an existing copy (`restore --force`).

use std::path::{Path, PathBuf};
use std::process::Command;

use backupman_core::{CancellationToken, Dump, SourceError};

use super::{MysqlConnection, is_mariadb_tool};
use crate::process::{find_tool, run_capture, tool_version};
use crate::server::ServerSettings;
use crate::settings::MysqlSettings;
use crate::tool_source::{ToolSource, impl_source};

/// Dump tools tried, in order, when `dump_tool_path` is not set.
const DUMP_TOOLS: &[&str] = &["mariadb-dump", "mysqldump"];

/// A MySQL or MariaDB database dumped with `mariadb-dump` / `mysqldump`.
#[derive(Debug, Clone)]
pub struct MysqlSource {
    settings: MysqlSettings,
    connection: MysqlConnection,
}

impl MysqlSource {
    /// The source `settings` describe.
    pub fn new(settings: MysqlSettings) -> Self {
        Self {
            connection: MysqlConnection::new(&settings),
            settings,
        }
    }

    fn tool(&self) -> Result<PathBuf, SourceError> {
        find_tool(self.settings.dump_tool.as_deref(), DUMP_TOOLS).map_err(|e| {
            SourceError::new(format!(
                "source {:?}: {e}: install the MariaDB or MySQL client (e.g. mariadb-client) or set dump_tool_path",
                self.settings.label
            ))
        })
    }

    /// The dump tool's command (the password travels in the environment): the connection,
    /// the dump's options, the configured ones, then `extra`, then the database.
    fn dump_command(&self, tool: &Path, tool_version: Option<&str>, extra: &[&str]) -> Command {
        let mariadb = is_mariadb_tool(tool_version);
        let mut cmd = self.connection.command(tool, mariadb);
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
        ]);
        let database = &self.connection.server.database;
        for table in &self.settings.exclude_tables {
            cmd.arg(format!("--ignore-table={database}.{table}"));
        }
        for table in &self.settings.exclude_table_data {
            cmd.arg(format!("--ignore-table-data={database}.{table}"));
        }
        cmd.args(&self.settings.dump_options);
        cmd.args(extra);
        cmd.arg(database);
        cmd
    }

    /// MySQL's `mysqldump` has no `--ignore-table-data`: refused before it would be run.
    fn can_exclude_data(&self, tool_version: Option<&str>) -> Result<(), SourceError> {
        if self.settings.exclude_table_data.is_empty() || is_mariadb_tool(tool_version) {
            return Ok(());
        }
        Err(self.error(format!(
            "exclude_table_data needs mariadb-dump ({} has no --ignore-table-data): install mariadb-client and point dump_tool_path at mariadb-dump, or use exclude_tables",
            tool_version.unwrap_or("this dump tool")
        )))
    }
}

impl ToolSource for MysqlSource {
    const STARTING: &'static str = "starting the dump";

    fn source_label(&self) -> &str {
        &self.settings.label
    }

    fn provider_name(&self) -> &'static str {
        self.settings.flavor.as_str()
    }

    fn server(&self) -> &ServerSettings {
        &self.connection.server
    }

    fn start_blocking(&self, cancel: CancellationToken) -> Result<Dump, SourceError> {
        let tool = self.tool()?;
        let version = tool_version(&tool);
        self.can_exclude_data(version.as_deref())?;
        let cmd = self.dump_command(&tool, version.as_deref(), &[]);
        tracing::debug!(source = %self.settings.label, tool = %tool.display(), args = ?cmd.get_args().collect::<Vec<_>>(), "spawning dump tool");
        self.spawn_dump(cmd, version, cancel)
    }

    fn check_blocking(&self) -> Result<(), SourceError> {
        let tool = self.tool()?;
        let version = tool_version(&tool);
        self.can_exclude_data(version.as_deref())?;
        // Everything but the rows: connects, and needs the privileges for SHOW CREATE on
        // tables, views, routines, triggers and events.
        let extra = ["--no-data", "--result-file=/dev/null"];
        let mut cmd = self.dump_command(&tool, version.as_deref(), &extra);
        run_capture(&mut cmd, None).map_err(|e| self.error(e))?;
        Ok(())
    }
}

impl_source!(MysqlSource);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::MysqlFlavor;
    use backupman_core::Secret;

    fn settings(tls: Option<&str>) -> MysqlSettings {
        let mut server = ServerSettings::new("127.0.0.1", "shop");
        server.user = Some("backup".into());
        server.password = Some(Secret::new("pw-on-env-only"));
        server.tls = tls.map(String::from);
        let mut settings = MysqlSettings::new("shop", MysqlFlavor::Mariadb, server);
        settings.dump_options = vec!["--skip-extended-insert".into()];
        settings
    }

    /// The arguments of the dump command, and its `MYSQL_PWD`.
    fn dump_args(source: &MysqlSource, tool_version: &str) -> (Vec<String>, Option<String>) {
        let cmd = source.dump_command(Path::new("mariadb-dump"), Some(tool_version), &[]);
        let args = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let password = cmd
            .get_envs()
            .find(|(k, _)| *k == "MYSQL_PWD")
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned());
        (args, password)
    }

    #[test]
    fn arguments_carry_no_password_and_default_port() {
        let source = MysqlSource::new(settings(None));
        let (args, password) =
            dump_args(&source, "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB");
        assert!(args.iter().all(|a| !a.contains("pw-on-env-only")));
        assert!(args.contains(&"--port=3306".to_owned()));
        assert!(args.contains(&"--single-transaction".to_owned()));
        assert_eq!(&args[args.len() - 2..], ["--skip-extended-insert", "shop"]);
        assert_eq!(password.as_deref(), Some("pw-on-env-only"));
    }

    #[test]
    fn tls_modes_follow_the_tool() {
        let (maria, _) = dump_args(&MysqlSource::new(settings(Some("require"))), "MariaDB");
        assert!(maria.contains(&"--ssl".to_owned()));
        let (mysql, _) = dump_args(
            &MysqlSource::new(settings(Some("verify-full"))),
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
        );
        assert!(mysql.contains(&"--ssl-mode=VERIFY_IDENTITY".to_owned()));
    }
}
