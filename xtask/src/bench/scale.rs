//! `cargo xtask bench scale`: many sources and many stored backups behind a distant store.
//! Ceph's RADOS Gateway (the test kit's throw-away cluster, whose listing costs the keys it
//! returns, as S3's does) behind the test kit's latency proxy (10 ms each way, so 20 ms per
//! round trip, like a store in a nearby region), then, medians of 3:
//!
//! - 50 small SQLite sources to one S3 drive, at the default concurrency and `--parallel 1`;
//! - with 1,000 stored backups of one source: `list --json`, `run` (retention by age, nothing
//!   to delete) beside the same run on an empty prefix, `aws s3 ls --recursive` of the
//!   prefix, and `serve`'s `GET /api/backups` and one download (the first request, then the
//!   median of the next 3);
//! - peak RSS (`/usr/bin/time -v`) of 4 sources of 50 MiB at `--parallel` 1, 2 and 4, to one
//!   and to two drives, on s3s-fs without added latency.
//!
//! The 1,000 backups are seeded fast: one real backup is made to a local drive, its object and
//! manifest are copied there under 999 more valid keys (six hours apart), and the folder is
//! uploaded with `aws s3 cp --recursive` straight to the gateway. Prints a ready markdown
//! table.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{BUCKET, BenchS3, MIB, RUNS, events_sqlite, median, release_binary};
use crate::{cargo, run};

/// One-way delay the proxy adds, in milliseconds.
const DELAY_MS: u64 = 10;
const SMALL_SOURCES: usize = 50;
const STORED: usize = 1000;
const API_KEY: &str = "bench-scale-key";

pub(super) fn scale(root: &Path) -> Result<()> {
    let bin = release_binary(root)?;
    // A debug build is plenty for relaying on loopback, and shares the test kit's build with
    // the tests instead of compiling the AWS SDK once more for release.
    run(cargo().args([
        "build",
        "-p",
        "backupman-testkit",
        "--bin",
        "latency-proxy",
        "--bin",
        "ceph-rgw",
    ]))?;
    crate::services::ensure_tools()?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let proxy_bin = target.join("debug/latency-proxy");
    let dir = root.join("target/bench/scale");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let server = BenchS3::ceph_rgw(root, &target.join("debug/ceph-rgw"))?;
    let upstream: u16 = server
        .endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the store's port")?;
    let proxy = Proxy::start(&proxy_bin, upstream, DELAY_MS)?;
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let drive = |prefix: &str| server.drive_entry("far", &endpoint, prefix);
    let demo = root.join("examples/demo.sqlite");
    let mut rows: Vec<(String, String)> = Vec::new();

    // (a) 50 small sources.
    let small = dir.join("small");
    std::fs::create_dir_all(&small)?;
    let mut sources = String::new();
    for i in 1..=SMALL_SOURCES {
        let db = small.join(format!("s{i:02}.sqlite"));
        std::fs::copy(&demo, &db)?;
        sources.push_str(&sqlite_yaml(&format!("Small {i:02}"), &db));
    }
    let fifty = write(
        &dir.join("fifty.yml"),
        &format!("data_sources:\n{sources}drives:\n{}", drive("fifty")),
    )?;
    let default = times(|| timed(Command::new(&bin).args(["-q", "run", "-c"]).arg(&fifty)))?;
    let one = times(|| {
        timed(
            Command::new(&bin)
                .args(["-q", "run", "--parallel", "1", "-c"])
                .arg(&fifty),
        )
    })?;
    rows.push((
        format!("{SMALL_SOURCES} small SQLite sources → 1 S3 drive, default concurrency (4)"),
        secs(default),
    ));
    rows.push((
        format!("{SMALL_SOURCES} small SQLite sources → 1 S3 drive, `--parallel 1`"),
        secs(one),
    ));

    // (b) 1,000 stored backups of one source.
    let seed_db = dir.join("seed.sqlite");
    std::fs::copy(&demo, &seed_db)?;
    let seed_source = sqlite_yaml("Seed", &seed_db);
    let retention = "retention:\n  by: age\n  value: 3650\n";
    let many = write(
        &dir.join("many.yml"),
        &format!(
            "data_sources:\n{seed_source}drives:\n{}{retention}http:\n  api_keys: [\"{API_KEY}\"]\n",
            drive("many")
        ),
    )?;
    let local = dir.join("seed-local");
    let seeding = write(
        &dir.join("seeding.yml"),
        &format!(
            "data_sources:\n{seed_source}drives:\n  - provider: local\n    label: seeding\n    folder: {}\n",
            local.display()
        ),
    )?;
    timed(Command::new(&bin).args(["-q", "run", "-c"]).arg(&seeding))?;
    seed(&local.join("seed"), STORED)?;
    run(server
        .aws()
        .args(["s3", "cp", "--recursive", "--quiet"])
        .arg(local.join("seed"))
        .arg(format!("s3://{BUCKET}/many/seed/"))
        .args([
            "--exclude",
            "*",
            "--include",
            "*.sqlite.gz",
            "--include",
            "*.sqlite.gz.json",
        ]))?;
    let listed = Command::new(&bin)
        .args(["-q", "list", "--json", "-c"])
        .arg(&many)
        .output()?;
    let found = String::from_utf8_lossy(&listed.stdout)
        .matches("\"key\"")
        .count();
    if found < STORED {
        bail!("list found {found} backups, {STORED} were seeded");
    }
    let list = times(|| {
        timed(
            Command::new(&bin)
                .args(["-q", "list", "--json", "-c"])
                .arg(&many),
        )
    })?;
    rows.push((
        format!("`list --json`, {STORED} stored backups"),
        secs(list),
    ));
    let run_many = times(|| timed(Command::new(&bin).args(["-q", "run", "-c"]).arg(&many)))?;
    let mut empty_runs = Vec::new();
    for i in 1..=RUNS {
        // A fresh prefix each time: every run stores one more backup.
        let empty = write(
            &dir.join(format!("empty-{i}.yml")),
            &format!(
                "data_sources:\n{seed_source}drives:\n{}{retention}",
                drive(&format!("empty-{i}"))
            ),
        )?;
        empty_runs.push(timed(
            Command::new(&bin).args(["-q", "run", "-c"]).arg(&empty),
        )?);
    }
    rows.push((
        format!("`run` of 1 source, retention by age, {STORED} stored backups"),
        secs(run_many),
    ));
    rows.push((
        "same `run` on an empty prefix".to_owned(),
        secs(median(empty_runs)),
    ));
    let ls = times(|| {
        timed(server.aws_at(&endpoint).args([
            "s3",
            "ls",
            "--recursive",
            &format!("s3://{BUCKET}/many/"),
        ]))
    })?;
    rows.push((
        format!("`aws s3 ls --recursive` of the prefix ({STORED}+ objects and manifests)"),
        secs(ls),
    ));
    for (what, first, next) in serve_timings(&bin, &many)? {
        rows.push((format!("{what}, first request"), secs(first)));
        rows.push((format!("{what}, median of the next {RUNS}"), secs(next)));
    }

    println!(
        "\nBehind a {DELAY_MS} ms one-way delay (Ceph RGW on loopback through the test kit's latency proxy), medians of {RUNS}:\n"
    );
    println!("| measurement | wall time |");
    println!("|---|---|");
    for (what, value) in &rows {
        println!("| {what} | {value} |");
    }
    // Peak memory against parallel sources and drives, on a store of its own without added
    // latency: s3s-fs keeps the objects on disk, where the gateway's in-memory OSD (2 GiB)
    // would fill with 24 runs of four 50 MiB sources.
    drop(proxy);
    drop(server);
    let server = BenchS3::s3s_fs(root, &dir.join("s3s-data"))?;
    let big = events_sqlite(&dir, "rss.sqlite", 260_000, 50 * 1024 * 1024, "50 MiB")?;
    let rss_sources: String = (1..=4)
        .map(|i| sqlite_yaml(&format!("Big {i}"), &big))
        .collect();
    let mut rss_rows = Vec::new();
    for drives in [1, 2] {
        let yaml: String = (1..=drives)
            .map(|d| {
                server.drive_entry(&format!("near-{d}"), &server.endpoint, &format!("rss-{d}"))
            })
            .collect();
        let config = write(
            &dir.join(format!("rss-{drives}.yml")),
            &format!("data_sources:\n{rss_sources}drives:\n{yaml}"),
        )?;
        for parallel in [1, 2, 4] {
            let mut peaks = Vec::new();
            for _ in 0..RUNS {
                peaks.push(peak_rss(&bin, &config, parallel)? as f64);
            }
            rss_rows.push((parallel, drives, median(peaks) / MIB));
        }
    }

    println!(
        "\nPeak RSS (`/usr/bin/time -v`), 4 SQLite sources of {:.0} MiB each, median of {RUNS}:\n",
        big.metadata()?.len() as f64 / MIB
    );
    println!("| `--parallel` | 1 drive | 2 drives |");
    println!("|---|---|---|");
    for parallel in [1, 2, 4] {
        let at = |drives| {
            rss_rows
                .iter()
                .find(|(p, d, _)| *p == parallel && *d == drives)
                .map_or(0.0, |r| r.2)
        };
        println!("| {parallel} | {:.1} MiB | {:.1} MiB |", at(1), at(2));
    }
    Ok(())
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn write(path: &Path, text: &str) -> Result<PathBuf> {
    std::fs::write(path, text)?;
    Ok(path.to_owned())
}

fn sqlite_yaml(label: &str, db: &Path) -> String {
    format!(
        "  - provider: sqlite\n    label: {label}\n    db_path: {}\n",
        db.display()
    )
}

/// Wall time of `cmd`, which must succeed (its output discarded).
fn timed(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let took = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// The median of [`RUNS`] measurements.
fn times(mut once: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut all = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        all.push(once()?);
    }
    Ok(median(all))
}

/// `backupman -q run --parallel N` under `/usr/bin/time -v`: its peak RSS in bytes.
fn peak_rss(bin: &Path, config: &Path, parallel: usize) -> Result<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(["-q", "run", "--parallel", &parallel.to_string(), "-c"])
        .arg(config)
        .stdout(Stdio::null())
        .output()
        .context("run /usr/bin/time -v")?;
    let report = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("run --parallel {parallel} failed: {report}");
    }
    let kib: u64 = report
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .context("no maximum resident set size in /usr/bin/time -v's report")?;
    Ok(kib * 1024)
}

/// Copies the one backup in `folder` (an object and its manifest, as a local drive stores
/// them) under `total - 1` more keys, six hours apart going back from it (the issue's
/// six-hourly backups kept for eight months), each with its own manifest.
fn seed(folder: &Path, total: usize) -> Result<()> {
    seed_source(folder, "seed", total, 6)
}

/// [`seed`] for the source whose folder (and file-name prefix) is `slug`, `hours_apart`
/// hours apart.
pub(super) fn seed_source(folder: &Path, slug: &str, total: usize, hours_apart: i64) -> Result<()> {
    let mut object = None;
    for entry in std::fs::read_dir(folder)
        .with_context(|| format!("no backup was stored in {}", folder.display()))?
    {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sqlite.gz") {
            object = Some(name);
        }
    }
    let object = object.context("no .sqlite.gz object to copy")?;
    let key = format!("{slug}/{object}");
    let manifest = std::fs::read_to_string(folder.join(format!("{object}.json")))?;
    let bytes = std::fs::read(folder.join(&object))?;
    let now = chrono::Utc::now();
    for i in 1..total {
        let at = now - chrono::Duration::hours(hours_apart * i64::try_from(i)?);
        let name = format!(
            "{slug}-{}-{:06x}.sqlite.gz",
            at.format("%Y%m%dT%H%M%S%.3fZ"),
            i
        );
        let stamp = at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let copy = replace_field(
            &replace_field(
                &replace_field(&manifest, "key", &format!("{slug}/{name}")),
                "started_at",
                &stamp,
            ),
            "finished_at",
            &stamp,
        );
        if copy.contains(&key) {
            bail!("the manifest's key was not replaced");
        }
        std::fs::write(folder.join(&name), &bytes)?;
        std::fs::write(folder.join(format!("{name}.json")), copy)?;
    }
    Ok(())
}

/// `json` with the string value of top-level `field` set to `value`.
fn replace_field(json: &str, field: &str, value: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    doc[field] = serde_json::Value::String(value.to_owned());
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// `serve` on `config`: the first `GET /api/backups` and the median of the next ones, then
/// the same for one download.
fn serve_timings(bin: &Path, config: &Path) -> Result<Vec<(String, f64, f64)>> {
    let (mut child, base) = start_serve(bin, config)?;
    let result = (|| {
        let list = format!("{base}/api/backups");
        let mut out = Vec::new();
        let (first, body) = curl(&list)?;
        let next = times(|| curl(&list).map(|(t, _)| t))?;
        out.push((
            format!("`serve` `GET /api/backups`, {STORED} stored backups"),
            first,
            next,
        ));
        let listing: serde_json::Value = serde_json::from_slice(&body)?;
        let id = listing["Results"][0]["DriveFiles"][0]["Id"]
            .as_str()
            .context("no DriveFiles[0].Id in GET /api/backups")?
            .to_owned();
        let download = format!("{base}/api/backups/{id}/download");
        let (first, _) = curl(&download)?;
        let next = times(|| curl(&download).map(|(t, _)| t))?;
        out.push(("`serve` one download".to_owned(), first, next));
        Ok(out)
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `backupman serve` on `config` on a free loopback port, once it listens: the process (for
/// the caller to kill) and its base URL.
pub(super) fn start_serve(bin: &Path, config: &Path) -> Result<(Child, String)> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let mut child = Command::new(bin)
        .args([
            "-q",
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-c",
        ])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start backupman serve")?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed().as_secs() > 30 {
            let _ = child.kill();
            let _ = child.wait();
            bail!("serve did not listen on port {port}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// `GET url` with the API key: its wall time and body; fails on a status other than 200.
fn curl(url: &str) -> Result<(f64, Vec<u8>)> {
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-s", "-f", "-H", &format!("X-Api-Key: {API_KEY}"), url])
        .output()
        .context("run curl")?;
    let took = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("GET {url} failed: {:?}", out.status);
    }
    Ok((took, out.stdout))
}

/// The latency proxy program on a random port; stopped when dropped (its stdin closes).
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn start(bin: &Path, upstream: u16, delay_ms: u64) -> Result<Self> {
        let mut child = Command::new(bin)
            .args([upstream.to_string(), delay_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start the latency proxy")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("proxy stdout")?).read_line(&mut line)?;
        let port = line.trim().parse().context("the proxy's port")?;
        Ok(Self { child, port })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
