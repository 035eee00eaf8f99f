//! Project automation: `cargo xtask <task>`.
//!
//! - `test`: everything CI checks: formatting, clippy, the crate docs (`cargo doc` with
//!   warnings denied), and every test including the ones that need real servers (PostgreSQL,
//!   MariaDB, S3 and SMTP servers), which it starts or installs first.
//! - `itest`: only the server-backed tests (provisions the same way).
//! - `provision`: installs the S3 and SMTP test servers and prints the environment the tests
//!   need.
//! - `bench`: the memory and throughput benchmarks behind `docs/benchmarks.md`.
//! - `soak [--minutes N]`: `backupman serve` on an every-5-second schedule for N minutes
//!   (default 10) under client load, its memory, open files and threads sampled; not part of
//!   `test` (see `soak.rs`).
//! - `package`: packages every published crate the way `cargo publish` would, each one built
//!   from its packaged sources (slow from cold: every dependency is built once more); `test`
//!   runs the same packaging without that build.

mod bench;
mod minio;
mod s3servers;
mod services;
mod soak;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test(&root, true),
        Some("itest") => test(&root, false),
        Some("provision") => {
            for (k, v) in provision(&root)? {
                println!("export {k}={v}");
            }
            Ok(())
        }
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("soak") => soak::soak(&root, &args[1..]),
        Some("package") => run(&mut package(true)),
        _ => {
            eprintln!("usage: cargo xtask <test|itest|provision|bench|soak|package>");
            std::process::exit(2);
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn provision(root: &Path) -> Result<Vec<(String, String)>> {
    services::ensure_tools()?;
    services::ensure_databases()?;
    let cache = root.join("target/test-tools");
    std::fs::create_dir_all(&cache)?;
    s3servers::provision(&cache)
}

/// `cargo package` for every crate that is published: each manifest normalised for
/// crates.io (every internal dependency with a version, resolved against the workspace's own
/// packages through cargo's local registry overlay), the licence texts, READMEs and every
/// file each crate needs inside it. `verify` also builds each package from its packaged
/// sources; that build does not get the workspace's `[profile.dev]` (a packaged manifest
/// carries no profiles), so from cold it builds every dependency once more: about 12 CPU
/// minutes (36 on this shared two-core machine), against 20 seconds without, and CI starts
/// cold every time. The test kit and xtask are `publish = false` and never packaged.
fn package(verify: bool) -> Command {
    let mut cmd = cargo();
    cmd.args([
        "package",
        "--workspace",
        "--exclude",
        "backupman-testkit",
        "--exclude",
        "xtask",
        // What is checked is the packaging, not whether the work tree is committed.
        "--allow-dirty",
    ]);
    if !verify {
        cmd.arg("--no-verify");
    }
    cmd
}

fn test(root: &Path, everything: bool) -> Result<()> {
    if everything {
        run(cargo().args(["fmt", "--all", "--", "--check"]))?;
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        // Broken intra-doc links and malformed doc comments fail here, not on docs.rs.
        run(cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"))?;
        run(&mut package(false))?;
    }
    let env = provision(root)?;
    let mode = if everything {
        "--include-ignored"
    } else {
        "--ignored"
    };
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--", mode]);
    // Two cores: more test threads only make the server-backed tests time out.
    cmd.args(["--test-threads", "2"]);
    let skipped = match minio::missing() {
        Some(why) => {
            // Left out by name (exactly), so no other test that mentions MinIO goes with it.
            cmd.args(["--exact", "--skip", minio::TEST]);
            minio::skipped_tests(mode, &why)?
        }
        None => Vec::new(),
    };
    cmd.envs(env);
    run_counting(&mut cmd, &skipped)
}

/// Runs `cargo test`, passing its output through, and ends with one line adding up every
/// test binary's result: the last line cargo prints is a doc-test binary's, often "0 passed",
/// which would misreport the whole run. `skipped` (each a test and why) were left out of the
/// run and count as skipped, so that a test that could not run never reads as passed.
fn run_counting(cmd: &mut Command, skipped: &[String]) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let mut tally = Tally::default();
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        writeln!(out, "{line}")?;
        tally.read(&line);
    }
    let status = child.wait()?;
    for test in skipped {
        writeln!(out, "skipped: {test}")?;
    }
    writeln!(out, "{}", tally.summary(skipped.len() as u64))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The results of every test binary, added up from libtest's `test result:` lines.
#[derive(Debug, Default)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    fn read(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next()) {
                let n: u64 = n.parse().unwrap_or(0);
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.ignored += n,
                    _ => {}
                }
            }
        }
    }

    /// The final line; `left_out` tests never reached libtest (see [`minio`]) and are skipped
    /// as much as ignored ones are.
    fn summary(&self, left_out: u64) -> String {
        format!(
            "summary: {} passed, {} failed, {} skipped",
            self.passed,
            self.failed,
            self.ignored + left_out
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_test_left_out_counts_as_skipped_not_passed() {
        let mut tally = Tally::default();
        // What libtest prints for the S3 binary with the MinIO test left out by
        // `--exact --skip conformance::minio_path_style`: it is "filtered out", in no other
        // count.
        tally.read("test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 38.53s");
        tally.read("test result: ok. 2 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        assert_eq!(tally.summary(1), "summary: 9 passed, 1 failed, 4 skipped");
        assert_eq!(tally.summary(0), "summary: 9 passed, 1 failed, 3 skipped");
    }
}
