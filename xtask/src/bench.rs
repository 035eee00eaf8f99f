//! `cargo xtask bench`: peak memory and wall time of real backups, each beside a baseline
//! pipeline doing the same work with standard tools. Several runs; medians are reported.
//!
//! - `memory` (default): a ≥ 1 GiB SQLite database to two local drives; the claim is flat
//!   memory (peak RSS under 64 MiB) whatever the database size.
//! - `s3`: a ≥ 300 MiB SQLite database to an s3s-fs server (started here, on a random loopback
//!   port) as a multipart upload, beside `sqlite3 .backup` + `gzip -6 | aws s3 cp -`; peak RSS
//!   must stay under 64 MiB.
//! - `postgres`: a `pgbench -i -s 30` database to the same kind of server, beside
//!   `pg_dump | gzip -6 | aws s3 cp -`.
//! - `codecs`: every codec on data that compresses like real data, beside the gzip, pigz and
//!   zstd pipelines and the bare dump, and restores beside `gunzip -c | psql` (`bench/codecs.rs`).
//! - `scale`: 50 small sources, and 1,000 stored backups (list, run, `aws s3 ls`, `serve`),
//!   behind a 10 ms one-way delay; peak RSS against `--parallel` and drives (`bench/scale.rs`).
//! - `page`: `serve`'s status page for 20 sources × 1,000 stored backups on a local drive:
//!   its size and the time to answer it, beside `GET /api/backups` (`bench/page.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, run};

mod codecs;
mod page;
mod scale;

const RUNS: usize = 3;
const GIB: u64 = 1024 * 1024 * 1024;

/// Runs `cmd` under a tiny Python wrapper that reports the children's peak RSS exactly
/// (getrusage), which polling /proc could miss.
fn measure(cmd: &[&str]) -> Result<(f64, u64)> {
    let wrapper = "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL)\nprint(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(r.returncode)";
    let start = Instant::now();
    let out = Command::new("python3")
        .arg("-c")
        .arg(wrapper)
        .args(cmd)
        .output()?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let kib: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("rusage output")?;
    Ok((secs, kib * 1024))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A ≥ 1 GiB SQLite database (see [`events_sqlite`]).
fn big_sqlite(dir: &Path) -> Result<PathBuf> {
    events_sqlite(dir, "big.sqlite", 4_600_000, GIB, "1 GiB")
}

/// A ≥ 300 MiB SQLite database of the same rows as [`big_sqlite`].
fn medium_sqlite(dir: &Path) -> Result<PathBuf> {
    events_sqlite(
        dir,
        "medium.sqlite",
        1_400_000,
        300 * 1024 * 1024,
        "300 MiB",
    )
}

/// `dir/file`, a SQLite database of `rows` events, generated unless it is there already with
/// at least `min` bytes (`min_text`), and failing when it comes out smaller.
pub(crate) fn events_sqlite(
    dir: &Path,
    file: &str,
    rows: u64,
    min: u64,
    min_text: &str,
) -> Result<PathBuf> {
    let db = dir.join(file);
    if db.metadata().map(|m| m.len()).unwrap_or(0) >= min {
        return Ok(db);
    }
    let _ = std::fs::remove_file(&db);
    eprintln!(
        "generating a ≥ {min_text} SQLite database at {}",
        db.display()
    );
    // Rows of mixed text and hex: compresses about 2:1, like real dumps.
    let sql = format!(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT, note TEXT);\n\
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})\n\
        INSERT INTO events SELECT i, 'kind-' || (i % 17), hex(randomblob(100)), 'event number ' || i || ' of the benchmark' FROM n;\n"
    );
    run(Command::new("sqlite3").arg(&db).arg(sql))?;
    let size = db.metadata()?.len();
    if size < min {
        bail!("generated database is only {size} bytes");
    }
    Ok(db)
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("memory");
    match which {
        "memory" => memory(root),
        "s3" => s3(root),
        "postgres" => postgres(root),
        "codecs" => codecs::codecs(root),
        "scale" => scale::scale(root),
        "page" => page::page(root),
        other => bail!("unknown benchmark {other:?}: memory, s3, postgres, codecs, scale or page"),
    }
}

fn memory(root: &Path) -> Result<()> {
    let bin = release_binary(root)?;
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let db = big_sqlite(&dir)?;
    let size = db.metadata()?.len();
    let config = dir.join("memory.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: {}\ndrives:\n  - provider: local\n    label: A\n    folder: {}\n  - provider: local\n    label: B\n    folder: {}\n",
            db.display(),
            dir.join("out-a").display(),
            dir.join("out-b").display()
        ),
    )?;
    let baseline = format!(
        "sqlite3 {db} '.backup {staged}' && gzip -6 -c {staged} | tee {a} > {b}; rm -f {staged}",
        db = db.display(),
        staged = dir.join("staged.sqlite").display(),
        a = dir.join("baseline-a.gz").display(),
        b = dir.join("baseline-b.gz").display()
    );
    compare(
        "SQLite → 2 local drives",
        &format!("{:.2} GiB", size as f64 / GIB as f64),
        &bin,
        &config,
        &["sh", "-c", &baseline],
        |side| {
            if side == Side::Ours {
                let _ = std::fs::remove_dir_all(dir.join("out-a"));
                let _ = std::fs::remove_dir_all(dir.join("out-b"));
            }
            Ok(())
        },
        |_| Ok(None),
    )
}

/// The two commands a benchmark measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// backupman
    Ours,
    /// the standard tools doing the same work
    Baseline,
}

/// Measures backupman (`bin -q run -c config`) and `baseline`, alternately, [`RUNS`] times
/// each, and prints table rows of the medians: wall time, peak RSS and, when `stored` reports
/// them, the sizes of the objects stored in the last run. `prepare` runs before each
/// measurement and `stored` after it, neither measured. Fails when backupman's peak RSS is
/// over the 64 MiB budget.
fn compare(
    what: &str,
    source_size: &str,
    bin: &Path,
    config: &Path,
    baseline: &[&str],
    mut prepare: impl FnMut(Side) -> Result<()>,
    mut stored: impl FnMut(Side) -> Result<Option<u64>>,
) -> Result<()> {
    let ours = [
        bin.to_str().unwrap(),
        "-q",
        "run",
        "-c",
        config.to_str().unwrap(),
    ];
    let (mut ours_t, mut ours_rss, mut base_t, mut base_rss) = (vec![], vec![], vec![], vec![]);
    let mut object_sizes = (None, None);
    for i in 0..RUNS {
        for (side, cmd, name) in [
            (Side::Ours, &ours[..], "backupman"),
            (Side::Baseline, baseline, "baseline "),
        ] {
            prepare(side)?;
            let (t, rss) = measure(cmd)?;
            eprintln!(
                "run {}: {name} {t:.1} s, peak RSS {:.1} MiB",
                i + 1,
                rss as f64 / MIB
            );
            let size = stored(side)?;
            let (times, peaks, object) = match side {
                Side::Ours => (&mut ours_t, &mut ours_rss, &mut object_sizes.0),
                Side::Baseline => (&mut base_t, &mut base_rss, &mut object_sizes.1),
            };
            *object = size;
            times.push(t);
            peaks.push(rss as f64);
        }
    }
    let (ot, bt) = (median(ours_t), median(base_t));
    let (orss, brss) = (median(ours_rss) / MIB, median(base_rss) / MIB);
    println!(
        "| benchmark | source size | backupman (median of {RUNS}) | baseline (median of {RUNS}) | ratio |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {what}, wall time | {source_size} | {ot:.1} s | {bt:.1} s | {:.2}× |",
        ot / bt
    );
    println!("| same, peak RSS | | {orss:.1} MiB | {brss:.1} MiB | |");
    if let (Some(ours_size), Some(base_size)) = object_sizes {
        println!(
            "| same, object stored | | {:.1} MiB | {:.1} MiB | |",
            ours_size as f64 / MIB,
            base_size as f64 / MIB
        );
    }
    if orss >= 64.0 {
        bail!("peak RSS {orss:.1} MiB is over the 64 MiB budget");
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;
const BUCKET: &str = "bench";

/// An S3 server on a random `127.0.0.1` port with one bucket, [`BUCKET`]: s3s-fs, or Ceph's
/// RADOS Gateway (through the test kit's `ceph-rgw` program); stopped when dropped.
pub(crate) struct BenchS3 {
    child: std::process::Child,
    pub(crate) endpoint: String,
    aws: PathBuf,
    access_key: String,
    secret_key: String,
}

const ACCESS_KEY: &str = "bench";
const SECRET_KEY: &str = "bench-secret-key";

impl BenchS3 {
    /// s3s-fs storing its objects as files under `data`.
    pub(crate) fn s3s_fs(root: &Path, data: &Path) -> Result<Self> {
        let env = crate::s3servers::provision(&root.join("target/test-tools"))?;
        let var = |name: &str| provisioned(&env, name);
        let _ = std::fs::remove_dir_all(data);
        std::fs::create_dir_all(data)?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let child = Command::new(var("BACKUPMAN_S3S_FS_BIN")?)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cannot start s3s-fs")?;
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            aws: var("BACKUPMAN_AWS_BIN")?,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed().as_secs() > 30 {
                bail!("s3s-fs did not listen on port {port}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        run(server
            .aws()
            .args(["s3", "mb", &format!("s3://{BUCKET}")])
            .stdout(std::process::Stdio::null()))?;
        Ok(server)
    }

    /// Ceph's RADOS Gateway on a throw-away cluster (about 15 s to start), whose listing, like
    /// S3's, costs the keys it returns. `ceph_rgw_bin` is the test kit's `ceph-rgw` program.
    pub(crate) fn ceph_rgw(root: &Path, ceph_rgw_bin: &Path) -> Result<Self> {
        let env = crate::s3servers::provision(&root.join("target/test-tools"))?;
        let aws = provisioned(&env, "BACKUPMAN_AWS_BIN")?;
        let mut child = Command::new(ceph_rgw_bin)
            .arg(BUCKET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot start the test kit's ceph-rgw")?;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().context("ceph-rgw's stdout")?),
            &mut line,
        )?;
        let mut fields = line.split_whitespace();
        let (Some(port), Some(access_key), Some(secret_key)) =
            (fields.next(), fields.next(), fields.next())
        else {
            bail!("ceph-rgw did not start (it printed {line:?})");
        };
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            aws,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            child,
        })
    }

    /// The aws CLI pointed at this server.
    pub(crate) fn aws(&self) -> Command {
        self.aws_at(&self.endpoint)
    }

    /// The aws CLI pointed at `endpoint` (this server behind a proxy).
    pub(crate) fn aws_at(&self, endpoint: &str) -> Command {
        let mut cmd = Command::new(&self.aws);
        cmd.arg("--endpoint-url").arg(endpoint).envs(self.aws_env());
        cmd
    }

    fn aws_env(&self) -> [(&'static str, &str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_key),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/dev/null"),
        ]
    }

    /// One S3 drive of a backupman configuration's `drives` list on this server, reached at
    /// `endpoint` (its own, or a proxy's in front of it), labelled `label`, storing under
    /// `prefix`.
    pub(crate) fn drive_entry(&self, label: &str, endpoint: &str, prefix: &str) -> String {
        format!(
            "  - provider: s3\n    label: {label}\n    bucket: {BUCKET}\n    region: us-east-1\n    access_key: {}\n    secret_key: {}\n    endpoint: {endpoint}\n    prefix: {prefix}\n    force_path_style: true\n",
            self.access_key, self.secret_key
        )
    }

    /// `cmd | aws s3 cp - s3://bench/<key>` as a shell pipeline.
    fn upload_pipeline(&self, cmd: &str, key: &str) -> String {
        let env: Vec<String> = self
            .aws_env()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "set -o pipefail; {cmd} | env {} {} --endpoint-url {} s3 cp - s3://{BUCKET}/{key}",
            env.join(" "),
            self.aws.display(),
            self.endpoint
        )
    }

    /// The drive section of a backupman configuration for this server.
    fn drive_yaml(&self) -> String {
        format!(
            "drives:\n{}",
            self.drive_entry("s3s-fs", &self.endpoint, "backupman")
        )
    }

    /// Sizes of the objects in the bucket, then empties it.
    fn sizes_and_empty(&self) -> Result<Vec<(String, u64)>> {
        let out = self
            .aws()
            .args(["s3", "ls", "--recursive", &format!("s3://{BUCKET}/")])
            .output()?;
        let sizes = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace().skip(2);
                let size = f.next()?.parse().ok()?;
                Some((f.next()?.to_owned(), size))
            })
            .collect();
        run(self.aws().args([
            "s3",
            "rm",
            "--recursive",
            "--quiet",
            &format!("s3://{BUCKET}/"),
        ]))?;
        Ok(sizes)
    }
}

/// The program `name` (a `BACKUPMAN_*_BIN` variable) among what `s3servers::provision` set up.
fn provisioned(env: &[(String, String)], name: &str) -> Result<PathBuf> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| PathBuf::from(v))
        .with_context(|| format!("{name} not provisioned"))
}

impl Drop for BenchS3 {
    fn drop(&mut self) {
        // ceph-rgw stops its cluster (and removes its folder) when its stdin closes; s3s-fs
        // has nothing to clean up.
        match self.child.stdin.take() {
            Some(stdin) => drop(stdin),
            None => {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// [`compare`] against `server`: `baseline` is a bash pipeline, and the bucket is emptied
/// after each run, noting the size of the object stored.
fn compare_on_s3(
    bin: &Path,
    config: &Path,
    baseline: &str,
    server: &BenchS3,
    what: &str,
    source_size: &str,
) -> Result<()> {
    compare(
        what,
        source_size,
        bin,
        config,
        &["bash", "-c", baseline],
        |_| Ok(()),
        |side| {
            let sizes = server.sizes_and_empty()?;
            let size = match side {
                Side::Ours => sizes
                    .iter()
                    .find(|(k, _)| k.ends_with(".gz"))
                    .map(|(_, s)| *s)
                    .context("backupman stored no .gz object")?,
                Side::Baseline => sizes
                    .first()
                    .map(|(_, s)| *s)
                    .context("baseline stored nothing")?,
            };
            Ok(Some(size))
        },
    )
}

pub(crate) fn release_binary(root: &Path) -> Result<PathBuf> {
    run(cargo().args(["build", "--release", "-p", "backupman-cli"]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release/backupman"))
}

fn s3(root: &Path) -> Result<()> {
    let bin = release_binary(root)?;
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let db = medium_sqlite(&dir)?;
    let size = db.metadata()?.len();
    let server = BenchS3::s3s_fs(root, &dir.join("s3s-data"))?;
    let config = dir.join("s3.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Medium\n    db_path: {}\n{}",
            db.display(),
            server.drive_yaml()
        ),
    )?;
    let staged = dir.join("staged.sqlite");
    let baseline = server.upload_pipeline(
        &format!(
            "sqlite3 {db} '.backup {staged}' && gzip -6 -c {staged}",
            db = db.display(),
            staged = staged.display()
        ),
        "baseline/medium.sqlite.gz",
    );
    let baseline = format!("{baseline}; s=$?; rm -f {}; exit $s", staged.display());
    compare_on_s3(
        &bin,
        &config,
        &baseline,
        &server,
        "SQLite → s3s-fs (multipart)",
        &format!("{:.0} MiB", size as f64 / MIB),
    )
}

fn psql(db: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql])
        .output()?;
    if !out.status.success() {
        bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `db`, created anew and initialised with `pgbench -i -s 30` (3 million accounts).
fn pgbench_database(db: &str) -> Result<()> {
    psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"))?;
    psql("postgres", &format!("CREATE DATABASE {db}"))?;
    run(Command::new("pgbench").args([
        "-i",
        "-s",
        "30",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        db,
    ]))
}

fn postgres(root: &Path) -> Result<()> {
    const DB: &str = "backupman_bench_pgbench";
    let bin = release_binary(root)?;
    crate::services::ensure_databases()?;
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let exists = psql(
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DB}'"),
    )?;
    let ready = exists == "1"
        && psql(DB, "SELECT count(*) FROM pgbench_accounts")
            .ok()
            .as_deref()
            == Some("3000000");
    if !ready {
        eprintln!("initialising {DB} with pgbench -i -s 30");
        pgbench_database(DB)?;
    }
    let size = psql(DB, &format!("SELECT pg_database_size('{DB}')"))?
        .parse::<u64>()
        .context("database size")?;
    let dump = Command::new("sh")
        .arg("-c")
        .arg(format!("pg_dump -h 127.0.0.1 -U postgres {DB} | wc -c"))
        .output()?;
    let dump: u64 = String::from_utf8_lossy(&dump.stdout)
        .trim()
        .parse()
        .context("pg_dump size")?;
    let server = BenchS3::s3s_fs(root, &dir.join("s3s-data"))?;
    let config = dir.join("postgres.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: postgres\n    label: Pgbench\n    host: 127.0.0.1\n    port: 5432\n    db_name: {DB}\n    user: postgres\n    tls: disable\n{}",
            server.drive_yaml()
        ),
    )?;
    let baseline = server.upload_pipeline(
        &format!("pg_dump -h 127.0.0.1 -U postgres {DB} | gzip -6"),
        "baseline/pgbench.sql.gz",
    );
    compare_on_s3(
        &bin,
        &config,
        &baseline,
        &server,
        "PostgreSQL (pgbench -s 30) → s3s-fs",
        &format!(
            "{:.0} MiB on disk, {:.0} MiB plain dump",
            size as f64 / MIB,
            dump as f64 / MIB
        ),
    )
}
