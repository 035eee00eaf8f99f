//! The database servers the tests use: the machine's PostgreSQL and MariaDB, started when
//! they are not running.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn postgres_up() -> bool {
    succeeds(Command::new("pg_isready").args(["-h", "127.0.0.1", "-p", "5432"]))
}

fn mariadb_up() -> bool {
    succeeds(Command::new("mariadb").args([
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-u",
        "root",
        "-e",
        "SELECT 1",
    ]))
}

fn wait_for(name: &str, up: fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if up() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!("{name} did not come up on 127.0.0.1 within 60 s: the database tests cannot run")
}

pub fn ensure_databases() -> Result<()> {
    if !postgres_up() {
        eprintln!("starting PostgreSQL");
        let clusters = std::fs::read_dir("/etc/postgresql")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for version in clusters {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &version, "main", "start"])
                .status();
        }
        wait_for("PostgreSQL", postgres_up)?;
    }
    if !mariadb_up() {
        eprintln!("starting MariaDB");
        let _ = Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ])
            .status();
        wait_for("MariaDB", mariadb_up)?;
    }
    Ok(())
}

/// Command-line tools the tests call, and the Debian package that brings each.
const TOOLS: &[(&str, &str)] = &[
    ("sqlite3", "sqlite3"),
    ("gzip", "gzip"),
    ("openssl", "openssl"),
    // The TLS proxy in front of an S3 server, for the private-CA tests.
    ("socat", "socat"),
    ("tmux", "tmux"),
    ("script", "bsdutils"),
    ("psql", "postgresql-client"),
    ("pg_dump", "postgresql-client"),
    ("mariadb", "mariadb-client"),
    ("mariadb-dump", "mariadb-client"),
    ("python3", "python3"),
    ("promtool", "prometheus"),
    // The codec tests decode with the codecs' own tools; `bench codecs` runs the pipelines.
    ("zstd", "zstd"),
    ("pigz", "pigz"),
    // The encryption tests decrypt with the age CLI, as an operator would without backupman.
    ("age", "age"),
    // Signed manifests are checked with minisign's own CLI, as an operator would by hand.
    ("minisign", "minisign"),
    // Ceph's RADOS Gateway on a throw-away cluster (backupman_testkit::ceph).
    ("monmaptool", "ceph-base"),
    ("ceph-mon", "ceph-mon"),
    ("ceph-osd", "ceph-osd"),
    ("radosgw", "radosgw"),
    ("ceph", "ceph-common"),
    ("radosgw-admin", "ceph-common"),
    // serve's status page is tested in a real browser, driven through WebDriver.
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Installs, from Debian's packages, any tool the tests need that this machine lacks.
pub fn ensure_tools() -> Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing missing test tools: {}", missing.join(" "));
    let _ = Command::new("apt-get").arg("update").status();
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        bail!(
            "cannot install {}: the tests need them (install them, then rerun)",
            missing.join(" ")
        );
    }
    Ok(())
}
