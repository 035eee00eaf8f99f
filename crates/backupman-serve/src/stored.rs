//! The service's catalog of stored backups, kept in memory: `GET /api/backups`, downloads
//! and download links answer from it. It is loaded at start, updated after each of the
//! service's own runs, and refreshed every `http.catalog_refresh_seconds` so backups made by
//! another process appear. A refresh costs a listing per source × drive and reads only the
//! manifests it has not read before.

use std::sync::Arc;
use std::time::Duration;

use backupman_core::{CancellationToken, Drive, Verifier};
use backupman_ops::catalog::{self, Catalog};
use backupman_ops::wiring::SourcePlan;
use tokio::sync::{Mutex, RwLock};

/// What the drives hold, as last listed.
#[derive(Debug)]
pub(crate) struct StoredCatalog {
    sources: Vec<SourcePlan>,
    drives: Vec<Arc<dyn Drive>>,
    verifier: Option<Verifier>,
    /// `None` until the first listing has ended.
    current: RwLock<Option<Arc<Catalog>>>,
    /// One listing at a time: concurrent requests wait for it rather than start their own.
    listing: Mutex<()>,
}

impl StoredCatalog {
    pub(crate) fn new(
        sources: Vec<SourcePlan>,
        drives: Vec<Arc<dyn Drive>>,
        verifier: Option<Verifier>,
    ) -> Self {
        Self {
            sources,
            drives,
            verifier,
            current: RwLock::new(None),
            listing: Mutex::new(()),
        }
    }

    /// The catalog, listing the drives first if nothing has been listed yet.
    pub(crate) async fn get(&self) -> Arc<Catalog> {
        if let Some(current) = self.current.read().await.clone() {
            return current;
        }
        let _one_at_a_time = self.listing.lock().await;
        // Another request may have listed while this one waited.
        if let Some(current) = self.current.read().await.clone() {
            return current;
        }
        self.list_again().await
    }

    /// Lists the drives again now (reading only new manifests) and returns the result.
    pub(crate) async fn refresh(&self) -> Arc<Catalog> {
        let _one_at_a_time = self.listing.lock().await;
        self.list_again().await
    }

    /// Callers hold `listing`.
    async fn list_again(&self) -> Arc<Catalog> {
        let previous = self.current.read().await.clone().unwrap_or_default();
        let sources: Vec<&SourcePlan> = self.sources.iter().collect();
        let fresh =
            catalog::refresh(&previous, &sources, &self.drives, self.verifier.as_ref()).await;
        for e in &fresh.errors {
            tracing::warn!(
                "cannot list backups of {:?} on {:?}: {}",
                e.source,
                e.drive,
                e.error
            );
        }
        let fresh = Arc::new(fresh);
        *self.current.write().await = Some(fresh.clone());
        fresh
    }

    /// Refreshes every `every` until `stop`.
    pub(crate) async fn keep_fresh(&self, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            self.refresh().await;
        }
    }
}
