//! `cargo xtask bench page`: `serve`'s status page for 20 sources × 1,000 stored backups on a
//! local drive (the target: under 100 ms on the server, under 200 KB). One real
//! backup of each source is made by `backupman run`, then copied under 999 more keys (see
//! [`super::scale::seed_source`]); `serve` starts on it, a session is signed in, and each
//! page is fetched once (the first answer lists the drives if the catalog is not loaded
//! yet) and then 20 more times: the median of those is the page's cost from memory. curl's
//! own `time_total` is used (no process start in it). Prints a ready markdown table.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{median, release_binary};
use crate::run;

const SOURCES: usize = 20;
const STORED: usize = 1000;
const REPEAT: usize = 20;
const API_KEY: &str = "bench-page-key-0123456789";

pub(super) fn page(root: &Path) -> Result<()> {
    let bin = release_binary(root)?;
    let dir = root.join("target/bench/page");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("demo.sqlite");
    std::fs::copy(root.join("examples/demo.sqlite"), &db)?;
    let disk = dir.join("disk");
    let mut yaml = String::from("data_sources:\n");
    for i in 0..SOURCES {
        yaml.push_str(&format!(
            "  - provider: sqlite\n    label: source-{i:02}\n    db_path: {}\n",
            db.display()
        ));
    }
    yaml.push_str(&format!(
        "drives:\n  - provider: local\n    label: Disk\n    folder: {}\nhttp:\n  api_keys: [{API_KEY}]\n  backup_job:\n    cron: \"0 0 * * * *\"\n",
        disk.display()
    ));
    let config = dir.join("config.yml");
    std::fs::write(&config, yaml)?;
    run(Command::new(&bin).args(["-q", "run", "-c"]).arg(&config))?;
    for i in 0..SOURCES {
        let slug = format!("source-{i:02}");
        super::scale::seed_source(&disk.join(&slug), &slug, STORED, 1)?;
    }

    let (mut child, base) = super::scale::start_serve(&bin, &config)?;
    let result = measure(&base, &dir);
    let _ = child.kill();
    let _ = child.wait();
    let rows = result?;
    println!(
        "\n| `serve`, {SOURCES} sources × {STORED} backups | size | first | median of next {REPEAT} |\n|---|---|---|---|"
    );
    for (what, size, first, next) in rows {
        println!(
            "| {what} | {:.1} KB | {:.1} ms | {:.1} ms |",
            size as f64 / 1000.0,
            first * 1000.0,
            next * 1000.0
        );
    }
    Ok(())
}

/// Signs in, then times each page: `(what, bytes, first, median of the next)`.
fn measure(base: &str, dir: &Path) -> Result<Vec<(String, usize, f64, f64)>> {
    let jar = dir.join("cookies");
    let signed_in = Command::new("curl")
        .args(["-s", "-f", "-c"])
        .arg(&jar)
        .args([
            "--data",
            &format!("key={API_KEY}"),
            &format!("{base}/signin"),
        ])
        .status()?;
    if !signed_in.success() {
        bail!("signing in to the status page failed");
    }
    let pages = [
        ("`GET /` (the status page)", format!("{base}/")),
        (
            "`GET /source?label=source-07` (100 backups)",
            format!("{base}/source?label=source-07"),
        ),
        (
            "`GET /api/backups` (all, JSON)",
            format!("{base}/api/backups"),
        ),
    ];
    let mut out = Vec::new();
    for (what, url) in pages {
        let (first, size) = fetch(&url, &jar)?;
        let mut next = Vec::with_capacity(REPEAT);
        for _ in 0..REPEAT {
            next.push(fetch(&url, &jar)?.0);
        }
        out.push((what.to_owned(), size, first, median(next)));
    }
    Ok(out)
}

/// `GET url` with the session cookie and the API key: curl's `time_total` and the body's size.
fn fetch(url: &str, jar: &Path) -> Result<(f64, usize)> {
    let out = Command::new("curl")
        .args(["-s", "-f", "-b"])
        .arg(jar)
        .args(["-H", &format!("X-Api-Key: {API_KEY}")])
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{time_total} %{size_download}",
            url,
        ])
        .output()
        .context("run curl")?;
    if !out.status.success() {
        bail!("GET {url} failed: {:?}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (time, size) = text
        .trim()
        .split_once(' ')
        .with_context(|| format!("curl's -w output: {text:?}"))?;
    Ok((time.parse()?, size.parse()?))
}
