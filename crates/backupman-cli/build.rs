//! Stamps the binary with its commit and build date for `backupman version`. Never fails the
//! build: outside a git checkout (a crate tarball, a source archive, an image build that keeps
//! `.git` out) the commit is `BACKUPMAN_COMMIT` from the environment when set, else `unknown`.
//! `SOURCE_DATE_EPOCH`, when set, is the build date, so reproducible builds stay reproducible.

use std::process::Command;

fn main() {
    println!("cargo:rustc-env=BACKUPMAN_COMMIT={}", commit());
    println!("cargo:rustc-env=BACKUPMAN_BUILD_DATE={}", build_date());
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=BACKUPMAN_COMMIT");
    // A new commit or checkout changes these; without them the stamp would go stale.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={p}");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn commit() -> String {
    git(&["rev-parse", "--short", "HEAD"])
        .or_else(|| {
            std::env::var("BACKUPMAN_COMMIT")
                .ok()
                .filter(|c| !c.trim().is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// UTC, RFC 3339 to the second.
fn build_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let when = match seconds {
        Some(s) => chrono::DateTime::from_timestamp(s, 0),
        None => Some(chrono::Utc::now()),
    };
    when.map_or_else(
        || "unknown".to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}
