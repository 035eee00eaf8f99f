//! What every request handler and the scheduler share: the configuration and the plan the
//! operations run on (resolved from it once, at start), the drives built once at start, the
//! keys, the link signer, the metrics and the runs.

use std::sync::Arc;

use backupman_config::Config;
use backupman_core::{CancellationToken, SigningKeyError};
use backupman_ops::catalog::Catalog;
use backupman_ops::wiring::{self, Plan};

use crate::auth::ApiKeys;
use crate::health::HealthCache;
use crate::links::LinkSigner;
use crate::metrics::Metrics;
use crate::runs::Runs;
use crate::scheduler::NextRun;
use crate::stored::StoredCatalog;

/// The running service's shared state.
#[derive(Debug)]
pub(crate) struct Service {
    /// The service's own settings (`http`), its status page's sources and schedules.
    pub config: Config,
    /// What every operation the service starts runs on: the configuration resolved once.
    pub plan: Plan,
    /// What the configured drives that could be built hold, kept in memory, for listing and
    /// downloads (a run builds its own drives, so a drive that failed here is retried by
    /// every run).
    pub catalog: StoredCatalog,
    pub keys: ApiKeys,
    /// The status page's sessions and what it keeps between requests.
    pub web: crate::web::Web,
    pub links: LinkSigner,
    pub metrics: Metrics,
    pub runs: Arc<Runs>,
    /// Each scheduled source's schedule and next run, by label.
    pub schedules: std::sync::Mutex<std::collections::BTreeMap<String, NextRun>>,
    /// The last health check, and the one running.
    pub health: HealthCache,
    /// `http.app_url`, or `http://localhost:PORT`: the base of the server's own links.
    pub base_url: String,
    /// Cancelled when the service is stopping: no run starts after it.
    pub stopping: CancellationToken,
    /// What `/health` says of the build.
    pub build: crate::Build,
}

impl Service {
    /// Fails when `signing` is configured and its key cannot be used: a service that could
    /// not tell a planted backup from a real one must not start.
    pub(crate) fn new(
        config: Config,
        base_url: String,
        stopping: CancellationToken,
    ) -> Result<Self, SigningKeyError> {
        let plan = wiring::plan(&config);
        let (drives, broken) = wiring::build_drives(&plan.drives);
        for b in &broken {
            tracing::error!("drive {:?}: {}", b.label, b.error);
        }
        let verifier = plan.signing.verifier.clone()?;
        Ok(Self {
            catalog: StoredCatalog::new(plan.sources.clone(), drives, verifier),
            keys: ApiKeys::new(&config.http.api_keys),
            web: crate::web::Web::default(),
            links: LinkSigner::new(&config.http.api_keys),
            metrics: Metrics::new(),
            runs: Arc::default(),
            schedules: Default::default(),
            health: HealthCache::default(),
            base_url,
            stopping,
            build: crate::Build::default(),
            config,
            plan,
        })
    }

    /// Every stored backup of every configured source, newest first, from memory.
    pub(crate) async fn stored(&self) -> Arc<Catalog> {
        self.catalog.get().await
    }

    /// Seeds `backupman_last_success_timestamp_seconds` from the drives: the newest trusted
    /// backup of each source (a manifest is written only once the object is stored). A
    /// backup that is not trusted never counts, and no time is later than now, so a planted
    /// manifest dated in the future cannot silence the "no success in 26 h" alert.
    pub(crate) async fn load_last_successes(&self) {
        let now = chrono::Utc::now();
        for found in &self.stored().await.found {
            if !found.backup.standing.is_trusted() {
                continue;
            }
            if let Some(manifest) = &found.backup.manifest {
                self.metrics
                    .success(found.source.label(), manifest.finished_at.min(now));
            }
        }
    }
}
