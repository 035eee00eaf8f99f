//! A real SMTP server (aiosmtpd) on a free `127.0.0.1` port, in plain, STARTTLS or
//! implicit-TLS mode, for the mail notifier's tests.
//!
//! The TLS modes present a certificate for `localhost` and `127.0.0.1` issued by a CA made
//! for that server alone ([`SmtpServer::ca_file`]), so a client verifies it only when told to
//! trust that CA; they also require `AUTH` with [`SmtpServer::user`] and
//! [`SmtpServer::password`] (aiosmtpd offers `LOGIN` and `PLAIN`). Each message the server
//! accepts is written to its folder as JSON, parsed by Python's `email` package, and read
//! back with [`SmtpServer::messages`] or [`SmtpServer::wait_for`]. Dropping the server stops
//! it and removes its folder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::s3::bin_from_env;
use crate::tls::certificates;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT: &str = include_str!("smtp_server.py");

/// How the server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// No TLS at all, no `AUTH` (the original backupman's `smtp_crypto: ""`).
    Plain,
    /// Plain connection upgraded with `STARTTLS`, which the server requires (`tls`).
    StartTls,
    /// TLS from the first byte, as on port 465 (`ssl`).
    ImplicitTls,
}

impl SmtpMode {
    /// The value of the original's `smtp_crypto` for this mode.
    pub fn smtp_crypto(self) -> &'static str {
        match self {
            SmtpMode::Plain => "",
            SmtpMode::StartTls => "tls",
            SmtpMode::ImplicitTls => "ssl",
        }
    }
}

/// One message as the server received it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// The envelope's sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope's recipients (`RCPT TO`), in order.
    pub rcpt_tos: Vec<String>,
    /// The user name the client logged in with, if it did.
    pub login: Option<String>,
    /// The message came over TLS.
    pub tls: bool,
    /// The `From` header, decoded.
    pub from: String,
    /// The `To` header, decoded.
    pub to: String,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The top-level content type (`multipart/alternative` for text and HTML parts).
    pub content_type: String,
    /// The `text/plain` part, decoded.
    pub text: Option<String>,
    /// The `text/html` part, decoded.
    pub html: Option<String>,
    /// The message as it came over the wire.
    pub raw: String,
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub struct SmtpOptions {
    /// Plain, STARTTLS or implicit TLS.
    pub mode: SmtpMode,
    /// Require `AUTH` (always over TLS in the TLS modes).
    pub login: bool,
    /// Answer every message with `451` (a temporary failure) instead of accepting it.
    pub reject: bool,
}

/// A running SMTP server; dropping it stops the process and removes its files.
#[derive(Debug)]
pub struct SmtpServer {
    /// Plain, STARTTLS or implicit TLS.
    pub mode: SmtpMode,
    /// Its loopback port.
    pub port: u16,
    /// The user name it accepts, when it requires `AUTH`.
    pub user: Option<String>,
    /// The password it accepts, when it requires `AUTH`.
    pub password: Option<String>,
    ca_file: Option<PathBuf>,
    child: Child,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// A server in `mode` that accepts every message; the TLS modes require `AUTH`, the plain
    /// mode does not (as the original backupman logs in only over TLS).
    pub fn start(mode: SmtpMode) -> Self {
        Self::with(SmtpOptions {
            mode,
            login: mode != SmtpMode::Plain,
            reject: false,
        })
    }

    /// A server started with `options`.
    pub fn with(options: SmtpOptions) -> Self {
        let python = bin_from_env("BACKUPMAN_SMTPD_PYTHON");
        let dir = tempfile::tempdir().expect("cannot create a temp folder");
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SCRIPT).expect("write the SMTP server script");
        let mode = match options.mode {
            SmtpMode::Plain => "plain",
            SmtpMode::StartTls => "starttls",
            SmtpMode::ImplicitTls => "implicit",
        };
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg(mode).arg(dir.path());
        let mut ca_file = None;
        if options.mode != SmtpMode::Plain {
            let (ca, cert, key) = certificates(dir.path());
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            ca_file = Some(ca);
        }
        let (user, password) = if options.login {
            let (user, password) = ("backupman-mailer", "smtp-s3cret-P4ss");
            // A file, not an argument: no secret on a command line, even a test's.
            let file = dir.path().join("password");
            std::fs::write(&file, password).expect("write the password file");
            cmd.args(["--login", user]).arg("--password-file").arg(file);
            (Some(user.to_owned()), Some(password.to_owned()))
        } else {
            (None, None)
        };
        if options.reject {
            cmd.arg("--reject");
        }
        let stderr_path = dir.path().join("stderr.log");
        cmd.stdin(Stdio::null())
            .stdout(File::create(dir.path().join("stdout.log")).expect("stdout log"))
            .stderr(File::create(&stderr_path).expect("stderr log"));
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} (aiosmtpd): {e} (run `cargo xtask test`)",
                python.display()
            )
        });
        let mut server = Self {
            mode: options.mode,
            port: 0,
            user,
            password,
            ca_file,
            child,
            dir,
        };
        server.port = server.wait_ready(&stderr_path);
        server
    }

    /// Waits for the port file the script writes once it listens.
    fn wait_ready(&mut self, stderr_path: &Path) -> u16 {
        let port_file = self.dir.path().join("port");
        crate::wait_for_server(
            "SMTP test server (aiosmtpd)",
            &mut self.child,
            stderr_path,
            READY_TIMEOUT,
            || {
                std::fs::read_to_string(&port_file)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            },
        )
    }

    /// The PEM file of the CA that issued the server's certificate (TLS modes only).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Every message received so far, in the order they arrived.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let folder = self.dir.path().join("messages");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("read a received message");
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not a message record: {e}", path.display()))
            })
            .collect()
    }

    /// The messages once there are at least `count`, or a failure after `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let started = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= count {
                return got;
            }
            assert!(
                started.elapsed() < timeout,
                "the SMTP server received {} message(s) within {timeout:?}, not {count}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many messages a rejecting server has turned away.
    pub fn rejected(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("attempts"))
            .map_or(0, |t| t.trim().parse().expect("a count"))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
