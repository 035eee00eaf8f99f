//! The crate's examples, run as tests: the code a library user copies keeps working.

use backupman_core::{read_all, slugify};

// Each example is a program; its `main` is not called here.
#[allow(dead_code)]
#[path = "../examples/embedded_backup.rs"]
mod embedded_backup;
#[allow(dead_code)]
#[path = "../examples/memory_drive.rs"]
mod memory_drive;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backup_stores_lists_and_verifies_on_both_drives() {
    let dir = tempfile::tempdir().unwrap();
    let (key, held) = embedded_backup::run(dir.path())
        .await
        .unwrap_or_else(|e| panic!("the example failed: {e}"));

    assert!(
        key.starts_with(&format!("{}/", slugify(embedded_backup::SOURCE))),
        "{key}"
    );
    let labels: Vec<_> = held.iter().map(|h| h.drive.label()).collect();
    assert_eq!(labels, ["disk", "nas"]);
    for h in &held {
        assert_eq!(h.listed, std::slice::from_ref(&key), "{}", h.drive.label());
        assert_eq!(
            h.sha256, held[0].sha256,
            "one stream, the same bytes on every drive"
        );
    }

    // What is stored is the database: unpacked, it opens and has every row.
    let stored = read_all(held[1].drive.as_ref(), &key).await.unwrap();
    let mut plain = Vec::new();
    std::io::copy(
        &mut backupman_core::open(std::io::Cursor::new(stored), None).unwrap(),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain.len() as u64, held[1].plain_size);
    let restored = dir.path().join("restored.sqlite");
    std::fs::write(&restored, &plain).unwrap();
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let (rows, ids, last): (i64, i64, String) = conn
        .query_row(
            "SELECT count(*), sum(id), (SELECT item FROM orders WHERE id = 100) FROM orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((rows, ids, last.as_str()), (100, 5050, "item 100"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_drive_passes_the_conformance_suite() {
    memory_drive::check_conformance().await;
}
