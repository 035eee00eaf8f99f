//! The engine's unit tests: the progress events of a backup of an in-memory source to two
//! local drives, whose running totals must end at the manifest's sizes.

use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::{Codec, LocalDrive};

/// A source whose dump is bytes in memory.
#[derive(Debug)]
struct InMemory(Vec<u8>);

#[async_trait]
impl Source for InMemory {
    fn label(&self) -> &str {
        "Mem"
    }
    fn provider(&self) -> &str {
        "memory"
    }
    fn database(&self) -> String {
        "mem".into()
    }
    async fn start(&self, _cancel: CancellationToken) -> Result<Dump, SourceError> {
        Ok(Dump {
            reader: Box::new(io::Cursor::new(self.0.clone())),
            finish: Box::new(|| Ok(DumpStatus::default())),
        })
    }
    async fn check(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_running_totals_that_end_at_the_manifest_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let drives: Vec<Arc<dyn Drive>> = vec![
        Arc::new(LocalDrive::new("One", tmp.path().join("one"))),
        Arc::new(LocalDrive::new("Two", tmp.path().join("two"))),
    ];
    // 3 MiB that compress to more than one 4 KiB chunk.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let engine = Engine::new(Compression::new(Codec::Gzip, 1, 1))
        .with_chunk_size(4096)
        .with_progress(ProgressObserver::new(move |e| sink.lock().unwrap().push(e)));
    let report = engine
        .backup(Arc::new(InMemory(data.clone())), &drives)
        .await;
    assert!(report.succeeded(), "{report:?}");
    let manifest = report.manifest.unwrap();
    let events = events.lock().unwrap();

    assert_eq!(
        events[0],
        ProgressEvent::Started {
            source: "Mem".into(),
            drives: vec!["One".into(), "Two".into()]
        }
    );
    let dumped: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Dumped { plain, compressed } => Some((*plain, *compressed)),
            _ => None,
        })
        .collect();
    assert!(dumped.len() > 10, "one event per read: {}", dumped.len());
    assert!(
        dumped
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
    );
    assert_eq!(
        dumped.last(),
        Some(&(data.len() as u64, manifest.compressed_size))
    );
    for drive in 0..2 {
        let uploaded: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ProgressEvent::Uploaded { drive: d, bytes } if *d == drive => Some(*bytes),
                _ => None,
            })
            .collect();
        assert!(uploaded.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(uploaded.last(), Some(&manifest.compressed_size));
    }
}
