//! Where a backup is restored to: the source's own database, or what `restore --to` names
//! (a URL, a database name on the source's server, or an SQLite file path).

use std::fmt;
use std::path::PathBuf;

use backupman_config::{SourceConfig, SourceProvider};
use url::Url;

use super::{RestoreError, valid_db_name};
use crate::mysql::MysqlConnection;
use crate::postgres::PostgresConnection;
use crate::server::Server;

/// Where a backup is restored to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// A PostgreSQL database.
    Postgres(PostgresConnection),
    /// A MySQL or MariaDB database.
    Mysql(MysqlConnection),
    /// An SQLite database file.
    Sqlite(PathBuf),
}

impl fmt::Display for RestoreTarget {
    /// A URL without the password: `postgres://user@host:5432/db`, `sqlite:///path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(connection) => fmt::Display::fmt(connection, f),
            Self::Mysql(connection) => fmt::Display::fmt(connection, f),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl RestoreTarget {
    /// The source's own database (restore in place).
    pub fn from_source(cfg: &SourceConfig) -> Result<Self, RestoreError> {
        match cfg.provider {
            SourceProvider::Postgres => Ok(Self::Postgres(PostgresConnection::from_source(cfg))),
            SourceProvider::Mysql | SourceProvider::Mariadb => {
                Ok(Self::Mysql(MysqlConnection::from_source(cfg)))
            }
            SourceProvider::Sqlite => {
                cfg.db_path
                    .clone()
                    .map(Self::Sqlite)
                    .ok_or_else(|| RestoreError::InvalidTarget {
                        spec: cfg.label.clone(),
                        reason: "the source has no db_path".into(),
                    })
            }
        }
    }

    /// Parses `restore --to`: a URL (`postgres://user:pw@host:port/db?sslmode=require`,
    /// `mysql://…`, `mariadb://…`, `sqlite:///path/to/file.db`), a plain database name on the
    /// source's server, or (SQLite sources) a file path. Parts a URL leaves out come from the
    /// source; its password only when host and user are unchanged.
    pub fn parse(spec: &str, source: &SourceConfig) -> Result<Self, RestoreError> {
        let invalid = |reason: String| RestoreError::InvalidTarget {
            spec: spec.to_owned(),
            reason,
        };
        let base = Self::from_source(source)?;
        // Only `scheme://` makes a URL: `data:x.db` is a file name, not a `data:` URL.
        let Some((scheme, path)) = spec.split_once("://") else {
            return match base {
                Self::Sqlite(_) => Ok(Self::Sqlite(PathBuf::from(spec))),
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
                source.provider
            )));
        }
        let with_url = |server: Server| {
            let url = Url::parse(spec).map_err(|e| invalid(e.to_string()))?;
            let server = server.with_url(&url).map_err(&invalid)?;
            if server.database.is_empty() {
                return Err(invalid("no database name".into()));
            }
            Ok(server)
        };
        Ok(match base {
            // A file path is taken as written: `?`, `#` and `%` are ordinary characters in it.
            Self::Sqlite(_) => Self::Sqlite(PathBuf::from(path)),
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
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// True when a failed restore applies nothing (PostgreSQL, SQLite); false for MySQL and
    /// MariaDB, whose DDL commits statement by statement.
    pub fn is_transactional(&self) -> bool {
        !matches!(self, Self::Mysql(_))
    }

    /// The same server with another database (or another SQLite file).
    pub(crate) fn with_database(&self, name: &str) -> Self {
        let mut target = self.clone();
        match &mut target {
            Self::Postgres(c) => c.server.database = name.to_owned(),
            Self::Mysql(c) => c.server.database = name.to_owned(),
            Self::Sqlite(path) => *path = PathBuf::from(name),
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backupman_config::Secret;

    fn source(provider: SourceProvider) -> SourceConfig {
        SourceConfig {
            label: "app".into(),
            provider,
            host: "db.internal".into(),
            port: 5432,
            db_name: Some("app".into()),
            user: Some("backup".into()),
            password: Some(Secret::new("source-pw")),
            tls: None,
            db_path: Some("/srv/app.db".into()),
            dump_tool: None,
            dump_options: vec![],
            tmp_folder: None,
            hooks: Default::default(),
        }
    }

    fn server(target: RestoreTarget) -> Server {
        match target {
            RestoreTarget::Postgres(c) => c.server,
            RestoreTarget::Mysql(c) => c.server,
            RestoreTarget::Sqlite(p) => panic!("unexpected sqlite {p:?}"),
        }
    }

    #[test]
    fn targets_parse_from_urls_and_names() {
        let pg = source(SourceProvider::Postgres);
        let t = server(RestoreTarget::parse("scratch_1", &pg).unwrap());
        assert_eq!(
            (t.database.as_str(), t.host.as_str()),
            ("scratch_1", "db.internal")
        );
        assert_eq!(t.password, Some(Secret::new("source-pw")));

        let t = server(
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
        let t = server(RestoreTarget::parse("postgres://elsewhere/copy", &pg).unwrap());
        assert_eq!(t.password, None);
        assert_eq!(t.user.as_deref(), Some("backup"));

        let t = server(RestoreTarget::parse("postgres://[::1]:6000/v6", &pg).unwrap());
        assert_eq!(
            (t.host.as_str(), t.port, t.database.as_str()),
            ("::1", 6000, "v6")
        );
        let t = server(RestoreTarget::parse("postgres://[fe80::1]/v6", &pg).unwrap());
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", 5432));
        assert_eq!(
            RestoreTarget::Postgres(PostgresConnection {
                server: t,
                dump_tool: None
            })
            .to_string(),
            "postgres://backup@[fe80::1]:5432/v6"
        );
        assert!(RestoreTarget::parse("postgres://h:notaport/db", &pg).is_err());

        assert!(RestoreTarget::parse("mysql://h/db", &pg).is_err());
        assert!(RestoreTarget::parse("bad name; drop", &pg).is_err());

        let my = source(SourceProvider::Mariadb);
        let target = RestoreTarget::parse("mariadb://root@127.0.0.1:3307/shop", &my).unwrap();
        assert_eq!(target.to_string(), "mysql://root@127.0.0.1:3307/shop");
        assert!(!target.is_transactional());

        let lite = source(SourceProvider::Sqlite);
        assert_eq!(
            RestoreTarget::parse("/tmp/copy.db", &lite).unwrap(),
            RestoreTarget::Sqlite("/tmp/copy.db".into())
        );
        assert_eq!(
            RestoreTarget::parse("sqlite:///tmp/copy.db", &lite).unwrap(),
            RestoreTarget::Sqlite("/tmp/copy.db".into())
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let target = RestoreTarget::from_source(&source(SourceProvider::Postgres)).unwrap();
        assert!(!format!("{target:?}").contains("source-pw"));
        assert!(!target.to_string().contains("source-pw"));
    }
}
