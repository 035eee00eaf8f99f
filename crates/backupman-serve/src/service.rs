//! What every request handler and the scheduler share: the configuration, the drives built
//! once at start, the keys, the link signer, the metrics and the runs.

use std::sync::Arc;

use backupman_config::{Config, SourceConfig};
use backupman_core::{CancellationToken, Drive};
use backupman_ops::catalog::{self, Catalog};
use backupman_ops::wiring;

use crate::auth::ApiKeys;
use crate::health::HealthCache;
use crate::links::LinkSigner;
use crate::metrics::Metrics;
use crate::runs::Runs;

/// The running service's shared state.
#[derive(Debug)]
pub(crate) struct Service {
    pub config: Config,
    /// The configured drives that could be built, for listing and downloads (a run builds
    /// its own, so a drive that failed here is retried by every run).
    pub drives: Vec<Arc<dyn Drive>>,
    pub keys: ApiKeys,
    pub links: LinkSigner,
    pub metrics: Metrics,
    pub runs: Runs,
    /// The last health check, and the one running.
    pub health: HealthCache,
    /// `http.app_url`, or `http://localhost:PORT`: the base of the server's own links.
    pub base_url: String,
    /// Cancelled when the service is stopping: no run starts after it.
    pub stopping: CancellationToken,
}

impl Service {
    pub(crate) fn new(config: Config, base_url: String, stopping: CancellationToken) -> Self {
        let (drives, broken) = wiring::build_drives(&config.drives.iter().collect::<Vec<_>>());
        for b in &broken {
            tracing::error!("drive {:?}: {}", b.label, b.error);
        }
        Self {
            keys: ApiKeys::new(&config.http.api_keys),
            links: LinkSigner::new(&config.http.api_keys),
            metrics: Metrics::new(),
            runs: Runs::default(),
            health: HealthCache::default(),
            drives,
            base_url,
            stopping,
            config,
        }
    }

    /// Every stored backup of every configured source, newest first. Listing failures are
    /// logged: what the other drives hold is still served.
    pub(crate) async fn stored(&self) -> Catalog {
        let sources: Vec<&SourceConfig> = self.config.sources.iter().collect();
        let catalog = catalog::find(&sources, &self.drives).await;
        for e in &catalog.errors {
            tracing::warn!(
                "cannot list backups of {:?} on {:?}: {}",
                e.source,
                e.drive,
                e.error
            );
        }
        catalog
    }

    /// Seeds `backupman_last_success_timestamp_seconds` from the drives: the newest backup of
    /// each source with a manifest (a manifest is written only once the object is stored).
    pub(crate) async fn load_last_successes(&self) {
        for found in self.stored().await.found {
            if let Some(manifest) = &found.backup.manifest {
                self.metrics
                    .success(&found.source.label, manifest.finished_at);
            }
        }
    }
}
