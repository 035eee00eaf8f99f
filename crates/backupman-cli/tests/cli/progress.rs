//! Progress while `backupman run` works: bars on a terminal (a real pseudo-terminal under
//! tmux, its raw bytes recorded by `script`), never a control character in piped output.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A SQLite database of a few MiB of poorly compressible text, so a backup takes a moment.
fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(tmp.path().join("big.sqlite")).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..4000 {
        let v: String = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        tx.execute("INSERT INTO t VALUES (?1, ?2)", (i, v)).unwrap();
    }
    tx.commit().unwrap();
    std::fs::write(
        tmp.path().join("config.yml"),
        concat!(
            "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: big.sqlite\n",
            "drives:\n  - provider: local\n    label: Disk\n    folder: disk\n",
            "  - provider: local\n    label: Mirror\n    folder: mirror\n",
        ),
    )
    .unwrap();
    tmp
}

fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux is needed for the terminal tests (apt-get install tmux)")
}

/// Runs `backupman run` in an 120×30 tmux pane through `script`; returns the raw bytes it
/// wrote to the terminal and the pane's final text.
fn run_in_terminal(dir: &Path, no_color: bool) -> (String, String) {
    let socket = format!("backupman-test-{}-{no_color}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_backupman");
    let env = if no_color {
        "NO_COLOR=1"
    } else {
        "-u NO_COLOR"
    };
    let inner = format!(
        "cd {dir} && env -u BACKUPMAN_CONFIG -u RUST_LOG {env} TERM=xterm-256color \
         script -qfec '{bin} run -c config.yml' raw.log; echo \"exit=$?\"; echo __DONE__; sleep 60",
        dir = dir.display()
    );
    let started = tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            "sh",
            "-c",
            &inner,
        ],
    );
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let screen = loop {
        let out = tmux(&socket, &["capture-pane", "-p", "-t", "0"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("__DONE__") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    tmux(&socket, &["kill-server"]);
    let raw = std::fs::read(dir.join("raw.log")).unwrap_or_default();
    (String::from_utf8_lossy(&raw).into_owned(), screen)
}

/// The pane's lines that hold text, up to the marker.
fn shown(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .take_while(|l| !l.contains("__DONE__"))
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn a_terminal_sees_bars_that_leave_a_clean_summary() {
    let tmp = setup();
    let (raw, screen) = run_in_terminal(tmp.path(), false);
    let lines = shown(&screen);
    assert!(lines.last().is_some_and(|l| *l == "exit=0"), "{screen}");
    // The bars were drawn: the source with its dump and gzip counts, one row per drive.
    assert!(raw.contains("dumped"), "{raw:?}");
    assert!(raw.contains("gzip"), "{raw:?}");
    assert!(
        raw.contains("→ Disk") && raw.contains("→ Mirror"),
        "{raw:?}"
    );
    assert!(raw.contains("uploaded"), "{raw:?}");
    // Colour on a terminal.
    assert!(raw.contains("\x1b[36m"), "{raw:?}");
    // ... and cleared: what stays on screen is one summary line per drive, without the
    // INFO log (that is `-v`).
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("dumped") || l.contains("uploaded")),
        "{screen}"
    );
    let summary = &lines[lines.len() - 3..lines.len() - 1];
    assert!(summary[0].starts_with("✔ Big → Disk: "), "{screen}");
    assert!(summary[1].starts_with("✔ Big → Mirror: "), "{screen}");
    assert!(!screen.contains("INFO"), "{screen}");
}

#[test]
fn no_color_on_a_terminal_means_no_colour_codes() {
    let tmp = setup();
    let (raw, screen) = run_in_terminal(tmp.path(), true);
    assert!(
        shown(&screen).last().is_some_and(|l| *l == "exit=0"),
        "{screen}"
    );
    assert!(raw.contains("dumped"), "bars still drawn: {raw:?}");
    // Cursor movement is allowed; Select Graphic Rendition (colour, bold) is not.
    let mut rest = raw.as_str();
    while let Some(at) = rest.find("\x1b[") {
        let seq: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';' || *c == '?')
            .collect();
        let end = rest[at + 2 + seq.len()..].chars().next();
        assert_ne!(end, Some('m'), "colour code \\x1b[{seq}m in {raw:?}");
        rest = &rest[at + 2..];
    }
}

#[test]
fn piped_output_has_no_control_characters() {
    let tmp = setup();
    for json in [false, true] {
        let mut args = vec!["run", "-c", "config.yml"];
        if json {
            args.push("--json");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_backupman"))
            .args(&args)
            .current_dir(tmp.path())
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env_remove("BACKUPMAN_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8(all).unwrap();
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(!text.contains('\r'), "{text:?}");
        assert!(text.contains("✔ Big → Disk"), "{text}");
        if json {
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("stdout is only the JSON report");
            assert_eq!(report["ok"], true);
        }
    }
}
