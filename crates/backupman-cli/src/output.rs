//! Logging and the small formatting helpers human output shares.

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

/// `--debug` raises only backupman's own crates to debug: SDK and HTTP internals stay at
/// `warn`, so request headers (signatures, tokens) never reach the log. `RUST_LOG` overrides.
pub fn init_logging(debug: bool, quiet: bool) {
    let level = if debug {
        "debug"
    } else if quiet {
        "error"
    } else {
        "info"
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
