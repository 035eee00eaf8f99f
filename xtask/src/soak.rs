//! `cargo xtask soak [--minutes N]`: a week of service in ten minutes (issue 23). The release
//! `backupman serve` backs up a SQLite database every 5 seconds to two drives (a local folder
//! and an s3s-fs server, [`BenchS3`]) with retention by count, while clients on loopback list,
//! download, fetch download links and download through them, and read `/health` and
//! `/metrics`, and a verifier runs `backupman verify` on every backup as it appears. The serve
//! process's RSS, open files and threads are sampled every few seconds.
//!
//! Fails (exit 1) when a request failed, a backup failed or did not verify, a drive holds
//! another count than retention keeps, something partial is left, or a resource grows faster
//! than its tolerance ([`TOLERANCES`]). Not part of `cargo xtask test`: it runs for minutes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bench::{BenchS3, events_sqlite, release_binary};

const API_KEY: &str = "soak-api-key-0123456789abcdef";
/// Backups retention keeps on each drive.
const KEEP: usize = 10;
/// The schedule: every 5 seconds (6 fields, with seconds).
const CRON: &str = "*/5 * * * * *";
const TICK_SECONDS: u64 = 5;
const CLIENTS: usize = 4;
/// A client's pause between two rounds of requests, so the load stays bounded.
const CLIENT_PAUSE: Duration = Duration::from_millis(250);
/// Often, so the slopes stand above the noise of connections and blocking threads that
/// come and go.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples this early are left out of the slopes: allocator arenas, connection pools and the
/// first catalog fill up once, which is growth of a start, not of a week.
const WARM_UP: Duration = Duration::from_secs(60);
/// Clients pick among this many newest backups: retention deletes the oldest of the
/// [`KEEP`], so a backup picked here lives for at least `(KEEP - PICK) * TICK_SECONDS` more.
const PICK: usize = 4;

/// What each resource may grow by per hour (least-squares slope after [`WARM_UP`]) before the
/// soak fails. At 720 backups an hour, a file or thread leaked by one backup in 12 is 60 an
/// hour, and 24 KiB of memory leaked per backup 16.9 MiB an hour; the connections and
/// blocking threads in use at a sample's instant come and go, and stay well below these.
const TOLERANCES: [(&str, f64); 3] = [("RSS (MiB)", 16.0), ("open fds", 60.0), ("threads", 60.0)];

pub fn soak(root: &Path, args: &[String]) -> Result<()> {
    let minutes = match args {
        [] => 10,
        [flag, n] if flag == "--minutes" => {
            n.parse::<u64>().ok().filter(|n| *n >= 2).with_context(|| {
                format!("--minutes {n:?}: a whole number of minutes, at least 2")
            })?
        }
        _ => bail!("usage: cargo xtask soak [--minutes N]"),
    };
    let bin = release_binary(root)?;
    let dir = root.join("target/soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // 40,000 rows of mixed text and hex: about 10 MiB, 5 MiB gzipped.
    let db = events_sqlite(&dir, "shop.sqlite", 40_000, 8 * 1024 * 1024, "8 MiB")?;
    let s3 = BenchS3::s3s_fs(root, &dir.join("s3s-data"))?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let local = dir.join("local");
    let config = dir.join("soak.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Shop\n    db_path: {db}\n\
             drives:\n  - provider: local\n    label: Disk\n    folder: {local}\n{s3}\
             retention:\n  by: count\n  value: {KEEP}\n\
             http:\n  app_url: {base}\n  api_keys: [\"{API_KEY}\"]\n  backup_job:\n    enabled: true\n    cron: \"{CRON}\"\n  catalog_refresh_seconds: 30\n",
            db = db.display(),
            local = local.display(),
            s3 = s3.drive_entry("Bucket", &s3.endpoint, "soak"),
        ),
    )?;
    let log = dir.join("serve.log");
    let mut serve = Serve::start(&bin, &config, port, &log)?;
    let pid = serve.child.id();
    let rt = tokio::runtime::Runtime::new()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    rt.block_on(wait_for_ping(&http, &base, &log))?;

    eprintln!(
        "soak: serving on {base} (pid {pid}) for {minutes} minutes; log in {}",
        log.display()
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(minutes * 60);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        tasks.push(rt.spawn(client(
            n,
            http.clone(),
            base.clone(),
            deadline,
            Arc::clone(&tally),
        )));
    }
    tasks.push(rt.spawn(verifier(
        bin.clone(),
        config.clone(),
        http.clone(),
        base.clone(),
        deadline,
        Arc::clone(&tally),
    )));

    let mut samples: Vec<Sample> = Vec::new();
    while Instant::now() < deadline {
        match Sample::read(pid, started) {
            Ok(s) => samples.push(s),
            Err(e) => {
                serve.print_log();
                bail!("serve (pid {pid}) cannot be sampled: {e:#}");
            }
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    for task in tasks {
        rt.block_on(task)?;
    }
    let metrics = rt.block_on(get_text(&http, &format!("{base}/metrics")))?;
    // After the count was read, so every backup it counts is listed by now and verified here.
    rt.block_on(verify_new(&bin, &config, &http, &base, &tally));
    serve.stop()?;

    let mut problems = Vec::new();
    let tally = tally
        .lock()
        .expect("no task holds the tally any more")
        .clone();
    let finished = metric_sum(&metrics, "backupman_backups_total", "status=\"finished\"");
    let failed = metric_sum(&metrics, "backupman_backups_total", "status=\"failed\"");
    let skipped = metric_sum(&metrics, "backupman_scheduler_skipped_total", "");
    let ticks = minutes * 60 / TICK_SECONDS;
    if failed > 0.0 {
        problems.push(format!(
            "{failed} scheduled backups failed (see {})",
            log.display()
        ));
    }
    // A tick a long run overlaps is skipped, never queued; many skips mean backups too slow
    // for the schedule, which is not what this soak measures.
    if finished < (ticks as f64) * 0.8 {
        problems.push(format!(
            "only {finished} backups finished in {ticks} ticks ({skipped} skipped)"
        ));
    }
    if tally.failures > 0 {
        problems.push(format!(
            "{} of {} requests failed, first: {}",
            tally.failures,
            tally.requests,
            tally.first_failures.join(" | ")
        ));
    }
    // The last pass may also find a backup that finished after the count was read.
    if (tally.verified.len() as f64) < finished {
        problems.push(format!(
            "{} backups were verified while the soak ran, {finished} finished",
            tally.verified.len()
        ));
    }
    problems.extend(check_drives(&bin, &config, &local)?);

    let mut report = String::new();
    writeln!(
        report,
        "soak: {minutes} min, {finished} backups finished, {failed} failed, {skipped} ticks skipped; \
         {} requests ({} downloads, {} MiB), {} failed; {} backups verified as they appeared",
        tally.requests,
        tally.downloads,
        tally.downloaded / (1024 * 1024),
        tally.failures,
        tally.verified.len()
    )?;
    writeln!(
        report,
        "| resource | start | end | min | max | slope after the first minute (per hour) | tolerance |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|")?;
    let steady: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= WARM_UP.as_secs_f64())
        .collect();
    for (i, (name, tolerance)) in TOLERANCES.iter().enumerate() {
        let all: Vec<f64> = samples.iter().map(|s| s.values()[i]).collect();
        let points: Vec<(f64, f64)> = steady
            .iter()
            .map(|s| (s.at / 3600.0, s.values()[i]))
            .collect();
        let slope = slope(&points).context("too few samples for a slope")?;
        let (min, max) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        writeln!(
            report,
            "| {name} | {:.1} | {:.1} | {min:.1} | {max:.1} | {slope:+.2} | ≤ {tolerance} |",
            all[0],
            all[all.len() - 1]
        )?;
        if slope > *tolerance {
            problems.push(format!(
                "{name} grows {slope:.2} per hour, over the tolerance of {tolerance}"
            ));
        }
    }
    println!("{report}");
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("soak: FAILED: {p}");
        }
        bail!("{} soak checks failed", problems.len());
    }
    println!("soak: every check passed");
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// `backupman serve`, killed when dropped unless [`Serve::stop`] ended it.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    fn start(bin: &Path, config: &Path, port: u16, log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-c",
            ])
            .arg(config)
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            child,
            log: log.to_owned(),
        })
    }

    fn print_log(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("--- the last lines of {} ---", self.log.display());
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("{line}");
        }
    }

    /// SIGTERM, as systemd or Kubernetes stop it, and wait for a clean exit (code 0).
    fn stop(&mut self) -> Result<()> {
        crate::run(
            Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stdout(Stdio::null()),
        )?;
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    self.print_log();
                    bail!("serve exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > until {
                self.print_log();
                bail!("serve did not exit within 90 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn wait_for_ping(http: &reqwest::Client, base: &str, log: &Path) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/ping")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > until {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("serve did not answer /ping within 30 s; its log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One reading of the serve process, `at` seconds into the soak.
struct Sample {
    at: f64,
    rss_mib: f64,
    fds: f64,
    threads: f64,
}

impl Sample {
    fn read(pid: u32, started: Instant) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> Result<f64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        Ok(Self {
            at: started.elapsed().as_secs_f64(),
            rss_mib: field("VmRSS:")? / 1024.0,
            fds: fds as f64,
            threads: field("Threads:")?,
        })
    }

    /// In the order of [`TOLERANCES`].
    fn values(&self) -> [f64; 3] {
        [self.rss_mib, self.fds, self.threads]
    }
}

/// The least-squares slope of `points`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), (px, py)| (x + px / n, y + py / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

#[derive(Clone, Default)]
struct Tally {
    requests: u64,
    failures: u64,
    downloads: u64,
    downloaded: u64,
    first_failures: Vec<String>,
    verified: BTreeSet<String>,
}

impl Tally {
    fn record(tally: &Mutex<Tally>, what: &str, outcome: &Result<()>) {
        let mut t = tally.lock().expect("a client panicked");
        t.requests += 1;
        if let Err(e) = outcome {
            t.failures += 1;
            if t.first_failures.len() < 5 {
                t.first_failures.push(format!("{what}: {e:#}"));
            }
        }
    }
}

/// A stored backup as `GET /api/backups` lists it.
struct Listed {
    id: String,
    key: String,
    sha256: String,
    drive_files: Vec<String>,
}

fn finished(list: &Value) -> Result<Vec<Listed>> {
    let results = list["Results"]
        .as_array()
        .context("GET /api/backups: no Results array")?;
    let mut out = Vec::new();
    for r in results.iter().filter(|r| r["Status"] == "finished") {
        let text = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("a finished backup without {what}: {r}"))
        };
        let files = r["DriveFiles"]
            .as_array()
            .context("a finished backup without DriveFiles")?;
        out.push(Listed {
            id: text(&r["Id"], "Id")?,
            key: text(&r["Key"], "Key")?,
            sha256: text(&r["Sha256"], "Sha256")?,
            drive_files: files
                .iter()
                .map(|f| text(&f["Id"], "DriveFiles[].Id"))
                .collect::<Result<_>>()?,
        });
    }
    Ok(out)
}

async fn get(http: &reqwest::Client, url: &str, key: bool) -> Result<reqwest::Response> {
    let mut req = http.get(url);
    if key {
        req = req.header("X-Api-Key", API_KEY);
    }
    let resp = req.send().await?;
    if !resp.status().is_success() {
        bail!("{} answered {}", url, resp.status());
    }
    Ok(resp)
}

async fn get_text(http: &reqwest::Client, url: &str) -> Result<String> {
    Ok(get(http, url, false).await?.text().await?)
}

async fn list(http: &reqwest::Client, base: &str) -> Result<Vec<Listed>> {
    let body: Value = get(http, &format!("{base}/api/backups"), true)
        .await?
        .json()
        .await?;
    finished(&body)
}

/// Downloads `url` and checks its SHA-256 against the one listed; the bytes read.
async fn download(http: &reqwest::Client, url: &str, key: bool, sha256: &str) -> Result<u64> {
    let bytes = get(http, url, key).await?.bytes().await?;
    let got = format!("{:x}", Sha256::digest(&bytes));
    if got != sha256 {
        bail!(
            "{url}: {} bytes with SHA-256 {got}, the listing says {sha256}",
            bytes.len()
        );
    }
    Ok(bytes.len() as u64)
}

/// Rounds of requests until `deadline`, each one every endpoint a client of the service uses.
async fn client(
    n: usize,
    http: reqwest::Client,
    base: String,
    deadline: Instant,
    tally: Arc<Mutex<Tally>>,
) {
    let mut round = n;
    while Instant::now() < deadline {
        round += 1;
        let listed = list(&http, &base).await;
        let backups = match listed {
            Ok(b) => {
                Tally::record(&tally, "GET /api/backups", &Ok(()));
                b
            }
            Err(e) => {
                Tally::record(&tally, "GET /api/backups", &Err(e));
                Vec::new()
            }
        };
        if let Some(b) = backups.get(round % PICK.min(backups.len()).max(1)) {
            let file = &b.drive_files[round % b.drive_files.len()];
            let url = format!("{base}/api/backups/{file}/download");
            let got = download(&http, &url, true, &b.sha256).await;
            count_download(&tally, "download", got);
            let link = async {
                let body: Value = get(
                    &http,
                    &format!("{base}/api/backups/{}/generate-download-url", b.id),
                    true,
                )
                .await?
                .json()
                .await?;
                body["Url"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no Url in the answer")
            }
            .await;
            match link {
                Ok(url) => {
                    Tally::record(&tally, "generate-download-url", &Ok(()));
                    let got = download(&http, &url, false, &b.sha256).await;
                    count_download(&tally, "download through a link", got);
                }
                Err(e) => Tally::record(&tally, "generate-download-url", &Err(e)),
            }
        }
        let health = async {
            let body: Value = get(&http, &format!("{base}/health"), false)
                .await?
                .json()
                .await?;
            if body["Status"] != "UP" {
                bail!("/health says {body}");
            }
            Ok(())
        }
        .await;
        Tally::record(&tally, "GET /health", &health);
        let metrics = get_text(&http, &format!("{base}/metrics"))
            .await
            .and_then(|m| {
                // A run counts each backup before it refreshes the catalog, so a backup listed
                // is a backup counted; before the first one the counter has no sample yet,
                // however long the first run takes on a loaded machine.
                if m.contains("backupman_backups_total") || backups.is_empty() {
                    Ok(())
                } else {
                    bail!("/metrics without backupman_backups_total")
                }
            });
        Tally::record(&tally, "GET /metrics", &metrics);
        tokio::time::sleep(CLIENT_PAUSE).await;
    }
}

fn count_download(tally: &Mutex<Tally>, what: &str, got: Result<u64>) {
    match got {
        Ok(bytes) => {
            Tally::record(tally, what, &Ok(()));
            let mut t = tally.lock().expect("a client panicked");
            t.downloads += 1;
            t.downloaded += bytes;
        }
        Err(e) => Tally::record(tally, what, &Err(e)),
    }
}

/// Runs `backupman verify KEY --json` on every backup the service lists, once, as it
/// appears: retention deletes it a few ticks later, so checking only what is left at the end
/// would check the last [`KEEP`].
async fn verifier(
    bin: PathBuf,
    config: PathBuf,
    http: reqwest::Client,
    base: String,
    deadline: Instant,
    tally: Arc<Mutex<Tally>>,
) {
    while Instant::now() < deadline {
        verify_new(&bin, &config, &http, &base, &tally).await;
        tokio::time::sleep(Duration::from_secs(TICK_SECONDS)).await;
    }
}

/// One pass of the [`verifier`]: every listed backup not verified yet.
async fn verify_new(
    bin: &Path,
    config: &Path,
    http: &reqwest::Client,
    base: &str,
    tally: &Mutex<Tally>,
) {
    let keys: Vec<String> = match list(http, base).await {
        Ok(b) => b.into_iter().map(|b| b.key).collect(),
        Err(e) => {
            Tally::record(tally, "GET /api/backups (verifier)", &Err(e));
            Vec::new()
        }
    };
    for key in keys {
        if tally
            .lock()
            .expect("a client panicked")
            .verified
            .contains(&key)
        {
            continue;
        }
        let outcome = verify(bin, config, &key).await;
        let ok = outcome.is_ok();
        Tally::record(tally, "backupman verify", &outcome);
        if ok {
            tally
                .lock()
                .expect("a client panicked")
                .verified
                .insert(key);
        }
    }
}

/// `backupman verify KEY --json`: exit 0, and every drive's copy checked to its end.
async fn verify(bin: &Path, config: &Path, key: &str) -> Result<()> {
    let out = tokio::process::Command::new(bin)
        .args(["-q", "verify", "--json", key, "-c"])
        .arg(config)
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "verify {key}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report: Value = serde_json::from_slice(&out.stdout).context("verify --json")?;
    let copies = report.as_array().context("verify --json: not a list")?;
    let good = copies
        .iter()
        .filter(|c| c["ok"] == true && c["content_checked"] == true)
        .count();
    if good != 2 || copies.len() != 2 {
        bail!(
            "verify {key}: {good} of {} copies good, 2 expected: {report}",
            copies.len()
        );
    }
    Ok(())
}

/// After the soak: each drive holds exactly [`KEEP`] backups, all trusted and verified, and
/// nothing else (no temp file in the folder, no open upload on the S3 server is checked by the
/// listing's standing and the folder's files).
fn check_drives(bin: &Path, config: &Path, local: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let out = Command::new(bin)
        .args(["-q", "list", "--json", "-c"])
        .arg(config)
        .output()?;
    if !out.status.success() {
        bail!("backupman list: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listed: Value = serde_json::from_slice(&out.stdout).context("list --json")?;
    let listed = listed.as_array().context("list --json: not a list")?;
    let mut keys = BTreeSet::new();
    for drive in ["Disk", "Bucket"] {
        let on: Vec<&Value> = listed.iter().filter(|b| b["drive"] == drive).collect();
        let ok = on.iter().filter(|b| b["standing"] == "ok").count();
        if on.len() != KEEP || ok != KEEP {
            problems.push(format!(
                "{drive} holds {} backups ({ok} trusted), retention keeps {KEEP}",
                on.len()
            ));
        }
        keys.extend(
            on.iter()
                .filter_map(|b| b["key"].as_str().map(str::to_owned)),
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    for key in &keys {
        if let Err(e) = rt.block_on(verify(bin, config, key)) {
            problems.push(format!("{e:#}"));
        }
    }
    // The local folder: each kept backup and its manifest, nothing else (a temp file left by
    // an aborted write would be here).
    let folder = local.join("shop");
    let files: Vec<String> = std::fs::read_dir(&folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    if files.len() != 2 * KEEP {
        problems.push(format!(
            "{} holds {} files, {KEEP} backups and their manifests expected: {files:?}",
            folder.display(),
            files.len()
        ));
    }
    Ok(problems)
}

/// The sum of a metric's samples whose labels contain `labels` (all of them when empty).
fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('{'))
                .then_some(())
                .filter(|()| rest.contains(labels))?;
            value.parse::<f64>().ok()
        })
        // An empty sum of floats is -0.
        .fold(0.0, |sum, v| sum + v)
}

#[cfg(test)]
mod tests {
    use super::{metric_sum, slope};

    #[test]
    fn the_slope_of_a_line_is_its_gradient_and_of_a_flat_series_zero() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 1.0)).collect();
        assert!((slope(&line).unwrap() - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 7.0)).collect();
        assert_eq!(slope(&flat), Some(0.0));
        assert_eq!(slope(&line[..2]), None);
    }

    #[test]
    fn metric_sums_count_only_the_named_series_with_the_labels() {
        let text = "# HELP backupman_backups_total x\n\
            backupman_backups_total{source=\"Shop\",status=\"finished\"} 118\n\
            backupman_backups_total{source=\"Other\",status=\"finished\"} 2\n\
            backupman_backups_total{source=\"Shop\",status=\"failed\"} 1\n\
            backupman_backups_total_created{source=\"Shop\"} 5\n\
            backupman_scheduler_skipped_total 3\n";
        assert_eq!(
            metric_sum(text, "backupman_backups_total", "status=\"finished\""),
            120.0
        );
        assert_eq!(
            metric_sum(text, "backupman_backups_total", "status=\"failed\""),
            1.0
        );
        assert_eq!(
            metric_sum(text, "backupman_scheduler_skipped_total", ""),
            3.0
        );
    }
}
