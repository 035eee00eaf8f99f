//! Logging, where a command's result is written, and the small formatting helpers human
//! output shares.

use std::io::{self, Write};
use std::time::Duration;

use tracing_subscriber::EnvFilter;

const OUR_CRATES: &[&str] = &[
    "backupman",
    "backupman_cli",
    "backupman_config",
    "backupman_core",
    "backupman_dump",
    "backupman_s3",
];

/// How much of the log reaches stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `--quiet`: errors only.
    Quiet,
    /// The default: warnings and errors; what a command did is its own output, not a log.
    Normal,
    /// `-v`: the INFO log too (notes, each step).
    Verbose,
    /// `--debug`.
    Debug,
}

/// `--debug` raises only backupman's own crates to debug: SDK and HTTP internals stay at
/// `warn`, so request headers (signatures, tokens) never reach the log. `RUST_LOG` overrides.
pub fn init_logging(verbosity: Verbosity) {
    let quiet = verbosity == Verbosity::Quiet;
    let debug = verbosity == Verbosity::Debug;
    let level = match verbosity {
        Verbosity::Debug => "debug",
        Verbosity::Verbose => "info",
        Verbosity::Normal => "warn",
        Verbosity::Quiet => "error",
    };
    let directives = std::iter::once(if quiet {
        "error".to_owned()
    } else {
        "warn".to_owned()
    })
    .chain(OUR_CRATES.iter().map(|c| format!("{c}={level}")))
    // It logs a refused certificate as an ERROR of its own; the notifier's warning says it
    // once, with what to do.
    .chain(std::iter::once("rustls_platform_verifier=off".to_owned()))
    .collect::<Vec<_>>()
    .join(",");
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::LogWriter)
        .with_target(debug)
        .with_ansi(use_colour())
        .try_init();
}

/// Colour only on a terminal, and never with `NO_COLOR`.
pub fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Where a command writes its result (a table, a report, JSON): stdout, so it pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    /// stdout is taken by `--json`: the human rendering goes beside the log instead.
    Stderr,
}

impl Out {
    /// The human rendering's place when `json` has stdout.
    pub fn beside_json(json: bool) -> Self {
        if json { Self::Stderr } else { Self::Stdout }
    }

    /// Writes one line. A reader that went away (`backupman list | head -1`) ends the output
    /// there, as for any Unix filter: a closed pipe is not an error worth a panic or a message.
    pub fn line(self, text: impl std::fmt::Display) {
        let result = match self {
            Self::Stdout => writeln!(io::stdout().lock(), "{text}"),
            Self::Stderr => writeln!(crate::progress::LogWriter, "{text}"),
        };
        if let Err(err) = result
            && err.kind() != io::ErrorKind::BrokenPipe
        {
            eprintln!("error: cannot write the output: {err}");
        }
    }
}

/// Writes `text` (JSON) and a line break on stdout, as [`Out::line`] does.
pub fn stdout(text: impl std::fmt::Display) {
    Out::Stdout.line(text);
}

pub fn bytes(n: u64) -> String {
    backupman_core::human_bytes(n)
}

pub fn duration(d: Duration) -> String {
    backupman_core::human_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }
}
