//! Where a backup is restored to: the source's own database, or what `restore --to` names
//! (a URL, a database name on the source's server, or an SQLite file path).

use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::{RestoreError, valid_db_name};
use crate::mysql::MysqlConnection;
use crate::postgres::PostgresConnection;
use crate::server::ServerSettings;
use crate::settings::DatabaseSettings;

/// Where a backup is restored to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreTarget {
    /// A PostgreSQL database.
    Postgres(PostgresConnection),
    /// A MySQL or MariaDB database.
    Mysql(MysqlConnection),
    /// An SQLite database file.
    Sqlite {
        /// The database file, replaced (or created) by the restore.
        path: PathBuf,
        /// Where the restored file is written and checked before it replaces `path`; `None`:
        /// beside `path`.
        staging_dir: Option<PathBuf>,
    },
}

impl fmt::Display for RestoreTarget {
    /// A URL without the password: `postgres://user@host:5432/db`, `sqlite:///path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(connection) => fmt::Display::fmt(connection, f),
            Self::Mysql(connection) => fmt::Display::fmt(connection, f),
            Self::Sqlite { path, .. } => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl RestoreTarget {
    /// The source's own database (restore in place).
    pub fn from_settings(settings: &DatabaseSettings) -> Self {
        match settings {
            DatabaseSettings::Postgres(s) => Self::Postgres(PostgresConnection::new(s)),
            DatabaseSettings::Mysql(s) => Self::Mysql(MysqlConnection::new(s)),
            DatabaseSettings::Sqlite(s) => Self::Sqlite {
                path: s.db_path.clone(),
                staging_dir: s.staging_dir.clone(),
            },
        }
    }

    /// Parses `restore --to`: a URL (`postgres://user:pw@host:port/db?sslmode=require`,
    /// `mysql://…`, `mariadb://…`, `sqlite:///path/to/file.db`), a plain database name on the
    /// source's server, or (SQLite sources) a file path. Parts a URL leaves out come from the
    /// source's `settings`; its password only when host and user are unchanged.
    pub fn parse(spec: &str, settings: &DatabaseSettings) -> Result<Self, RestoreError> {
        let invalid = |reason: String| RestoreError::InvalidTarget {
            spec: spec.to_owned(),
            reason,
        };
        let base = Self::from_settings(settings);
        // Only `scheme://` makes a URL: `data:x.db` is a file name, not a `data:` URL.
        let Some((scheme, path)) = spec.split_once("://") else {
            return match base {
                Self::Sqlite { .. } => Ok(base.with_database(spec)),
                _ if valid_db_name(spec) => Ok(base.with_database(spec)),
                _ => Err(invalid(
                    "expected a database name or a URL such as postgres://user@host:5432/db".into(),
                )),
            };
        };
        let wanted = match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => "postgres",
            "mysql" | "mariadb" => "mysql",
            "sqlite" => "sqlite",
            other => return Err(invalid(format!("unknown scheme {other}://"))),
        };
        if wanted != base.provider() {
            return Err(invalid(format!(
                "a {} backup cannot be restored into {wanted}",
                settings.provider()
            )));
        }
        let with_url = |server: ServerSettings| {
            let url = Url::parse(spec).map_err(|e| invalid(e.to_string()))?;
            let server = server.with_url(&url).map_err(|e| invalid(e.to_string()))?;
            if server.database.is_empty() {
                return Err(invalid("no database name".into()));
            }
            Ok(server)
        };
        Ok(match base {
            // A file path is taken as written: `?`, `#` and `%` are ordinary characters in it.
            Self::Sqlite { .. } => base.with_database(path),
            Self::Postgres(c) => Self::Postgres(PostgresConnection {
                server: with_url(c.server)?,
                ..c
            }),
            Self::Mysql(c) => Self::Mysql(MysqlConnection {
                server: with_url(c.server)?,
            }),
        })
    }

    /// `postgres`, `mysql` or `sqlite`.
    pub(crate) fn provider(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Mysql(_) => "mysql",
            Self::Sqlite { .. } => "sqlite",
        }
    }

    /// True when a failed restore applies nothing (PostgreSQL, SQLite); false for MySQL and
    /// MariaDB, whose DDL commits statement by statement.
    pub fn is_transactional(&self) -> bool {
        match self {
            // A server's globals are restored statement by statement (see the postgres module).
            Self::Postgres(c) => !c.globals,
            Self::Mysql(_) => false,
            Self::Sqlite { .. } => true,
        }
    }

    /// The same server with another database (or another SQLite file).
    pub(crate) fn with_database(&self, name: &str) -> Self {
        let mut target = self.clone();
        match &mut target {
            Self::Postgres(c) => c.server.database = name.to_owned(),
            Self::Mysql(c) => c.server.database = name.to_owned(),
            Self::Sqlite { path, .. } => *path = PathBuf::from(name),
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{MysqlFlavor, MysqlSettings, PostgresSettings, SqliteSettings};
    use backupman_core::Secret;

    fn server() -> ServerSettings {
        let mut server = ServerSettings::new("db.internal", "app");
        server.port = 5432;
        server.user = Some("backup".into());
        server.password = Some(Secret::new("source-pw"));
        server
    }

    fn postgres() -> DatabaseSettings {
        PostgresSettings::new("app", server()).into()
    }

    fn server_of(target: RestoreTarget) -> ServerSettings {
        match target {
            RestoreTarget::Postgres(c) => c.server,
            RestoreTarget::Mysql(c) => c.server,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn targets_parse_from_urls_and_names() {
        let pg = postgres();
        let t = server_of(RestoreTarget::parse("scratch_1", &pg).unwrap());
        assert_eq!(
            (t.database.as_str(), t.host.as_str()),
            ("scratch_1", "db.internal")
        );
        assert_eq!(t.password, Some(Secret::new("source-pw")));

        let t = server_of(
            RestoreTarget::parse(
                "postgresql://other:p%40ss@10.0.0.5:6543/copy?sslmode=require",
                &pg,
            )
            .unwrap(),
        );
        assert_eq!(t.user.as_deref(), Some("other"));
        assert_eq!(t.password, Some(Secret::new("p@ss")));
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("10.0.0.5", 6543, "copy")
        );
        assert_eq!(t.tls.as_deref(), Some("require"));

        // Another host without a password: the source's password is not sent there.
        let t = server_of(RestoreTarget::parse("postgres://elsewhere/copy", &pg).unwrap());
        assert_eq!(t.password, None);
        assert_eq!(t.user.as_deref(), Some("backup"));

        let t = server_of(RestoreTarget::parse("postgres://[::1]:6000/v6", &pg).unwrap());
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("::1", 6000, "v6")
        );
        let t = server_of(RestoreTarget::parse("postgres://[fe80::1]/v6", &pg).unwrap());
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", 5432));
        assert_eq!(
            RestoreTarget::Postgres(PostgresConnection {
                server: t,
                dump_tool: None,
                globals: false,
            })
            .to_string(),
            "postgres://backup@[fe80::1]:5432/v6"
        );
        assert!(RestoreTarget::parse("postgres://h:notaport/db", &pg).is_err());

        let err = RestoreTarget::parse("mysql://h/db", &pg).unwrap_err();
        assert!(
            err.to_string()
                .contains("a postgres backup cannot be restored into mysql"),
            "{err}"
        );
        assert!(RestoreTarget::parse("bad name; drop", &pg).is_err());

        let my = MysqlSettings::new("app", MysqlFlavor::Mariadb, server()).into();
        let target = RestoreTarget::parse("mariadb://root@127.0.0.1:3307/shop", &my).unwrap();
        assert_eq!(target.to_string(), "mysql://root@127.0.0.1:3307/shop");
        assert!(!target.is_transactional());
        let err = RestoreTarget::parse("postgres://h/db", &my).unwrap_err();
        assert!(
            err.to_string()
                .contains("a mariadb backup cannot be restored into postgres"),
            "{err}"
        );

        let mut lite = SqliteSettings::new("app", "/srv/app.db");
        let file = |path: &str, staging_dir: Option<&str>| RestoreTarget::Sqlite {
            path: path.into(),
            staging_dir: staging_dir.map(PathBuf::from),
        };
        let plain = lite.clone().into();
        assert_eq!(
            RestoreTarget::from_settings(&plain),
            file("/srv/app.db", None)
        );
        assert_eq!(
            RestoreTarget::parse("/tmp/copy.db", &plain).unwrap(),
            file("/tmp/copy.db", None)
        );
        lite.staging_dir = Some("/var/tmp/stage".into());
        let staged = lite.into();
        assert_eq!(
            RestoreTarget::parse("sqlite:///tmp/copy.db", &staged).unwrap(),
            file("/tmp/copy.db", Some("/var/tmp/stage"))
        );
        assert_eq!(
            RestoreTarget::from_settings(&staged),
            file("/srv/app.db", Some("/var/tmp/stage"))
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let target = RestoreTarget::from_settings(&postgres());
        assert!(!format!("{target:?}").contains("source-pw"));
        assert!(!target.to_string().contains("source-pw"));
    }
}
