//! A new user's first hour (issue 24), through the real binary: results on stdout through a
//! pipe, a reader that goes away, every problem of a broken configuration in one run, the
//! default output without the INFO log, a failed dump said once, `init`, and the small hints.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use crate::common::{backupman, backupman_command, backupman_env};

fn setup() -> tempfile::TempDir {
    crate::common::demo_setup(
        "drives:\n  - provider: local\n    label: Disk\n    folder: disk\nretention:\n  by: count\n  value: 1\n",
    )
    .0
}

/// Lines of a log line's shape: a timestamp, then a level.
fn log_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.split_whitespace().nth(1).is_some_and(|level| {
                ["INFO", "DEBUG", "TRACE"].contains(&level) && l.as_bytes().get(4) == Some(&b'-')
            })
        })
        .collect()
}

#[test]
fn tables_and_reports_go_to_stdout_and_pipe() {
    let tmp = setup();
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());

    let list = backupman(tmp.path(), &["list"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let rows: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "a header and one backup: {}", list.stdout);
    let header: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["SOURCE", "DRIVE", "SIZE", "AGE", "STANDING", "KEY"]
    );
    assert!(rows[1].starts_with("Demo "), "{}", rows[1]);
    assert!(rows[1].contains(" Disk "), "{}", rows[1]);
    assert!(rows[1].trim_end().ends_with(".sqlite.gz"), "{}", rows[1]);
    assert_eq!(list.stderr, "", "nothing but the table: {}", list.stderr);

    let health = backupman(tmp.path(), &["health"]);
    assert_eq!(health.code, 0, "{}", health.all());
    assert!(
        health
            .stdout
            .contains("✔ source Demo (sqlite): can be dumped\n"),
        "{}",
        health.stdout
    );
    assert!(
        health.stdout.contains("✔ drive Disk (local)\n"),
        "{}",
        health.stdout
    );
    assert!(
        health
            .stdout
            .ends_with("healthy: every source, drive and notifier passed\n"),
        "{}",
        health.stdout
    );
    assert_eq!(health.stderr, "", "{}", health.stderr);

    // A second backup, so the dry run has one to name.
    assert_eq!(backupman(tmp.path(), &["run", "-q"]).code, 0);
    let keys: Vec<String> = crate::common::files(&tmp.path().join("disk/demo"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(keys.len(), 1, "retention kept one: {keys:?}");
    let prune = backupman(tmp.path(), &["prune", "--dry-run"]);
    assert_eq!(prune.code, 0, "{}", prune.all());
    assert_eq!(
        prune.stdout,
        "✔ Demo → Disk: kept 1, would delete 0\n",
        "{}",
        prune.all()
    );

    let plan = backupman(tmp.path(), &["run", "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .starts_with("configuration is valid; a run would back up:\n"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("  then retention: keep the newest 1\n"),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains('{'),
        "Rust debug text: {}",
        plan.stdout
    );
    assert_eq!(plan.stderr, "");
}

#[test]
fn the_plan_names_a_server_database_as_a_database_on_a_host() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("config.yml"),
        "data_sources:\n  - provider: postgres\n    label: App\n    host: db.internal\n    db_name: app\n    user: backup\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\nretention:\n  by: age\n  value: 7\n",
    )
    .unwrap();
    let plan = backupman(tmp.path(), &["run", "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("  source \"App\" (postgres: database app on db.internal:5432)\n"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("  then retention: delete backups older than 7 day(s)\n"),
        "{}",
        plan.stdout
    );
}

/// `backupman list --json | head -1`: the reader takes one line and goes away; backupman
/// ends without a panic or a message about the pipe.
#[test]
fn a_reader_that_goes_away_is_no_panic() {
    let tmp = setup();
    assert_eq!(backupman(tmp.path(), &["run", "-q"]).code, 0);
    for args in [
        &["list", "--json"][..],
        &["list"],
        &["health", "--json"],
        &["version"],
    ] {
        let mut child = backupman_command(tmp.path(), args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before backupman writes anything, as `head` does after its line.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");

        // And `| head -1` for real: the first line arrives.
        let mut child = backupman_command(tmp.path(), args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.trim().is_empty(), "{args:?}");
        assert_ne!(child.wait().unwrap().code(), Some(101), "{args:?}");
    }
}

#[test]
fn every_problem_of_a_broken_configuration_in_one_run_each_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let config = "\
data_sources:
  - provider: postgress
    label: App
    hostname: db
    db_name: ${FH_APP_DB}
    password: ${FH_APP_PASSWORD:?the app database password, from the vault}
    port: ${FH_PGPORT}
  - provider: sqlite
    label: Lite
    db_path: lite.db
    encryption:
      age_recipients:
        - age1notakey
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB
drives:
  - provider: local
    label: Disk
    folder: disk
    force_path_stlye: true
  - provider: s3
    label: Bucket
    bucket: b
    region: \"\"
";
    std::fs::write(tmp.path().join("config.yml"), config).unwrap();
    let out = backupman(tmp.path(), &["run", "--dry-run"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(out.stdout, "");
    let expected = [
        "config.yml: 10 problems in the configuration:",
        "  - line 2: data_sources[0].provider: unknown provider \"postgress\" (hint: did you mean `postgres`? (one of postgres, mysql, mariadb, sqlite))",
        "  - line 4: unknown option `hostname` (hint: did you mean `host`?)",
        "  - line 5: environment variable FH_APP_DB is not set (hint: export FH_APP_DB, or give a default: ${FH_APP_DB:-value})",
        "  - line 6: environment variable FH_APP_PASSWORD is not set: the app database password, from the vault (hint: export FH_APP_PASSWORD)",
        "  - line 7: environment variable FH_PGPORT is not set (hint: export FH_PGPORT, or give a default: ${FH_PGPORT:-value})",
        "  - line 13: data_sources[1].encryption.age_recipients[0]: not an age public key",
        "  - line 14: data_sources[1].encryption.age_recipients[1]: SSH public keys are not supported",
        "  - line 19: unknown option `force_path_stlye` (hint: did you mean `force_path_style`?)",
        "  - line 22: drives[1].bucket: invalid bucket name \"b\"",
        "  - line 23: drives[1].region: must not be empty",
    ];
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", out.stderr);
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("error: {want}")) || line.starts_with(want),
            "{line}\nwanted: {want}"
        );
    }

    // With the variables set, the same file has exactly the other problems left.
    let out = backupman_env(
        tmp.path(),
        &["run", "--dry-run"],
        &[
            ("FH_APP_DB", "app"),
            ("FH_APP_PASSWORD", "secret"),
            ("FH_PGPORT", "5432"),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .starts_with("error: config.yml: 7 problems in the configuration:"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("environment variable"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_default_output_is_one_line_per_source_and_drive_and_the_log_is_under_verbose() {
    let tmp = setup();
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("✔ Demo → Disk: "), "{}", run.stderr);

    // The second run deletes the first backup: the deletion is said once.
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stderr.matches("demo/demo-").count(),
        2,
        "the new backup's line and one deletion: {}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("retention deleted").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(log_lines(&run.stderr).is_empty(), "{}", run.stderr);

    let verbose = backupman(tmp.path(), &["run", "-v"]);
    assert_eq!(verbose.code, 0, "{}", verbose.all());
    let log = log_lines(&verbose.stderr);
    assert!(
        log.iter()
            .any(|l| l.contains("INFO") && l.contains("backing up")),
        "{}",
        verbose.stderr
    );
    assert!(
        verbose.stderr.contains("✔ Demo → Disk: "),
        "{}",
        verbose.stderr
    );
}

#[test]
fn a_failed_dump_is_said_once_for_all_its_drives() {
    let tmp = tempfile::tempdir().unwrap();
    let tool = tmp.path().join("dump");
    std::fs::write(
        &tool,
        "#!/bin/sh\necho 'mysqldump: Got error: 1045: Access denied for user' >&2\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Shop\n    db_name: shop\n    dump_tool_path: {}\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\n  - provider: local\n    label: Mirror\n    folder: mirror\n",
            tool.display()
        ),
    )
    .unwrap();
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        run.stderr.matches("Access denied").count(),
        1,
        "{}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("✘ Shop → Disk, Mirror: not stored, the dump failed: "),
        "{}",
        run.stderr
    );
}

#[test]
fn init_writes_a_starter_that_loads_and_never_replaces_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let init = backupman(tmp.path(), &["init"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let path = tmp.path().join("config.yml");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.starts_with("# backupman configuration"),
        "{written}"
    );
    assert!(written.contains("provider: sqlite") && written.contains("provider: local"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let plan = backupman(tmp.path(), &["run", "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains("source \"App\" (sqlite: "),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("to drive \"Local Disk\" (local: "),
        "{}",
        plan.stdout
    );

    // The starter backs up for real once its database exists.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite"),
        tmp.path().join("app.db"),
    )
    .unwrap();
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.starts_with("✔ App → Local Disk: "),
        "{}",
        run.stderr
    );

    std::fs::write(&path, "mine\n").unwrap();
    let again = backupman(tmp.path(), &["init"]);
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");
}

#[test]
fn small_hints() {
    let tmp = tempfile::tempdir().unwrap();
    // No configuration here: say how to name one.
    let missing = backupman(tmp.path(), &["list"]);
    assert_eq!(missing.code, 2, "{}", missing.all());
    for word in ["-c FILE", "BACKUPMAN_CONFIG", "backupman init"] {
        assert!(missing.stderr.contains(word), "{word}: {}", missing.stderr);
    }

    // A backup named neither by key nor by --latest: both are offered.
    for args in [&["verify"][..], &["restore", "--source", "Demo"]] {
        let out = backupman(tmp.path(), args);
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stderr.contains("<KEY|--latest>"),
            "{args:?}: {}",
            out.stderr
        );
    }

    // `--bind localhost` is an address: what stops this serve is the missing configuration.
    let serve = backupman(tmp.path(), &["serve", "--bind", "localhost", "-p", "0"]);
    assert_eq!(serve.code, 2, "{}", serve.all());
    assert!(!serve.stderr.contains("--bind"), "{}", serve.stderr);
    assert!(
        serve.stderr.contains("cannot read configuration"),
        "{}",
        serve.stderr
    );
}

/// `force_path_style: false` against a path-style server at `localhost`: the bucket exists,
/// and the line says virtual-hosted style needs DNS for `BUCKET.localhost` and suggests
/// `force_path_style: true`. At `127.0.0.1` the SDK addresses the bucket path-style by itself,
/// and the backup is stored.
#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn virtual_hosted_on_localhost_suggests_path_style() {
    use backupman_testkit::s3::{S3Server, Style};
    let rt = crate::common::rt();
    let server = S3Server::s3s_fs(Style::Path);
    rt.block_on(server.create_bucket("backups"));
    for host in ["localhost", "127.0.0.1"] {
        let yaml = crate::common::s3_drive_yaml(&server, "Bucket", "backups", "p")
            .replace("force_path_style: true", "force_path_style: false")
            .replace(&server.endpoint, &format!("http://{host}:{}", server.port));
        assert!(yaml.contains("force_path_style: false"), "{yaml}");
        let (tmp, _) = crate::common::demo_setup(&format!("drives:\n{yaml}"));
        let run = backupman(tmp.path(), &["run"]);
        if host == "127.0.0.1" {
            assert_eq!(run.code, 0, "{host}: {}", run.all());
            assert!(
                run.stderr
                    .lines()
                    .any(|l| l.starts_with("✔ Demo → Bucket: s3://backups/p/demo/")),
                "{}",
                run.stderr
            );
            continue;
        }
        assert_eq!(run.code, 1, "{host}: {}", run.all());
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with("✘ Demo → Bucket: "))
            .unwrap_or_else(|| panic!("{host}: no drive line: {}", run.stderr));
        assert!(line.contains(&format!("backups.{host}")), "{line}");
        assert!(line.contains("`force_path_style: true`"), "{line}");
    }
}

/// Without a terminal, a dump that sends nothing for a while (waiting for a lock) still
/// gets its progress line every 10 s, on stderr, without `-v`.
#[test]
fn a_quiet_dump_still_shows_progress_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let tool = crate::common::fake_dump_tool(tmp.path(), "sh -c 'sleep 12; echo \"-- done\"'");
    std::fs::write(
        tmp.path().join("config.yml"),
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Waits\n    db_name: app\n    dump_tool_path: {}\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
            tool.display()
        ),
    )
    .unwrap();
    let run = backupman(tmp.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert_eq!(
        lines[0], "Waits: dumped 0 B, gzip 0 B; uploaded: Disk 0 B",
        "{}",
        run.stderr
    );
    assert!(lines[1].starts_with("✔ Waits → Disk: "), "{}", run.stderr);
}
