//! MySQL and MariaDB: `mariadb-dump` (or `mysqldump`) streamed from its stdout.
//!
//! The dump is one consistent snapshot (`--single-transaction`, for InnoDB tables) with
//! routines, triggers and events, binary columns as hex (`--hex-blob`, so the file is plain
//! text whatever the data) and without `CREATE DATABASE`/`USE`, so it restores into a
//! database of any name. `mariadb-dump` writes `DROP TABLE IF EXISTS` before each table, so
//! the same file also restores over an existing copy (`restore --force`).
//!
//! The password travels in `MYSQL_PWD`, never on the command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use backupman_config::{SourceConfig, SourceProvider};
use backupman_core::{CancellationToken, Dump, Source, SourceError};

use crate::process::{find_tool, run_capture, tool_version};
use crate::tool_source::{ToolSource, impl_source};

/// Dump tools tried, in order, when `dump_tool_path` is not set.
pub const DUMP_TOOLS: &[&str] = &["mariadb-dump", "mysqldump"];

/// A MySQL or MariaDB database dumped with `mariadb-dump` / `mysqldump`.
#[derive(Debug, Clone)]
pub struct MysqlSource {
    cfg: SourceConfig,
}

impl MysqlSource {
    pub fn new(cfg: &SourceConfig) -> Self {
        Self { cfg: cfg.clone() }
    }

    fn tool(&self) -> Result<PathBuf, SourceError> {
        find_tool(self.cfg.dump_tool.as_deref(), DUMP_TOOLS).map_err(|e| {
            SourceError::new(format!(
                "source {:?}: {e}: install the MariaDB or MySQL client (e.g. mariadb-client) or set dump_tool_path",
                self.cfg.label
            ))
        })
    }

    /// The arguments given to the dump tool (the password is not among them).
    pub fn dump_args(&self, tool_version: Option<&str>) -> Vec<String> {
        let mut args = connection_args(
            &self.cfg.host,
            self.cfg.port,
            self.cfg.user.as_deref(),
            self.cfg.tls.as_deref(),
            is_mariadb_tool(tool_version),
        );
        args.extend(
            [
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--no-tablespaces",
                "--default-character-set=utf8mb4",
            ]
            .map(String::from),
        );
        args.extend(self.cfg.dump_options.iter().cloned());
        args.push(self.database());
        args
    }

    fn command(&self, tool: &Path, args: Vec<String>) -> Command {
        let mut cmd = Command::new(tool);
        cmd.args(args);
        if let Some(password) = &self.cfg.password {
            cmd.env("MYSQL_PWD", password.expose());
        }
        cmd
    }
}

impl ToolSource for MysqlSource {
    const STARTING: &'static str = "starting the dump";

    fn cfg(&self) -> &SourceConfig {
        &self.cfg
    }

    fn start_blocking(&self, cancel: CancellationToken) -> Result<Dump, SourceError> {
        let tool = self.tool()?;
        let version = tool_version(&tool);
        let args = self.dump_args(version.as_deref());
        tracing::debug!(source = %self.cfg.label, tool = %tool.display(), ?args, "spawning dump tool");
        let cmd = self.command(&tool, args);
        self.spawn_dump(cmd, version, cancel)
    }

    fn check_blocking(&self) -> Result<(), SourceError> {
        let tool = self.tool()?;
        let version = tool_version(&tool);
        // Everything but the rows: connects, and needs the privileges for SHOW CREATE on
        // tables, views, routines, triggers and events.
        let mut args = self.dump_args(version.as_deref());
        let db = args.pop().unwrap_or_default();
        args.push("--no-data".into());
        args.push("--result-file=/dev/null".into());
        args.push(db);
        let mut cmd = self.command(&tool, args);
        run_capture(&mut cmd, None).map_err(|e| self.error(e))?;
        Ok(())
    }
}

/// True for MariaDB's tools (`mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB`), which spell
/// the TLS options differently from MySQL's.
pub(crate) fn is_mariadb_tool(version: Option<&str>) -> bool {
    version.is_none_or(|v| v.contains("MariaDB"))
}

/// Host, port, user and TLS options shared by the dump tool and the `mariadb`/`mysql` client.
pub(crate) fn connection_args(
    host: &str,
    port: u16,
    user: Option<&str>,
    tls: Option<&str>,
    mariadb: bool,
) -> Vec<String> {
    let mut args = Vec::new();
    if !host.is_empty() {
        args.push(format!("--host={host}"));
    }
    let port = if port == 0 {
        SourceProvider::Mysql.default_port().unwrap_or(3306)
    } else {
        port
    };
    args.push(format!("--port={port}"));
    if let Some(user) = user {
        args.push(format!("--user={user}"));
    }
    if let Some(mode) = tls {
        args.extend(tls_args(mode, mariadb));
    }
    args
}

/// `tls` (libpq-style modes) in the client's own words.
fn tls_args(mode: &str, mariadb: bool) -> Vec<String> {
    let mariadb_args: &[&str] = match mode {
        "disable" => &["--skip-ssl"],
        "prefer" | "allow" => &[],
        "require" => &["--ssl"],
        _ => &["--ssl", "--ssl-verify-server-cert"],
    };
    let mysql_args: &[&str] = match mode {
        "disable" => &["--ssl-mode=DISABLED"],
        "prefer" | "allow" => &["--ssl-mode=PREFERRED"],
        "require" => &["--ssl-mode=REQUIRED"],
        "verify-ca" => &["--ssl-mode=VERIFY_CA"],
        _ => &["--ssl-mode=VERIFY_IDENTITY"],
    };
    let chosen = if mariadb { mariadb_args } else { mysql_args };
    chosen.iter().map(|s| (*s).to_owned()).collect()
}

impl_source!(MysqlSource);

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_config::Secret;

    fn cfg(tls: Option<&str>) -> SourceConfig {
        SourceConfig {
            label: "shop".into(),
            provider: SourceProvider::Mariadb,
            host: "127.0.0.1".into(),
            port: 0,
            db_name: Some("shop".into()),
            user: Some("backup".into()),
            password: Some(Secret::new("pw-on-env-only")),
            tls: tls.map(String::from),
            db_path: None,
            dump_tool: None,
            dump_options: vec!["--skip-extended-insert".into()],
        }
    }

    #[test]
    fn arguments_carry_no_password_and_default_port() {
        let source = MysqlSource::new(&cfg(None));
        let args = source.dump_args(Some("mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB"));
        assert!(args.iter().all(|a| !a.contains("pw-on-env-only")));
        assert!(args.contains(&"--port=3306".to_owned()));
        assert!(args.contains(&"--single-transaction".to_owned()));
        assert_eq!(&args[args.len() - 2..], ["--skip-extended-insert", "shop"]);
        let cmd = source.command(Path::new("mariadb-dump"), args);
        assert!(
            cmd.get_envs()
                .any(|(k, v)| k == "MYSQL_PWD" && v == Some("pw-on-env-only".as_ref()))
        );
    }

    #[test]
    fn tls_modes_follow_the_tool() {
        let maria = MysqlSource::new(&cfg(Some("require"))).dump_args(Some("MariaDB"));
        assert!(maria.contains(&"--ssl".to_owned()));
        let mysql = MysqlSource::new(&cfg(Some("verify-full"))).dump_args(Some(
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
        ));
        assert!(mysql.contains(&"--ssl-mode=VERIFY_IDENTITY".to_owned()));
    }
}
