//! MySQL and MariaDB: dumped with `mariadb-dump` / `mysqldump` ([`MysqlSource`]), restored
//! with the `mariadb` / `mysql` client; both reach the server through one
//! [`MysqlConnection`].
//!
//! Host, port, user and TLS go on the command line; the password travels in `MYSQL_PWD`,
//! never on the command line.

mod dump;
pub(crate) mod restore;

use std::fmt;
use std::path::Path;
use std::process::Command;

use crate::server::ServerSettings;
use crate::settings::MysqlSettings;

pub use dump::MysqlSource;

/// How the MySQL/MariaDB tools reach a database: server, user, password, database and TLS
/// mode. Its `Display` is a URL without the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConnection {
    pub(crate) server: ServerSettings,
}

impl MysqlConnection {
    /// The port when the settings give none.
    const DEFAULT_PORT: u16 = 3306;

    pub(crate) fn new(settings: &MysqlSettings) -> Self {
        Self {
            server: settings.server.clone(),
        }
    }

    /// `tool` with the connection options and the password; `mariadb` says whether it is one
    /// of MariaDB's tools ([`is_mariadb_tool`]), which spell the TLS options differently.
    pub(crate) fn command(&self, tool: &Path, mariadb: bool) -> Command {
        let s = &self.server;
        let mut cmd = Command::new(tool);
        if !s.host.is_empty() {
            cmd.arg(format!("--host={}", s.host));
        }
        cmd.arg(format!("--port={}", s.port_or(Self::DEFAULT_PORT)));
        if let Some(user) = &s.user {
            cmd.arg(format!("--user={user}"));
        }
        if let Some(mode) = &s.tls {
            cmd.args(tls_args(mode, mariadb));
        }
        if let Some(password) = &s.password {
            cmd.env("MYSQL_PWD", password.expose());
        }
        cmd
    }
}

impl fmt::Display for MysqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.server.fmt_url(f, "mysql", Self::DEFAULT_PORT)
    }
}

/// True for MariaDB's tools (`mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB`), which spell
/// the TLS options differently from MySQL's. An unknown version counts as MariaDB's.
pub(crate) fn is_mariadb_tool(version: Option<&str>) -> bool {
    version.is_none_or(|v| v.contains("MariaDB"))
}

/// `tls` (libpq-style modes) in the client's own words.
fn tls_args(mode: &str, mariadb: bool) -> &'static [&'static str] {
    if mariadb {
        match mode {
            "disable" => &["--skip-ssl"],
            "prefer" | "allow" => &[],
            "require" => &["--ssl"],
            _ => &["--ssl", "--ssl-verify-server-cert"],
        }
    } else {
        match mode {
            "disable" => &["--ssl-mode=DISABLED"],
            "prefer" | "allow" => &["--ssl-mode=PREFERRED"],
            "require" => &["--ssl-mode=REQUIRED"],
            "verify-ca" => &["--ssl-mode=VERIFY_CA"],
            _ => &["--ssl-mode=VERIFY_IDENTITY"],
        }
    }
}
