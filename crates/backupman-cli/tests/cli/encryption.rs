//! age encryption end to end with the real binary and real tools: a backup encrypted by
//! `run` decrypts with the `age` CLI and restores with `restore --identity` into PostgreSQL,
//! MariaDB and SQLite; without an identity, or with the wrong one, `restore` fails clearly
//! and the target is unchanged; `verify` checks the ciphertext without an identity, looks
//! inside with one, and fails on a damaged object either way.
//! Run with `cargo xtask test` (PostgreSQL on 127.0.0.1:5432, MariaDB on 127.0.0.1:3306, `age`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Run, backupman_env, files, sqlite_rows};
use backupman_testkit::age_keygen;
use backupman_testkit::db::{Db, MyDb, PgDb};

/// Rows both servers load, with a value to find in the decrypted dump.
const FIXTURE: &str = "CREATE TABLE notes (id int PRIMARY KEY, body varchar(60)); \
     INSERT INTO notes VALUES (1, 'plaintext-marker-4711'), (2, 'second row'), (3, NULL);";

/// A configuration backing `source_yaml` up, encrypted, to a local drive, with a right and a
/// wrong identity beside it.
struct Setup {
    tmp: tempfile::TempDir,
    config: String,
    right: PathBuf,
    wrong: PathBuf,
    public: String,
}

impl Setup {
    fn new(source_yaml: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let right = tmp.path().join("backup-key.txt");
        let wrong = tmp.path().join("other-key.txt");
        let public = age_keygen(&right);
        age_keygen(&wrong);
        let config = tmp.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "data_sources:\n{source_yaml}drives:\n  - provider: local\n    label: L\n    folder: drive\nencryption:\n  age_recipients:\n    - {public}\n"
            ),
        )
        .unwrap();
        Self {
            config: config.display().to_string(),
            tmp,
            right,
            wrong,
            public,
        }
    }

    fn bm(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--config", &self.config]);
        backupman_env(self.tmp.path(), &all, envs)
    }

    fn right(&self) -> &str {
        self.right.to_str().unwrap()
    }

    fn wrong(&self) -> &str {
        self.wrong.to_str().unwrap()
    }

    /// `run`, then the one stored object: it must end `{extension}.gz.age`, and its manifest
    /// must say it is encrypted, to whom, and hold no identity.
    fn run(&self, extension: &str) -> (PathBuf, serde_json::Value) {
        let run = self.bm(&["run"], &[]);
        assert_eq!(run.code, 0, "{}", run.all());
        let stored: Vec<PathBuf> = files(&self.tmp.path().join("drive"))
            .into_iter()
            .filter(|p| !p.to_string_lossy().ends_with(".json"))
            .collect();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let object = stored[0].clone();
        assert!(
            object
                .to_string_lossy()
                .ends_with(&format!(".{extension}.gz.age")),
            "{}",
            object.display()
        );
        let text = std::fs::read_to_string(format!("{}.json", object.display())).unwrap();
        assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(manifest["encryption"], "age");
        assert_eq!(manifest["recipients"][0], self.public);
        let list = self.bm(&["list", "--json"], &[]);
        assert_eq!(list.code, 0, "{}", list.all());
        assert!(list.stdout.contains(".gz.age\""), "{}", list.stdout);
        (object, manifest)
    }

    /// `age -d -i IDENTITY OBJECT | gunzip`: the plain dump, as an operator without backupman
    /// would read it.
    fn age_cli(&self, object: &Path) -> Vec<u8> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "age -d -i '{}' '{}' | gunzip -c",
                self.right(),
                object.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `run` failed because the wrong identity was given, and said so naming its file.
    fn assert_wrong_identity(&self, run: &Run) {
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(run.stderr.contains("no identity matches"), "{}", run.stderr);
        assert!(run.stderr.contains(self.wrong()), "{}", run.stderr);
    }

    /// `verify --latest` without, with the wrong and with the right identity.
    fn verify_each_way(&self) {
        let outside = self.bm(&["verify", "--latest", "--json"], &[]);
        assert_eq!(outside.code, 0, "{}", outside.all());
        assert!(
            outside
                .stderr
                .contains("could not be looked inside without an identity"),
            "{}",
            outside.stderr
        );
        let report: serde_json::Value = serde_json::from_str(&outside.stdout).unwrap();
        assert_eq!(report[0]["ok"], true);
        assert_eq!(report[0]["content_checked"], false);

        let wrong = self.bm(&["verify", "--latest", "--identity", self.wrong()], &[]);
        self.assert_wrong_identity(&wrong);

        let inside = self.bm(
            &["verify", "--latest", "--json"],
            &[("BACKUPMAN_AGE_IDENTITY", self.right())],
        );
        assert_eq!(inside.code, 0, "{}", inside.all());
        assert!(
            inside.stderr.contains("decrypted and decoded"),
            "{}",
            inside.stderr
        );
        let report: serde_json::Value = serde_json::from_str(&inside.stdout).unwrap();
        assert_eq!(report[0]["content_checked"], true);
    }

    /// A restore into `target` (which holds data, so `--force`) that fails without an identity
    /// and with the wrong one, leaving `snapshot()` as it was.
    fn refused_restores(&self, label: &str, target: &str, snapshot: impl Fn() -> String) {
        let before = snapshot();
        let restore = [
            "restore", "--source", label, "--latest", "--to", target, "--force",
        ];
        let none = self.bm(&restore, &[]);
        assert_eq!(none.code, 1, "{}", none.all());
        assert!(none.stderr.contains("is age-encrypted"), "{}", none.stderr);
        assert!(none.stderr.contains("--identity FILE"), "{}", none.stderr);
        assert!(
            none.stderr.contains("nothing was applied"),
            "{}",
            none.stderr
        );
        assert_eq!(
            snapshot(),
            before,
            "restore without identity changed {target}"
        );

        let mut wrong = restore.to_vec();
        wrong.extend(["--identity", self.wrong()]);
        let wrong = self.bm(&wrong, &[]);
        self.assert_wrong_identity(&wrong);
        assert!(
            wrong.stderr.contains("nothing was applied"),
            "{}",
            wrong.stderr
        );
        assert_eq!(
            snapshot(),
            before,
            "restore with the wrong identity changed {target}"
        );
    }

    /// A damaged object fails `verify` with and without an identity.
    fn damaged_fails_verify(&self, object: &Path) {
        let mut bytes = std::fs::read(object).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(object, &bytes).unwrap();
        let outside = self.bm(&["verify", "--latest"], &[]);
        assert_eq!(outside.code, 1, "{}", outside.all());
        assert!(outside.stderr.contains("SHA-256"), "{}", outside.stderr);
        let inside = self.bm(&["verify", "--latest", "--identity", self.right()], &[]);
        assert_eq!(inside.code, 1, "{}", inside.all());
    }
}

/// The scenario on a database server: run, the age CLI, refused restores, a restore with the
/// identity compared row by row, verify each way, damage.
fn server_round_trip<D: Db>(label: &str) {
    let src = D::create("age_src");
    src.sql(FIXTURE);
    let setup = Setup::new(&src.source_yaml(label));
    let (object, manifest) = setup.run("sql");

    let plain = setup.age_cli(&object);
    assert_eq!(plain.len() as u64, manifest["size"].as_u64().unwrap());
    let text = String::from_utf8_lossy(&plain);
    assert!(text.contains("plaintext-marker-4711"), "{text}");
    let stored = std::fs::read(&object).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));

    let occupied = D::create("age_occupied");
    occupied.sql("CREATE TABLE keep (id int); INSERT INTO keep VALUES (42);");
    setup.refused_restores(label, occupied.name(), || {
        format!("{:?}", occupied.fingerprint())
    });

    let copy = D::create("age_copy");
    let restore = setup.bm(
        &[
            "restore",
            "--source",
            label,
            "--latest",
            "--to",
            copy.name(),
        ],
        &[("BACKUPMAN_AGE_IDENTITY", setup.right())],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(copy.fingerprint(), src.fingerprint());

    setup.verify_each_way();
    let drill = setup.bm(
        &[
            "verify",
            "--latest",
            "--restore",
            "--identity",
            setup.right(),
        ],
        &[],
    );
    assert_eq!(drill.code, 0, "{}", drill.all());
    assert!(drill.stderr.contains("3 rows"), "{}", drill.stderr);
    let no_drill = setup.bm(&["verify", "--latest", "--restore"], &[]);
    assert_eq!(
        no_drill.code,
        1,
        "the drill needs the content: {}",
        no_drill.all()
    );
    setup.damaged_fails_verify(&object);
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn postgres_encrypted_backup_decrypts_with_age_and_restores_only_with_its_identity() {
    server_round_trip::<PgDb>("PG");
}

#[test]
#[ignore = "needs PostgreSQL/MariaDB: run cargo xtask test"]
fn mariadb_encrypted_backup_decrypts_with_age_and_restores_only_with_its_identity() {
    server_round_trip::<MyDb>("My");
}

/// An SQLite database holding [`FIXTURE`] in a folder of its own, and an encrypted setup
/// backing it up as `App`.
fn sqlite_setup() -> (tempfile::TempDir, PathBuf, Setup) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.sqlite");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(FIXTURE)
        .unwrap();
    let setup = Setup::new(&format!(
        "  - provider: sqlite\n    label: App\n    db_path: {}\n",
        db.display()
    ));
    (tmp, db, setup)
}

#[test]
fn sqlite_encrypted_backup_decrypts_with_age_and_restores_only_with_its_identity() {
    let (tmp, db, setup) = sqlite_setup();
    let (object, manifest) = setup.run("sqlite");
    let plain = setup.age_cli(&object);
    assert_eq!(plain.len() as u64, manifest["size"].as_u64().unwrap());
    assert!(plain.starts_with(b"SQLite format 3\0"));
    let decrypted = tmp.path().join("decrypted.sqlite");
    std::fs::write(&decrypted, &plain).unwrap();
    assert_eq!(sqlite_rows(&decrypted), sqlite_rows(&db));

    let occupied = tmp.path().join("occupied.sqlite");
    rusqlite::Connection::open(&occupied)
        .unwrap()
        .execute_batch("CREATE TABLE keep (id int); INSERT INTO keep VALUES (42);")
        .unwrap();
    let target = occupied.to_str().unwrap();
    setup.refused_restores("App", target, || {
        format!("{:?}", std::fs::read(&occupied).unwrap())
    });

    let restored = tmp.path().join("restored.sqlite");
    let restore = setup.bm(
        &[
            "restore",
            "--source",
            "App",
            "--latest",
            "--to",
            restored.to_str().unwrap(),
            "--identity",
            setup.right(),
        ],
        &[],
    );
    assert_eq!(restore.code, 0, "{}", restore.all());
    assert_eq!(sqlite_rows(&restored), sqlite_rows(&db));

    setup.verify_each_way();
    setup.damaged_fails_verify(&object);
}

#[test]
fn a_group_readable_identity_file_is_warned_about_and_still_used() {
    let (_tmp, _, setup) = sqlite_setup();
    setup.run("sqlite");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&setup.right, std::fs::Permissions::from_mode(0o640)).unwrap();
    let verify = setup.bm(&["verify", "--latest", "--identity", setup.right()], &[]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(
        verify.stderr.contains("readable by others (mode 640)"),
        "{}",
        verify.stderr
    );

    let missing = setup.bm(&["verify", "--latest", "--identity", "nope.txt"], &[]);
    assert_eq!(missing.code, 2, "{}", missing.all());
    assert!(missing.stderr.contains("nope.txt"), "{}", missing.stderr);
}

#[test]
fn test_mode_and_retention_work_with_encrypted_backups() {
    let (_tmp, _, setup) = sqlite_setup();
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str("retention:\n  by: count\n  value: 1\n");
    std::fs::write(&setup.config, config).unwrap();

    let test_mode = setup.bm(&["run", "--test-mode"], &[]);
    assert_eq!(test_mode.code, 0, "{}", test_mode.all());
    assert!(
        test_mode
            .stderr
            .contains("SHA-256 of the encrypted object intact; not decrypted"),
        "{}",
        test_mode.stderr
    );
    assert!(
        files(&setup.tmp.path().join("drive")).is_empty(),
        "test mode deletes its object"
    );

    let (first, _) = setup.run("sqlite");
    let second = setup.bm(&["run"], &[]);
    assert_eq!(second.code, 0, "{}", second.all());
    let left: Vec<PathBuf> = files(&setup.tmp.path().join("drive"));
    assert_eq!(
        left.len(),
        2,
        "retention keeps the newest backup and its manifest: {left:?}"
    );
    assert!(
        !left.contains(&first),
        "the older encrypted backup is pruned: {left:?}"
    );
    assert!(
        left.iter()
            .all(|p| p.to_string_lossy().contains(".sqlite.gz.age"))
    );
}
