//! Planted backups: someone with write access to the drive, and nothing else, replaces a
//! backup object and its manifest, with a correct SHA-256 and sizes, so that only the
//! restore's own defences can stop it. A restore applies data, never commands: a psql
//! meta-command or a `mariadb` client command in the dump is refused and never runs (a marker
//! file it would write never appears) and the target database stays as it was, through
//! `restore` and `verify --restore` alike. A restore is bounded: a gzip bomb whose manifest
//! lies about its size stops at that size, and one whose manifest tells the truth is refused
//! when the folder lacks the space, leaving the target untouched and no staged file behind.
//!
//! The PostgreSQL and MariaDB tests need the servers (`cargo xtask test`); the SQLite ones
//! need nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{Run, backupman, backupman_command, demo_setup, files};
use backupman_testkit::db::{Db, MyDb, PgDb};
use sha2::{Digest, Sha256};

/// A local drive `L` in `drive/`, as YAML following `data_sources`.
const DRIVE: &str = "drives:\n  - provider: local\n    label: L\n    folder: drive\n";

/// The prefix of `verify --restore`'s scratch databases.
const SCRATCH_PREFIX: &str = "backupman_verify";

/// A source backed up onto a local drive, whose stored object can be replaced.
struct Backup {
    tmp: tempfile::TempDir,
    config: String,
    label: &'static str,
    key: String,
    object: PathBuf,
}

impl Backup {
    /// `run` with `config`, which must store exactly one object.
    fn run(tmp: tempfile::TempDir, config: String, label: &'static str) -> Self {
        let run = backupman(tmp.path(), &["run", "--config", &config]);
        assert_eq!(run.code, 0, "{}", run.all());
        let stored: Vec<PathBuf> = files(&tmp.path().join("drive"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".gz"))
            .collect();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let object = stored[0].clone();
        let key = object
            .strip_prefix(tmp.path().join("drive"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Self {
            tmp,
            config,
            label,
            key,
            object,
        }
    }

    /// A database of engine `D` with one table, backed up as source `label`.
    fn of<D: Db>(src: &D, label: &'static str) -> Self {
        src.sql("CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'kept'), (2, 'also kept');");
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config.yml");
        std::fs::write(
            &config,
            format!("data_sources:\n{}{DRIVE}", src.source_yaml(label)),
        )
        .unwrap();
        let config = config.display().to_string();
        Self::run(tmp, config, label)
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Where a planted command would leave its mark.
    fn marker(&self) -> PathBuf {
        self.dir().join("pwned.txt")
    }

    /// Replaces the stored object with `packed` and rewrites its manifest to match it, as
    /// someone with write access to the bucket can: `size` is what the manifest claims the
    /// object unpacks to.
    fn plant_packed(&self, packed: &[u8], size: u64) {
        std::fs::write(&self.object, packed).unwrap();
        let manifest_path = format!("{}.json", self.object.display());
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        manifest["sha256"] = hex(&Sha256::digest(packed)).into();
        manifest["compressed_size"] = (packed.len() as u64).into();
        manifest["size"] = size.into();
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }

    /// Replaces the stored object with `plain`, gzipped, and its manifest with the truth.
    fn plant(&self, plain: &str) {
        self.plant_packed(&gzip(plain.as_bytes()), plain.len() as u64);
    }

    /// `backupman ARGS --config CONFIG`, its process id (which names its scratch databases)
    /// and what it printed.
    fn bm(&self, args: &[&str], envs: &[(&str, &str)]) -> (u32, Run) {
        let mut all = args.to_vec();
        all.extend(["--config", &self.config]);
        let child = backupman_command(self.dir(), &all, envs)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        (pid, run)
    }

    /// `restore --source LABEL --latest --force`: over the source's own database.
    fn restore_over_source(&self, envs: &[(&str, &str)]) -> Run {
        let args = ["restore", "--source", self.label, "--latest", "--force"];
        self.bm(&args, envs).1
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(plain).unwrap();
    gz.finish().unwrap()
}

/// A planted command failed the restore, named with its line, and applied nothing.
fn assert_refused(run: &Run, line: u64, command: &str) {
    assert_eq!(run.code, 1, "{}", run.all());
    let said = &run.stderr;
    assert!(said.contains("refusing the backup"), "{said}");
    assert!(said.contains(&format!("line {line}: ")), "{said}");
    assert!(said.contains(command), "{said}");
    assert!(
        said.contains("a restore applies data, never commands"),
        "{said}"
    );
    assert!(said.contains("nothing was applied"), "{said}");
}

/// `verify KEY --restore` fails on the planted object, runs nothing, and leaves no scratch
/// database of its own behind.
fn assert_drill_refused<D: Db>(b: &Backup, command: &str) {
    let (pid, drill) = b.bm(&["verify", &b.key, "--restore"], &[]);
    assert_eq!(drill.code, 1, "{}", drill.all());
    assert!(
        drill.stderr.contains("refusing the backup"),
        "{}",
        drill.stderr
    );
    assert!(drill.stderr.contains(command), "{}", drill.stderr);
    assert!(
        !b.marker().exists(),
        "the planted command ran: {}",
        drill.all()
    );
    assert_eq!(
        D::databases_starting_with(&format!("{SCRATCH_PREFIX}_{pid}_")),
        Vec::<String>::new(),
        "scratch database left behind"
    );
}

// ------------------------------------------------------------------------------ PostgreSQL

/// A planted PostgreSQL dump: it drops the table and creates its own, sends enough COPY rows
/// that the first chunks reach psql, then runs `command` (built around the marker path).
fn planted_pg(rows_before: u32, command: &str) -> String {
    let mut dump = String::from(
        "SET statement_timeout = 0;\nDROP TABLE IF EXISTS public.t;\nCREATE TABLE public.planted (id int);\nCOPY public.planted (id) FROM stdin;\n",
    );
    for i in 0..rows_before {
        dump.push_str(&format!("{i}\n"));
    }
    dump.push_str("\\.\n");
    dump.push_str(command);
    dump.push('\n');
    dump
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn a_planted_psql_command_runs_nowhere_and_applies_nothing() {
    let src = PgDb::create("planted_pg");
    let b = Backup::of(&src, "PG");
    let before = src.fingerprint();
    let marker = b.marker().display().to_string();
    let rows = 300_000;
    // Line numbers: 4 lines before the rows, the rows, the `\.` line.
    let line = 4 + u64::from(rows) + 2;
    for command in [
        format!("\\! sh -c 'id >> {marker}'"),
        format!("SELECT 1; \\! sh -c 'id >> {marker}'"),
        format!("\\o {marker}\nSELECT 'written';"),
    ] {
        b.plant(&planted_pg(rows, &command));
        let restore = b.restore_over_source(&[]);
        let shown = &command[command.find('\\').unwrap()..][..2];
        assert_refused(&restore, line, shown);
        assert!(
            !b.marker().exists(),
            "the planted command ran: {}",
            restore.all()
        );
        assert_eq!(
            src.fingerprint(),
            before,
            "the target changed: {}",
            restore.all()
        );
        assert_drill_refused::<PgDb>(&b, shown);
    }
    assert_eq!(
        src.sql("SELECT note FROM t ORDER BY id"),
        "kept\nalso kept\n"
    );
}

// ------------------------------------------------------------------------------ MariaDB

/// A planted MariaDB dump, without mariadb-dump's sandbox line: it drops the table and
/// creates its own, then runs `command`.
fn planted_mariadb(command: &str) -> String {
    format!(
        "DROP TABLE IF EXISTS `t`;\nCREATE TABLE `planted` (id int);\nINSERT INTO `planted` VALUES (1);\n{command}\n"
    )
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn a_planted_mariadb_command_runs_nowhere_and_applies_nothing() {
    let src = MyDb::create("planted_my");
    let b = Backup::of(&src, "My");
    let before = src.fingerprint();
    let marker = b.marker().display().to_string();
    for (command, shown) in [
        (format!("\\! sh -c 'id >> {marker}'"), "\\\\! sh -c"),
        (format!("system sh -c 'id >> {marker}'"), "system sh -c"),
        (
            format!("SELECT 1; \\! sh -c 'id >> {marker}'"),
            "\\\\! sh -c",
        ),
        (format!("tee {marker}"), "tee "),
    ] {
        b.plant(&planted_mariadb(&command));
        let restore = b.restore_over_source(&[]);
        assert_refused(&restore, 4, shown);
        assert!(
            restore.stderr.contains("checked before restoring"),
            "{}",
            restore.stderr
        );
        assert!(
            !b.marker().exists(),
            "the planted command ran: {}",
            restore.all()
        );
        assert_eq!(
            src.fingerprint(),
            before,
            "the target changed: {}",
            restore.all()
        );
        assert_drill_refused::<MyDb>(&b, shown);
    }
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn a_mariadb_client_without_sandbox_is_refused_before_anything_is_applied() {
    let src = MyDb::create("nosandbox_my");
    let b = Backup::of(&src, "My");
    let before = src.fingerprint();
    // MySQL's own client has no --sandbox: a client command in a dump would run.
    let bin = b.dir().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("mariadb");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$1\" in\n  --version) echo 'mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)' ;;\n  --help) echo 'Usage: mysql [OPTIONS] [database]'; echo '  -B, --batch  Do not use history file.' ;;\n  *) echo 'the client ran' >&2; exit 3 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let restore = b.restore_over_source(&[("PATH", &path)]);
    assert_eq!(restore.code, 1, "{}", restore.all());
    assert!(
        restore.stderr.contains("has no --sandbox option")
            && restore
                .stderr
                .contains("MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 or newer"),
        "{}",
        restore.stderr
    );
    assert!(
        !restore.stderr.contains("the client ran"),
        "{}",
        restore.stderr
    );
    assert_eq!(src.fingerprint(), before);
}

// ------------------------------------------------------------------------------ SQLite

/// The demo database backed up onto a local drive, as source `Demo`.
fn sqlite_backup() -> Backup {
    let (tmp, config) = demo_setup(DRIVE);
    Backup::run(tmp, config, "Demo")
}

/// `mib` MiB of zeros, gzipped: one member of 1 MiB, repeated (gunzip reads every member).
fn zeros_bomb(mib: usize) -> Vec<u8> {
    gzip(&vec![0u8; 1 << 20]).repeat(mib)
}

/// Files a restore stages beside the target, left behind.
fn staged_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".backupman-restore-"))
        .collect()
}

/// The restore failed, the demo database is as it was and nothing staged is left.
fn assert_untouched(b: &Backup, run: &Run, original: &[u8]) {
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("nothing was"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(b.dir().join("demo.sqlite")).unwrap(),
        original,
        "the target changed"
    );
    assert_eq!(staged_files(b.dir()), Vec::<PathBuf>::new());
}

#[test]
fn a_gzip_bomb_with_a_lying_manifest_stops_at_the_size_it_claims() {
    let b = sqlite_backup();
    let original = std::fs::read(b.dir().join("demo.sqlite")).unwrap();
    let bomb = zeros_bomb(200);
    b.plant_packed(&bomb, 1_000);

    let started = std::time::Instant::now();
    let restore = b.restore_over_source(&[]);
    assert_untouched(&b, &restore, &original);
    assert!(
        restore
            .stderr
            .contains("unpacks to more than the 1000 bytes its manifest says"),
        "{}",
        restore.stderr
    );
    // verify decodes no further either.
    let (_, verify) = b.bm(&["verify", &b.key], &[]);
    assert_eq!(verify.code, 1, "{}", verify.all());
    assert!(
        verify
            .stderr
            .contains("more than the 1000 bytes its manifest says"),
        "{}",
        verify.stderr
    );
    let (_, drill) = b.bm(&["verify", &b.key, "--restore"], &[]);
    assert_eq!(drill.code, 1, "{}", drill.all());
    // Decoding 200 MiB of zeros takes far longer than stopping after 1,000 bytes.
    eprintln!(
        "restore, verify and verify --restore of a 200 MiB bomb: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_gzip_bomb_with_its_true_size_stages_no_more_than_that_and_cleans_up() {
    let b = sqlite_backup();
    let original = std::fs::read(b.dir().join("demo.sqlite")).unwrap();
    let bomb = zeros_bomb(64);
    b.plant_packed(&bomb, 64 << 20);
    let restore = b.restore_over_source(&[]);
    assert_untouched(&b, &restore, &original);
    assert!(
        restore.stderr.contains("not an SQLite database file"),
        "{}",
        restore.stderr
    );
}

#[test]
fn a_restore_needing_more_space_than_the_folder_has_writes_nothing() {
    let b = sqlite_backup();
    let original = std::fs::read(b.dir().join("demo.sqlite")).unwrap();
    let available: u64 = backupman_testkit::db::shell(&format!(
        "df -B1 --output=avail '{}' | tail -n 1",
        b.dir().display()
    ))
    .trim()
    .parse()
    .unwrap();
    // A manifest claiming more than the disk holds: the restore must refuse before writing.
    let claimed = available + (1 << 30);
    b.plant_packed(&zeros_bomb(1), claimed);
    let restore = b.restore_over_source(&[]);
    assert_untouched(&b, &restore, &original);
    assert!(
        restore.stderr.contains(&format!(
            "not enough free space in {}: restoring needs {claimed} bytes",
            b.dir().display()
        )),
        "{}",
        restore.stderr
    );
}
