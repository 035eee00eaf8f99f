//! The run's mail (`notifiers.mail`) over SMTP with `lettre`: plain, STARTTLS or implicit TLS.
//! Certificates are always verified, against the system's roots and, when `smtp_ca_file` is
//! given, that CA too. The login is only ever sent over TLS (as the original does: in plain
//! mode it does not log in). The same connection and login, without a message, is the
//! `health` check.

use std::path::{Path, PathBuf};
use std::time::Duration;

use backupman_config::{MailConfig, SmtpCrypto};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::digest::Digest;
use super::retry::{self, Failure, chain};
use super::{Notifier, NotifyWarning, mail_body};

/// How long one SMTP conversation may wait for the server at each step.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Why the mail could not be prepared or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// `smtp_ca_file` cannot be read.
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `smtp_ca_file` holds no usable PEM certificate.
    #[error("the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    CaCertificate {
        /// The file.
        path: PathBuf,
    },
    /// `from` or a destination is not an address the mail can carry.
    #[error("invalid address {address:?}: {message}")]
    Address {
        /// The address as configured.
        address: String,
        /// Why it is refused.
        message: String,
    },
    /// TLS could not be set up or the server's certificate was refused.
    #[error("TLS with {server}: {message}")]
    Tls {
        /// `host:port`.
        server: String,
        /// What failed, e.g. an unknown issuer.
        message: String,
    },
    /// `smtp_crypto` does not fit what the server's port speaks: implicit TLS on a port that
    /// starts in plain text, or STARTTLS where the server offers none.
    #[error("TLS with {server}: {message} (hint: {hint})")]
    WrongCrypto {
        /// `host:port`.
        server: String,
        /// What failed.
        message: String,
        /// The other mode, and the ports it usually has.
        hint: &'static str,
    },
    /// The server could not be reached or dropped the connection.
    #[error("cannot talk to {server}: {message}")]
    Connection {
        /// `host:port`.
        server: String,
        /// What failed.
        message: String,
    },
    /// The server refused the login.
    #[error("{server} refused the login: {message}")]
    Login {
        /// `host:port`.
        server: String,
        /// The server's answer.
        message: String,
    },
    /// The server refused the message or a recipient.
    #[error("{server} refused the mail: {message}")]
    Refused {
        /// `host:port`.
        server: String,
        /// The server's answer.
        message: String,
        /// A temporary refusal (4xx): another attempt may pass.
        temporary: bool,
    },
}

impl MailError {
    /// Another attempt may succeed.
    fn retryable(&self) -> bool {
        match self {
            MailError::Connection { .. } => true,
            MailError::Refused { temporary, .. } => *temporary,
            _ => false,
        }
    }

    fn from_smtp(config: &MailConfig, err: &lettre::transport::smtp::Error) -> Self {
        let server = server(config);
        let message = chain(err);
        let login = err
            .status()
            .is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538));
        if let Some(hint) = wrong_crypto(config.smtp_crypto, err) {
            MailError::WrongCrypto {
                server,
                message,
                hint,
            }
        } else if let Some(message) = tls_failure(err) {
            MailError::Tls { server, message }
        } else if err.is_tls() {
            MailError::Tls { server, message }
        } else if login {
            MailError::Login { server, message }
        } else if err.is_transient() || err.is_permanent() {
            MailError::Refused {
                server,
                message,
                temporary: err.is_transient(),
            }
        } else {
            MailError::Connection { server, message }
        }
    }
}

/// The hint for a failure that says `crypto` is not what the port speaks.
fn wrong_crypto(crypto: SmtpCrypto, err: &lettre::transport::smtp::Error) -> Option<&'static str> {
    match crypto {
        // A TLS client reading the server's plain `220` greeting as a TLS record.
        SmtpCrypto::ImplicitTls
            if rustls_error(err).is_some_and(|e| {
                matches!(
                    e,
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                )
            }) =>
        {
            Some(
                "`smtp_crypto: ssl` is TLS from the first byte (SMTPS, usually port 465), but this \
                 port starts in plain text: use `smtp_crypto: tls` (STARTTLS, usually port 587), \
                 or port 465",
            )
        }
        // The only client-side failure of connecting: the server's EHLO offers no STARTTLS.
        SmtpCrypto::StartTls if err.is_client() => Some(
            "`smtp_crypto: tls` upgrades a plain connection with STARTTLS (usually port 587), and \
             this server does not offer it: on an implicit-TLS port (usually 465) use \
             `smtp_crypto: ssl`; on port 587 check the server enables STARTTLS",
        ),
        _ => None,
    }
}

/// The rustls error under `err`, if any: lettre reports TLS failures as connection errors,
/// with rustls's error inside an `io::Error`.
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
        }
        current = e.source();
    }
    None
}

/// The TLS error under `err`, said plainly, if the failure was TLS's. lettre reports a refused
/// certificate as a connection error, with rustls's error inside an `io::Error`.
fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    rustls_error(err).map(|tls| match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            format!(
                "{tls} (the server's certificate is not signed by a CA this machine \
                 trusts: for a private CA, name it in smtp_ca_file)"
            )
        }
        _ => tls.to_string(),
    })
}

/// `host:port`, as messages name the server.
fn server(config: &MailConfig) -> String {
    format!("{}:{}", config.smtp_host, config.smtp_port)
}

/// The transport `config` describes. Nothing is connected yet.
fn transport(config: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
            .port(config.smtp_port)
            .timeout(Some(TIMEOUT));
    if config.smtp_crypto == SmtpCrypto::Plain {
        return Ok(builder.build());
    }
    let mut tls = TlsParameters::builder(config.smtp_host.clone());
    if let Some(path) = &config.smtp_ca_file {
        tls = tls.add_root_certificate(ca_certificate(path)?);
    }
    let tls = tls.build_rustls().map_err(|err| MailError::Tls {
        server: server(config),
        message: chain(&err),
    })?;
    builder = builder.tls(match config.smtp_crypto {
        SmtpCrypto::StartTls => Tls::Required(tls),
        _ => Tls::Wrapper(tls),
    });
    if let Some(user) = &config.smtp_user {
        let password = config
            .smtp_password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

fn ca_certificate(path: &Path) -> Result<Certificate, MailError> {
    let pem = std::fs::read(path).map_err(|source| MailError::CaFile {
        path: path.to_owned(),
        source,
    })?;
    let found = String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----");
    match Certificate::from_pem(&pem) {
        Ok(cert) if found => Ok(cert),
        _ => Err(MailError::CaCertificate {
            path: path.to_owned(),
        }),
    }
}

fn mailbox(address: &str, name: Option<&str>) -> Result<Mailbox, MailError> {
    let invalid = |err: &dyn std::error::Error| MailError::Address {
        address: address.to_owned(),
        message: err.to_string(),
    };
    match name {
        Some(name) => Ok(Mailbox::new(
            Some(name.to_owned()),
            address.parse().map_err(|e| invalid(&e))?,
        )),
        // `from` may be written `Name <address>` as well as a bare address.
        None => address.parse().map_err(|e| invalid(&e)),
    }
}

/// The run's mail: to every destination, text and HTML parts.
pub(crate) fn message(config: &MailConfig, digest: &Digest) -> Result<Message, MailError> {
    let mut builder = Message::builder()
        .from(mailbox(&config.from, None)?)
        .subject(digest.subject());
    for d in &config.destinations {
        builder = builder.to(mailbox(&d.email, d.name.as_deref())?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail_body::text(digest),
            mail_body::html(digest),
        ))
        .map_err(|err| MailError::Address {
            address: config.from.clone(),
            message: err.to_string(),
        })
}

/// Sends the run's mail, retrying briefly; what could not be sent is the warning.
pub(crate) async fn notify(config: &MailConfig, digest: &Digest) -> Option<NotifyWarning> {
    let target = server(config);
    let warning = |attempts, error: String| NotifyWarning {
        notifier: Notifier::Mail,
        target: target.clone(),
        attempts,
        error,
        undelivered: 1,
    };
    let prepared = message(config, digest).and_then(|m| Ok((m, transport(config)?)));
    let (message, transport) = match prepared {
        Ok(ready) => ready,
        Err(err) => return Some(warning(0, err.to_string())),
    };
    let what = format!("mail via {target}");
    let sent = retry::deliver(&what, || async {
        transport
            .send(message.clone())
            .await
            .map(drop)
            .map_err(|err| {
                let err = MailError::from_smtp(config, &err);
                Failure {
                    retry: err.retryable(),
                    message: err.to_string(),
                }
            })
    })
    .await;
    match sent {
        Ok(()) => {
            tracing::info!("{what}: sent to {} recipient(s)", config.destinations.len());
            None
        }
        Err(failed) => Some(warning(failed.attempts, failed.message)),
    }
}

/// Connects, secures the connection and logs in as a send would, without sending anything.
pub(crate) async fn check(config: &MailConfig) -> Result<(), MailError> {
    let transport = transport(config)?;
    let target = server(config);
    match transport.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(MailError::Connection {
            server: target,
            message: "the server did not answer NOOP".into(),
        }),
        Err(err) => Err(MailError::from_smtp(config, &err)),
    }
}

#[cfg(test)]
mod tests {
    use backupman_config::{MailDestination, Secret};

    use super::*;
    use crate::notify::digest::tests::sample;

    fn config() -> MailConfig {
        MailConfig {
            smtp_host: "smtp.example.com".into(),
            smtp_port: 587,
            smtp_user: Some("mailer".into()),
            smtp_password: Some(Secret::new("pa55-w0rd")),
            smtp_crypto: SmtpCrypto::StartTls,
            smtp_ca_file: None,
            from: "Backups <backups@example.com>".into(),
            destinations: vec![
                MailDestination {
                    name: Some("Ops".into()),
                    email: "ops@example.com".into(),
                },
                MailDestination {
                    name: None,
                    email: "oncall@example.org".into(),
                },
            ],
        }
    }

    #[test]
    fn one_message_to_every_destination_with_text_and_html() {
        let message = message(&config(), &sample()).unwrap();
        let to: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(to, ["ops@example.com", "oncall@example.org"]);
        assert_eq!(
            message.envelope().from().map(|a| a.to_string()).as_deref(),
            Some("backups@example.com")
        );
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("To: Ops <ops@example.com>, oncall@example.org\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Subject: Backup Report: 1 of 2 backups FAILED on db1\r\n"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        assert!(!raw.contains("pa55-w0rd"));
    }

    #[test]
    fn a_bad_address_or_ca_file_is_a_clear_error() {
        let mut cfg = config();
        cfg.destinations[1].email = "not an address".into();
        let err = message(&cfg, &sample()).unwrap_err();
        assert!(
            matches!(&err, MailError::Address { address, .. } if address == "not an address"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config();
        cfg.smtp_ca_file = Some(dir.path().join("missing.pem"));
        assert!(matches!(transport(&cfg), Err(MailError::CaFile { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        cfg.smtp_ca_file = Some(empty);
        assert!(matches!(
            transport(&cfg),
            Err(MailError::CaCertificate { .. })
        ));
    }
}
