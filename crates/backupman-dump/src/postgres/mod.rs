//! PostgreSQL: dumped with `pg_dump` ([`PostgresSource`]), restored with `psql`; both reach
//! the server through one [`PostgresConnection`].
//!
//! Connection settings go to the tools through libpq's environment (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`), so the password never appears on a
//! command line and a database name is never parsed as an option or connection string.

mod dump;
pub(crate) mod restore;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::find_companion;
use crate::server::ServerSettings;
use crate::settings::PostgresSettings;

pub use dump::PostgresSource;

/// How the PostgreSQL tools reach a database: server, user, password, database and TLS mode,
/// plus where the configured tools live. Its `Display` is a URL without the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConnection {
    pub(crate) server: ServerSettings,
    /// The configured `pg_dump`: its folder is searched first for `psql`, so both come from
    /// the same installation.
    pub(crate) dump_tool: Option<PathBuf>,
    /// The target holds a server's roles and tablespaces (the globals of a whole-server
    /// source), not a database's objects.
    pub(crate) globals: bool,
}

impl PostgresConnection {
    /// The port when the settings give none.
    const DEFAULT_PORT: u16 = 5432;

    pub(crate) fn new(settings: &PostgresSettings) -> Self {
        Self {
            server: settings.server.clone(),
            dump_tool: settings.dump_tool.clone(),
            globals: settings.globals,
        }
    }

    /// `psql`, beside the configured `pg_dump` or on `PATH`.
    pub(crate) fn psql(&self) -> Option<PathBuf> {
        find_companion(self.dump_tool.as_deref(), "psql")
    }

    /// `tool` connected to the configured database.
    pub(crate) fn command(&self, tool: &Path) -> Command {
        self.command_in(tool, &self.server.database)
    }

    /// `tool` connected to `database` on the same server.
    pub(crate) fn command_in(&self, tool: &Path, database: &str) -> Command {
        let s = &self.server;
        let mut cmd = Command::new(tool);
        if !s.host.is_empty() {
            cmd.env("PGHOST", &s.host);
        }
        cmd.env("PGPORT", s.port_or(Self::DEFAULT_PORT).to_string());
        if let Some(user) = &s.user {
            cmd.env("PGUSER", user);
        }
        if let Some(password) = &s.password {
            cmd.env("PGPASSWORD", password.expose());
        }
        // libpq reads an empty PGDATABASE as unset, so leaving it out changes nothing.
        if !database.is_empty() {
            cmd.env("PGDATABASE", database);
        }
        if let Some(mode) = &s.tls {
            cmd.env("PGSSLMODE", mode);
        }
        cmd
    }
}

impl fmt::Display for PostgresConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.server.fmt_url(f, "postgres", Self::DEFAULT_PORT)
    }
}
