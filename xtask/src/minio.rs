//! The MinIO slot of the S3 conformance suite. MinIO is not provisioned (no pinned download
//! fits the sandboxes the tests run in); it runs when `minio` is on PATH or
//! `BACKUPMAN_TEST_S3_ENDPOINT` names a server, the same rule as the test kit's
//! `S3Server::minio`. When neither is there, `cargo xtask test` leaves the MinIO test out and
//! reports it as skipped: run by hand, that test fails instead of passing without a server.

use anyhow::{Context, Result, bail};

/// The test that runs the conformance suite against MinIO.
pub const TEST: &str = "conformance::minio_path_style";

/// Why MinIO cannot run here, or `None` when it can.
pub fn missing() -> Option<String> {
    let endpoint_set = std::env::var("BACKUPMAN_TEST_S3_ENDPOINT").is_ok_and(|e| !e.is_empty());
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("minio").is_file()));
    if endpoint_set || on_path {
        None
    } else {
        Some(
            "MinIO not available: no `minio` on PATH and BACKUPMAN_TEST_S3_ENDPOINT is not set"
                .into(),
        )
    }
}

/// The tests named [`TEST`] that `cargo test` would run in `mode` (`--include-ignored` or
/// `--ignored`), each as `<test> (<why>)`: asked of the test binaries themselves, so the
/// count stays true, and an error when there is none (the test was renamed, and this
/// skip would silently skip nothing).
pub fn skipped_tests(mode: &str, why: &str) -> Result<Vec<String>> {
    let mut cmd = crate::cargo();
    cmd.args(["test", "--workspace", "--quiet", "--", mode])
        .args(["--exact", TEST, "--list", "--format", "terse"]);
    eprintln!("$ {cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let tests: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(|test| format!("{test} ({why})"))
        .collect();
    if tests.is_empty() {
        bail!("no test is named {TEST}: the MinIO slot would be skipped without a trace");
    }
    Ok(tests)
}
