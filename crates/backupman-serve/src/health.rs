//! `GET /health`'s checks, one at a time whoever asks: run at start and every minute in the
//! background, so the open route answers from the last one and a flood of requests starts no
//! dump, no query and no write probe; a caller with a valid key waits for a check begun after
//! its request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backupman_core::CancellationToken;
use backupman_ops::wiring::Plan;
use tokio::sync::{Mutex, watch};

use crate::api::status::{HealthReport, check};
use crate::service::Service;

/// How often the background check runs.
pub(crate) const REFRESH: Duration = Duration::from_secs(60);

/// The last health check, and the lock that keeps a second from starting beside it.
#[derive(Debug)]
pub(crate) struct HealthCache {
    latest: watch::Sender<Option<Checked>>,
    running: Mutex<()>,
}

impl Default for HealthCache {
    fn default() -> Self {
        Self {
            latest: watch::Sender::new(None),
            running: Mutex::new(()),
        }
    }
}

#[derive(Debug, Clone)]
struct Checked {
    report: Arc<HealthReport>,
    started: Instant,
}

impl HealthCache {
    /// The last check's report; at start, the first one once it is done.
    pub(crate) async fn latest(&self, plan: &Plan) -> Arc<HealthReport> {
        let mut seen = self.latest.subscribe();
        let found = seen
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.report.clone()));
        match found {
            Some(report) => report,
            // Unreachable while the cache lives (it holds the sender), but a report it is.
            None => self.fresh(plan).await,
        }
    }

    /// The last check's report, without waiting: `None` until the first has ended.
    pub(crate) fn last(&self) -> Option<Arc<HealthReport>> {
        self.latest.borrow().as_ref().map(|c| c.report.clone())
    }

    /// A report of a check begun after this call: the last one if it began after (another
    /// caller ran it while this one waited), else a new one. One check at a time.
    pub(crate) async fn fresh(&self, plan: &Plan) -> Arc<HealthReport> {
        let asked = Instant::now();
        let _alone = self.running.lock().await;
        if let Some(last) = self.latest.borrow().as_ref()
            && last.started >= asked
        {
            return last.report.clone();
        }
        let started = Instant::now();
        let report = Arc::new(check(plan).await);
        self.latest.send_replace(Some(Checked {
            report: report.clone(),
            started,
        }));
        report
    }
}

/// The background check: at once, then every [`REFRESH`], until `stop`.
pub(crate) async fn refresh(service: Arc<Service>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = service.health.fresh(&service.plan) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }
}
