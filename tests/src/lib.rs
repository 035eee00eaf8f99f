//! Test harness for backupman's integration tests: real servers on loopback ports, each
//! behind a guard that stops it and removes its files when dropped.
//!
//! - [`cluster`]: a PostgreSQL cluster of a test's own (`initdb`, `pg_ctl`) on a free port.
//! - [`db`]: scratch PostgreSQL and MariaDB databases, their command-line clients, and
//!   fingerprints that compare two databases' contents.
//! - [`faults`]: a proxy in front of an S3 server that drops, refuses (503 SlowDown) or
//!   stalls a chosen share of requests.
//! - [`s3`]: S3 servers (s3s-fs, rclone, moto, Ceph's RADOS Gateway, MinIO) in each
//!   addressing style the kit runs them in.
//! - [`ceph`]: a throw-away single-node Ceph cluster behind the RADOS Gateway.
//! - [`conformance`]: each S3 server described to the one `Drive` behaviour suite
//!   (`backupman_core::conformance`): what it is known to do, and an inspector of its bucket.
//! - [`lock`]: S3 Object Lock as a store enforces it, one check for every server that has it.
//! - [`smtp`]: an SMTP server (aiosmtpd) in plain, STARTTLS and implicit-TLS mode, keeping
//!   every message it receives for the test to read.
//! - [`tls`]: a test CA, a certificate it signed, and a TLS proxy in front of any server.
//! - [`proxy`]: a TCP relay adding a one-way delay in each direction and counting the HTTP
//!   requests it relays.
//!
//! The servers' binaries come from environment variables that `cargo xtask test` sets after
//! provisioning them; a missing variable fails loudly instead of skipping.

#![warn(missing_docs)]

pub mod ceph;
pub mod cluster;
pub mod conformance;
pub mod db;
pub mod faults;
pub mod lock;
pub mod proxy;
pub mod s3;
pub mod smtp;
pub mod tls;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fresh age identity file at `path`, made by `age-keygen` (the real tool, mode 0600), and
/// its public key.
pub fn age_keygen(path: &Path) -> String {
    let made = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen must be installed (cargo xtask provision)");
    assert!(made.status.success(), "age-keygen -o {}", path.display());
    let public = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(path)
        .output()
        .expect("run age-keygen -y");
    assert!(public.status.success(), "age-keygen -y {}", path.display());
    String::from_utf8(public.stdout)
        .expect("a public key is text")
        .trim()
        .to_owned()
}

/// An executable shell script `name` in `dir` running `body`: a stand-in for a tool.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the script executable");
    path
}

/// Polls `ready` until it yields a value, failing loudly (naming `what` and showing the
/// stderr it wrote to `stderr_path`) when `child` exits first or `timeout` passes: how the
/// kit waits for each server it starts.
pub fn wait_for_server<T>(
    what: &str,
    child: &mut std::process::Child,
    stderr_path: &Path,
    timeout: std::time::Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || started.elapsed() > timeout {
            let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
            let why = match exited {
                Some(status) => format!("exited with {status}"),
                None => format!("was not ready within {timeout:?}"),
            };
            panic!("{what} {why}; its stderr:\n{stderr}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
