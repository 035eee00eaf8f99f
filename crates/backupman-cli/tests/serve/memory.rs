//! Memory of the service: idle (after answering requests) and its peak during a backup of a
//! database much larger than any buffer, read from /proc (VmRSS, VmHWM).

use crate::server::{Server, finished, write_config};

/// Kibibytes of a /proc/PID/status field.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

const MIB: u64 = 1024;

/// The bounds (idle ≤ 20 MiB, ≤ 64 MiB during a backup, as `run`) hold for the
/// release build; the unoptimised debug build `cargo test` runs by default maps more code
/// and keeps more on the heap, so its idle bound is wider. Both idle bounds are 4 MiB above
/// the since the binary allocates with jemalloc, whose own tables take about that at
/// rest (debug build: 36.6 MiB idle with glibc's malloc, 39.5-40.8 with jemalloc), the price
/// of a service whose RSS stays flat (docs/reliability.md). Numbers are printed either way.
const IDLE_MIB: u64 = if cfg!(debug_assertions) { 44 } else { 24 };
const BUSY_MIB: u64 = 64;

#[test]
fn idle_and_busy_memory_stay_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    // 24 MiB of random rows: more than every buffer of the pipeline together (gzip level 1,
    // as the debug build compresses slowly).
    crate::common::random_sqlite(&tmp.path().join("big.sqlite"), 24);
    let sources = "data_sources:\n  - provider: sqlite\n    label: Big\n    db_path: big.sqlite\n";
    let config = write_config(
        tmp.path(),
        &format!("compression:\n  level: 1\n{sources}"),
        "",
    );
    let server = Server::start(tmp.path(), &config);
    // Idle, having answered the routes an operator's tooling polls.
    for path in ["/api/backups", "/metrics", "/health", "/api/backups"] {
        assert_eq!(server.get(path).0, 200, "{path}");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let idle = status_kib(server.pid(), "VmRSS:");
    assert_eq!(server.post_backup().0, 200);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    assert!(
        results[0]["Size"].as_u64().unwrap() > 24 * 1024 * 1024,
        "{results:?}"
    );
    let busy = status_kib(server.pid(), "VmHWM:");
    eprintln!(
        "serve memory ({} build): idle VmRSS {:.1} MiB, peak VmHWM during a 24 MiB backup {:.1} MiB",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        idle as f64 / 1024.0,
        busy as f64 / 1024.0
    );
    assert!(
        idle <= IDLE_MIB * MIB,
        "idle RSS {idle} KiB > {IDLE_MIB} MiB"
    );
    assert!(
        busy <= BUSY_MIB * MIB,
        "peak RSS {busy} KiB > {BUSY_MIB} MiB"
    );
}
