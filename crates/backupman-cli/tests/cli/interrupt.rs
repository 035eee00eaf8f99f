//! Ctrl-C (SIGINT) or SIGTERM in the middle of a backup: the dump stops, every upload is
//! aborted, nothing is left on the drive, and the run says so.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{fake_dump_tool, files, interrupt_and_wait, wait_until_writing};

fn interrupted_run_leaves_nothing(signal: &str) {
    let tmp = tempfile::tempdir().unwrap();
    // Never finishes: the run can only end by the signal. Random hex compresses about 2:1
    // (like real rows), so compressed chunks reach the drive at once even on a busy machine.
    let tool = fake_dump_tool(tmp.path(), "od -An -tx1 /dev/urandom");
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: mariadb\n    label: Endless\n    db_name: app\n    dump_tool_path: {}\n  - provider: sqlite\n    label: Never Started\n    db_path: x.sqlite\ndrives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
            tool.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_backupman"))
        // One source after another, so the second is never started.
        .args(["run", "-c", config.to_str().unwrap(), "--parallel", "1"])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let disk = tmp.path().join("disk");
    wait_until_writing(&disk);
    let (code, stderr) = interrupt_and_wait(&mut child, signal, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("interrupted: stopping the dump and aborting uploads"),
        "{stderr}"
    );
    assert!(
        stderr.contains("✘ Endless → Disk: not stored, the dump failed: interrupted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("✘ Never Started: not started, the run was interrupted"),
        "{stderr}"
    );
    assert_eq!(
        files(&disk),
        Vec::<std::path::PathBuf>::new(),
        "no object, no temp file"
    );
}

#[test]
fn sigint_aborts_the_backup_and_leaves_nothing() {
    interrupted_run_leaves_nothing("-INT");
}

#[test]
fn sigterm_aborts_the_backup_and_leaves_nothing() {
    interrupted_run_leaves_nothing("-TERM");
}
