//! `cargo xtask bench`: peak memory and wall time of real backups, each beside a baseline
//! pipeline doing the same work with standard tools. Several runs; medians are reported.
//!
//! - `memory` (default): a ≥ 1 GiB SQLite database to two local drives; the claim is flat
//!   memory (peak RSS under 64 MiB) whatever the database size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, run};

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

fn big_sqlite(dir: &Path) -> Result<PathBuf> {
    let db = dir.join("big.sqlite");
    if db.metadata().map(|m| m.len()).unwrap_or(0) >= GIB {
        return Ok(db);
    }
    let _ = std::fs::remove_file(&db);
    eprintln!("generating a ≥ 1 GiB SQLite database at {}", db.display());
    // Rows of mixed text and hex: compresses about 2:1, like real dumps.
    let sql = "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT, note TEXT);\n\
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4600000)\n\
        INSERT INTO events SELECT i, 'kind-' || (i % 17), hex(randomblob(100)), 'event number ' || i || ' of the benchmark' FROM n;\n";
    run(Command::new("sqlite3").arg(&db).arg(sql))?;
    let size = db.metadata()?.len();
    if size < GIB {
        bail!("generated database is only {size} bytes");
    }
    Ok(db)
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("memory");
    match which {
        "memory" => memory(root),
        other => bail!("unknown benchmark {other:?}: memory"),
    }
}

fn memory(root: &Path) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "backupman-cli"]))?;
    let bin = root.join("target/release/backupman");
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
    let (mut ours_t, mut ours_rss, mut base_t, mut base_rss) = (vec![], vec![], vec![], vec![]);
    for i in 0..RUNS {
        let _ = std::fs::remove_dir_all(dir.join("out-a"));
        let _ = std::fs::remove_dir_all(dir.join("out-b"));
        let (t, rss) = measure(&[
            bin.to_str().unwrap(),
            "-q",
            "run",
            "-c",
            config.to_str().unwrap(),
        ])?;
        eprintln!(
            "run {}: backupman {t:.1} s, peak RSS {:.1} MiB",
            i + 1,
            rss as f64 / 1048576.0
        );
        ours_t.push(t);
        ours_rss.push(rss as f64);
        let (t, rss) = measure(&["sh", "-c", &baseline])?;
        eprintln!(
            "run {}: baseline  {t:.1} s, peak RSS {:.1} MiB",
            i + 1,
            rss as f64 / 1048576.0
        );
        base_t.push(t);
        base_rss.push(rss as f64);
    }
    let (ot, bt) = (median(ours_t), median(base_t));
    let orss = median(ours_rss) / 1048576.0;
    let brss = median(base_rss) / 1048576.0;
    println!(
        "| benchmark | source size | backupman (median of {RUNS}) | baseline (median of {RUNS}) | ratio |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| SQLite → 2 local drives, wall time | {:.2} GiB | {ot:.1} s | {bt:.1} s | {:.2}× |",
        size as f64 / GIB as f64,
        ot / bt
    );
    println!("| same, peak RSS | | {orss:.1} MiB | {brss:.1} MiB | |");
    if orss >= 64.0 {
        bail!("peak RSS {orss:.1} MiB is over the 64 MiB budget");
    }
    Ok(())
}
