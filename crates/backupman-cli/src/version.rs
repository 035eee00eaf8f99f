//! `backupman version`: the version, the commit it was built from and the build date, as
//! the original prints them (stamped by build.rs).

use serde::Serialize;

/// The release, e.g. `0.1.0`.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The short commit hash, `BACKUPMAN_COMMIT` at build time outside a git checkout, or `unknown`.
pub const COMMIT: &str = env!("BACKUPMAN_COMMIT");
/// UTC, RFC 3339.
pub const BUILD_DATE: &str = env!("BACKUPMAN_BUILD_DATE");

/// What `--version` prints after the program name.
pub const LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BACKUPMAN_COMMIT"),
    ", built ",
    env!("BACKUPMAN_BUILD_DATE"),
    ")"
);

#[derive(Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    build_date: &'static str,
}

pub fn print(json: bool) {
    if json {
        let v = Version {
            version: VERSION,
            commit: COMMIT,
            build_date: BUILD_DATE,
        };
        // Three static strings always serialize.
        crate::output::stdout(serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        crate::output::stdout(format_args!(
            "Version: {VERSION}\nCommit SHA: {COMMIT}\nBuild Date: {BUILD_DATE}"
        ));
    }
}
