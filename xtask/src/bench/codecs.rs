//! `cargo xtask bench codecs`: every codec on a database that compresses like real data
//! (pgbench scale 30 plus application-like rows: ids, paths, user agents, hex tokens; about
//! 4.5:1 under gzip -6), to one S3 drive on loopback, beside the standard pipelines and the
//! bare dump, in one run: medians of 3, peak RSS, stored sizes; then restores, backupman's
//! beside `gunzip -c | psql` and `zstd -dc | psql`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{BenchS3, MIB, RUNS, measure, median, pgbench_database, psql, release_binary};
use crate::run;

const DB: &str = "backupman_bench_realistic";
const RESTORE_DB: &str = "backupman_bench_restore";
/// Rows of the application-like table: with pgbench's 3 million accounts, a dump of about
/// 750 MB.
const APP_ROWS: u64 = 3_000_000;

/// One line of the table: a command and what it stored on the S3 server, if anything.
struct Row {
    name: String,
    cmd: Vec<String>,
    stores: bool,
}

fn pg_dump() -> String {
    format!("pg_dump -h 127.0.0.1 -U postgres {DB}")
}

pub(super) fn codecs(root: &Path) -> Result<()> {
    crate::services::ensure_tools()?;
    crate::services::ensure_databases()?;
    let bin = release_binary(root)?;
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    prepare_database()?;
    let server = BenchS3::s3s_fs(root, &dir.join("s3s-data"))?;

    let config = |name: &str, compression: &str, drives: usize| -> Result<String> {
        let path = dir.join(format!("codecs-{name}.yml"));
        let drive = server.drive_yaml();
        let mut yaml = format!(
            "data_sources:\n  - provider: postgres\n    label: {name}\n    host: 127.0.0.1\n    port: 5432\n    db_name: {DB}\n    user: postgres\n    tls: disable\n{drive}"
        );
        for extra in 1..drives {
            let more = drive
                .lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
                .replace("label: s3s-fs", &format!("label: s3s-fs-{extra}"))
                .replace("prefix: backupman", &format!("prefix: backupman-{extra}"));
            yaml.push_str(&more);
            yaml.push('\n');
        }
        yaml.push_str(&format!("compression: {compression}\n"));
        std::fs::write(&path, yaml)?;
        Ok(path.display().to_string())
    };
    let ours = |label: &str, config: String| Row {
        name: label.to_owned(),
        cmd: vec![
            bin.display().to_string(),
            "-q".into(),
            "run".into(),
            "-c".into(),
            config,
        ],
        stores: true,
    };
    let shell = |name: &str, pipeline: String, stores: bool| Row {
        name: name.to_owned(),
        cmd: vec!["bash".into(), "-c".into(), pipeline],
        stores,
    };
    let rows = vec![
        shell(
            "`pg_dump > /dev/null` (the floor)",
            format!("{} > /dev/null", pg_dump()),
            false,
        ),
        shell(
            "`pg_dump | gzip -6 | aws s3 cp -`",
            server.upload_pipeline(&format!("{} | gzip -6", pg_dump()), "baseline/gzip.sql.gz"),
            true,
        ),
        shell(
            "`pg_dump | pigz -6 | aws s3 cp -`",
            server.upload_pipeline(&format!("{} | pigz -6", pg_dump()), "baseline/pigz.sql.gz"),
            true,
        ),
        shell(
            "`pg_dump | zstd -3 -T2 | aws s3 cp -`",
            server.upload_pipeline(
                &format!("{} | zstd -q -3 -T2", pg_dump()),
                "baseline/zstd.sql.zst",
            ),
            true,
        ),
        ours(
            "backupman gzip 6, 1 thread",
            config("gzip1", "{codec: gzip, level: 6, threads: 1}", 1)?,
        ),
        ours(
            "backupman gzip 6, 2 threads",
            config("gzip2", "{codec: gzip, level: 6, threads: 2}", 1)?,
        ),
        ours(
            "backupman gzip 6, 2 threads, 3 drives",
            config("gzip3d", "{codec: gzip, level: 6, threads: 2}", 3)?,
        ),
        ours(
            "backupman zstd 3, 2 threads",
            config("zstd", "{codec: zstd, level: 3, threads: 2}", 1)?,
        ),
        ours(
            "backupman zstd 3, 2 threads, 3 drives",
            config("zstd3d", "{codec: zstd, level: 3, threads: 2}", 3)?,
        ),
    ];

    let mut results: Vec<(Vec<f64>, Vec<f64>, Option<u64>)> =
        vec![(vec![], vec![], None); rows.len()];
    for i in 0..RUNS {
        for (row, result) in rows.iter().zip(&mut results) {
            let cmd: Vec<&str> = row.cmd.iter().map(String::as_str).collect();
            let (t, rss) = measure(&cmd)?;
            eprintln!(
                "run {}: {} {t:.2} s, peak RSS {:.1} MiB",
                i + 1,
                row.name,
                rss as f64 / MIB
            );
            result.0.push(t);
            result.1.push(rss as f64 / MIB);
            if row.stores {
                let sizes = server.sizes_and_empty()?;
                result.2 = sizes
                    .iter()
                    .filter(|(k, _)| !k.ends_with(".json"))
                    .map(|(_, s)| *s)
                    .max();
            }
        }
    }
    let dump_size = dump_size()?;
    let wall: Vec<f64> = results.iter().map(|r| median(r.0.clone())).collect();
    let (floor, gzip_pipe, pigz_pipe) = (wall[0], wall[1], wall[2]);
    println!(
        "Plain dump: {:.0} MB ({dump_size} bytes)\n",
        dump_size as f64 / 1e6
    );
    println!(
        "| pipeline | wall (median of {RUNS}) | runs | × floor | gzip pipeline ÷ it | pigz pipeline ÷ it | peak RSS | stored | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((row, r), w) in rows.iter().zip(&results).zip(&wall) {
        let runs: Vec<String> = r.0.iter().map(|t| format!("{t:.1}")).collect();
        let (stored, ratio) = match r.2 {
            Some(s) => (
                format!("{:.0} MB", s as f64 / 1e6),
                format!("{:.2}:1", dump_size as f64 / s as f64),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "| {} | {w:.2} s | {} | {:.2}× | {:.2}× | {:.2}× | {:.1} MiB | {stored} | {ratio} |",
            row.name,
            runs.join(" / "),
            w / floor,
            gzip_pipe / w,
            pigz_pipe / w,
            median(r.1.clone()),
        );
    }
    restores(&bin, &dir, &rows)?;
    Ok(())
}

/// Restores of one gzip and one zstd backup, backupman's (from the S3 drive) beside the
/// standard tools' (from a local file), each into a freshly created database.
fn restores(bin: &Path, dir: &Path, rows: &[Row]) -> Result<()> {
    let gz = dir.join("restore.sql.gz");
    let zst = dir.join("restore.sql.zst");
    run(Command::new("bash").arg("-c").arg(format!(
        "set -o pipefail; {} | gzip -6 > {}",
        pg_dump(),
        gz.display()
    )))?;
    run(Command::new("bash").arg("-c").arg(format!(
        "set -o pipefail; {} | zstd -q -3 -T2 > {}",
        pg_dump(),
        zst.display()
    )))?;
    let config_of = |label: &str| {
        rows.iter()
            .find(|r| r.name == label)
            .map(|r| r.cmd[4].clone())
    };
    let gzip_config = config_of("backupman gzip 6, 2 threads").context("gzip row")?;
    let zstd_config = config_of("backupman zstd 3, 2 threads").context("zstd row")?;
    for config in [&gzip_config, &zstd_config] {
        run(Command::new(bin).args(["-q", "run", "-c", config]))?;
    }
    let psql_in = format!(
        "psql -X -q -h 127.0.0.1 -U postgres -d {RESTORE_DB} -v ON_ERROR_STOP=1 --single-transaction > /dev/null"
    );
    let restore = |config: &str, label: &str| {
        vec![
            bin.display().to_string(),
            "-q".into(),
            "restore".into(),
            "-c".into(),
            config.to_owned(),
            "--source".into(),
            label.into(),
            "--latest".into(),
            "--to".into(),
            RESTORE_DB.into(),
        ]
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "`gunzip -c | psql`",
            vec![
                "bash".into(),
                "-c".into(),
                format!("set -o pipefail; gunzip -c {} | {psql_in}", gz.display()),
            ],
        ),
        (
            "backupman restore (gzip, from S3)",
            restore(&gzip_config, "gzip2"),
        ),
        (
            "`zstd -dc | psql`",
            vec![
                "bash".into(),
                "-c".into(),
                format!("set -o pipefail; zstd -dc {} | {psql_in}", zst.display()),
            ],
        ),
        (
            "backupman restore (zstd, from S3)",
            restore(&zstd_config, "zstd"),
        ),
    ];
    let mut times = vec![vec![]; cases.len()];
    for i in 0..RUNS {
        for ((name, cmd), t) in cases.iter().zip(&mut times) {
            psql("postgres", &format!("DROP DATABASE IF EXISTS {RESTORE_DB}"))?;
            psql("postgres", &format!("CREATE DATABASE {RESTORE_DB}"))?;
            let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (secs, _) = measure(&cmd)?;
            eprintln!("restore run {}: {name} {secs:.2} s", i + 1);
            let accounts = psql(RESTORE_DB, "SELECT count(*) FROM pgbench_accounts")?;
            if accounts != "3000000" {
                bail!("{name} restored {accounts} accounts, not 3000000");
            }
            t.push(secs);
        }
    }
    psql("postgres", &format!("DROP DATABASE IF EXISTS {RESTORE_DB}"))?;
    println!("\n| restore | wall (median of {RUNS}) | runs |\n|---|---|---|");
    for ((name, _), t) in cases.iter().zip(times) {
        let runs: Vec<String> = t.iter().map(|t| format!("{t:.1}")).collect();
        println!("| {name} | {:.2} s | {} |", median(t), runs.join(" / "));
    }
    Ok(())
}

fn dump_size() -> Result<u64> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{} | wc -c", pg_dump()))
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("pg_dump size")
}

/// pgbench scale 30 and the application-like table, created once.
fn prepare_database() -> Result<()> {
    let exists = psql(
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DB}'"),
    )?;
    let ready = exists == "1"
        && psql(DB, "SELECT count(*) FROM app_requests")
            .ok()
            .as_deref()
            == Some(&APP_ROWS.to_string());
    if ready {
        return Ok(());
    }
    eprintln!("initialising {DB}: pgbench -i -s 30 and {APP_ROWS} application rows");
    pgbench_database(DB)?;
    psql(
        DB,
        &format!(
            "CREATE TABLE app_requests (id bigint PRIMARY KEY, user_id int, path text, user_agent text, \
             token text, status int, created_at timestamptz); \
             INSERT INTO app_requests SELECT g, (g * 7919) % 250000, \
             '/api/v2/users/' || ((g * 7919) % 250000) || '/documents/' || (g % 9973) || '.pdf', \
             (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36', \
                    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148', \
                    'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', \
                    'curl/8.5.0', 'okhttp/4.12.0', 'python-requests/2.32.3'])[1 + (g * 31) % 6], \
             md5(g::text || 'salt') || substr(md5(g::text), 1, 16), (ARRAY[200, 200, 200, 201, 304, 404, 500])[1 + g % 7], \
             timestamptz '2026-01-01' + g * interval '7 seconds' \
             FROM generate_series(1::bigint, {APP_ROWS}) g"
        ),
    )?;
    Ok(())
}
