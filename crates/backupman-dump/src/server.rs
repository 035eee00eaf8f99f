//! [`ServerSettings`]: what every database server needs, whatever the engine: where it is, who
//! logs in, which database, and how TLS is used. Overridden by a `restore --to` URL in one
//! place; each engine hands them to its own tools in its own way (libpq's environment,
//! `mariadb` options).

use std::fmt;

use backupman_core::Secret;
use url::{Host, Url};

/// A database on a server, and how to log in to it. Built with [`ServerSettings::new`], then
/// adjusted through its public fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerSettings {
    /// Host name or IP address; empty leaves it to the client tools (a local socket).
    pub host: String,
    /// The port; 0 means the engine's default (5432, 3306).
    pub port: u16,
    /// The user to log in as; `None` leaves it to the client tools.
    pub user: Option<String>,
    /// The password; it reaches the tools through their environment, never their arguments.
    pub password: Option<Secret>,
    /// The database; empty leaves it to the client tools.
    pub database: String,
    /// TLS mode, as libpq names them: `disable`, `allow`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`; `None` leaves it to the client tools.
    pub tls: Option<String>,
}

impl ServerSettings {
    /// The database `database` on `host`, at the engine's default port, with no user,
    /// password or TLS mode of its own.
    pub fn new(host: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            database: database.into(),
            ..Self::default()
        }
    }

    /// The port to connect to: the one set, or `default` when none is.
    pub(crate) fn port_or(&self, default: u16) -> u16 {
        if self.port == 0 { default } else { self.port }
    }

    /// These settings with what `url` states replacing them. The password is kept only while
    /// host and user stay the same, so a source's password is never sent to another server.
    pub(crate) fn with_url(mut self, url: &Url) -> Result<Self, UrlError> {
        let host = match url.host() {
            None => String::new(),
            Some(Host::Domain(name)) => percent_decode(name)?,
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
        };
        let same_server = host.is_empty() || host == self.host;
        if !host.is_empty() {
            self.host = host;
        }
        if let Some(port) = url.port() {
            self.port = port;
        }
        let user = percent_decode(url.username())?;
        if !user.is_empty() && self.user.as_deref() != Some(user.as_str()) {
            self.user = Some(user);
            self.password = None;
        }
        let password = url.password().map(percent_decode).transpose()?;
        if password.is_none() && !same_server {
            self.password = None;
        }
        if let Some(password) = password {
            self.password = Some(Secret::new(password));
        }
        let database = url.path().strip_prefix('/').unwrap_or(url.path());
        if !database.is_empty() {
            self.database = percent_decode(database)?;
        }
        for (key, value) in url.query_pairs() {
            match &*key {
                "sslmode" | "tls" | "ssl-mode" => self.tls = Some(value.to_ascii_lowercase()),
                _ => return Err(UrlError::UnknownParameter(key.into_owned())),
            }
        }
        Ok(self)
    }

    /// `scheme://user@host:port/database`: a URL without the password, for messages.
    pub(crate) fn fmt_url(
        &self,
        f: &mut fmt::Formatter<'_>,
        scheme: &str,
        default_port: u16,
    ) -> fmt::Result {
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        let port = self.port_or(default_port);
        if self.host.contains(':') {
            write!(f, "[{}]:{port}/{}", self.host, self.database)
        } else {
            write!(f, "{}:{port}/{}", self.host, self.database)
        }
    }
}

/// Why a URL cannot name a server.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UrlError {
    /// A part's `%XX` escapes decode to bytes that are not UTF-8.
    #[error("{0:?} does not decode to UTF-8")]
    NotUtf8(String),
    /// A query parameter other than the TLS mode.
    #[error("unknown URL parameter {0:?}")]
    UnknownParameter(String),
}

/// `%XX` escapes of a URL part decoded. The `url` crate leaves user, password, opaque hosts
/// and paths encoded and offers no decoder of its own.
fn percent_decode(text: &str) -> Result<String, UrlError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| UrlError::NotUtf8(text.to_owned()))
}
