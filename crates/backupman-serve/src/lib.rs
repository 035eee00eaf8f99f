//! backupman's service mode, `backupman serve`: a second front end beside the command line,
//! over the same operations (`backupman-ops`). It runs the backup job on the `http.backup_job`
//! cron schedule, one run at a time, and answers the original backupman's HTTP API (same
//! paths, same JSON field names), plus Prometheus metrics at `/metrics` and an OpenAPI
//! document at `/openapi.json`.
//!
//! - `GET /ping`: open; `GET /health`: open, answered from the last check (run in the
//!   background every minute), or a fresh check with a valid `X-Api-Key`;
//! - `GET /api/backups`, `POST /api/backups`, `GET /api/backups/{id}/generate-download-url`:
//!   need an `X-Api-Key` from `http.api_keys`;
//! - `GET /api/backups/{id}/download`: the key, or a signed link from
//!   `generate-download-url`;
//! - `GET /`: the status page for people (`web/`): each source's last backup, a mark by its
//!   age against the schedule, SVG charts of size and duration, a page per source with
//!   downloads, health, and "Back up now". Server-side HTML with no script and a strict
//!   `Content-Security-Policy`; a sign-in form takes an API key and keeps an `HttpOnly`,
//!   `SameSite=Strict` session cookie, and every form that changes something carries the
//!   session's CSRF token.
//!
//! Finished backups are read from the drives and their manifests, so a restart loses
//! nothing; runs in progress and failed runs since the start are kept in memory.
//!
//! It holds on an open network: header and idle timeouts and a connection limit that closes
//! the oldest idle connection to make room (`http.header_timeout_seconds`,
//! `idle_timeout_seconds`, `max_connections`), and `/health` never starts a check for a
//! caller without a key.
//!
//! ```no_run
//! use backupman_serve::{ServeOptions, serve};
//! use backupman_core::CancellationToken;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let loaded = backupman_ops::wiring::load_config(std::path::Path::new("config.yml"))?;
//! let shutdown = CancellationToken::new();
//! // Cancel `shutdown` (on SIGTERM, say) to stop: scheduling ends, a running backup gets
//! // `http.shutdown_grace_seconds` to finish and is then cancelled.
//! serve(loaded.config, ServeOptions::new("127.0.0.1:8080".parse()?, shutdown)).await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod api;
mod auth;
mod disposition;
mod error;
mod health;
mod links;
mod listen;
mod metrics;
mod openapi;
mod runs;
mod scheduler;
mod service;
mod stored;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backupman_config::Config;
use backupman_core::CancellationToken;

pub use error::ServeError;
pub use openapi::openapi_json;

use crate::service::Service;

/// The port the original backupman listens on, and ours by default.
pub const DEFAULT_PORT: u16 = 8080;

/// How long open HTTP connections get to finish after a shutdown signal, once the running
/// backup (if any) has ended.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// API keys shorter than this are warned about at start.
const SHORT_KEY: usize = 16;

/// Where to listen and when to stop.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address and port to listen on.
    pub bind: SocketAddr,
    /// Cancelled to stop the service (the command line cancels it on SIGTERM or SIGINT).
    pub shutdown: CancellationToken,
    /// The commit and build date `/health` reports (empty when unknown): the program that
    /// hosts the service knows how it was built, this library does not.
    pub build: Build,
}

/// How the hosting program was built, as `/health` reports it.
#[derive(Debug, Clone, Default)]
pub struct Build {
    /// The commit it was built from.
    pub commit: String,
    /// When, RFC 3339.
    pub date: String,
}

impl ServeOptions {
    /// Listen on `bind`, stop when `shutdown` is cancelled.
    pub fn new(bind: SocketAddr, shutdown: CancellationToken) -> Self {
        Self {
            bind,
            shutdown,
            build: Build::default(),
        }
    }

    /// Reports `build` on `/health`.
    pub fn with_build(mut self, build: Build) -> Self {
        self.build = build;
        self
    }
}

/// Runs the service until `options.shutdown` is cancelled, then stops scheduling, lets a
/// running backup finish within `http.shutdown_grace_seconds`, cancels it after that (its
/// uploads are aborted, nothing partial is left), and returns.
pub async fn serve(config: Config, options: ServeOptions) -> Result<(), ServeError> {
    if config.http.api_keys.is_empty() {
        return Err(ServeError::NoApiKeys);
    }
    for (i, key) in config.http.api_keys.iter().enumerate() {
        let length = key.expose().chars().count();
        if length < SHORT_KEY {
            // Only the length is said: the key itself never reaches a log.
            tracing::warn!(
                "http.api_keys[{i}] has only {length} characters: whoever reaches the server \
                 can guess a short key; use a long random one, e.g. `openssl rand -hex 32`"
            );
        }
    }
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: options.bind,
        source,
    })?;
    let base_url = config
        .http
        .app_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
    let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
    let jobs = scheduler::jobs(&config);
    let stop = options.shutdown;
    let refresh_every = Duration::from_secs(config.http.catalog_refresh_seconds);
    let mut service = Service::new(config, base_url, stop.clone())?;
    service.build = options.build;
    let service = Arc::new(service);
    // In the background: a slow or unreachable drive must not hold up the API or the schedule.
    tokio::spawn({
        let service = service.clone();
        let stop = stop.clone();
        async move {
            service.load_last_successes().await;
            service.catalog.keep_fresh(refresh_every, stop).await;
        }
    });

    // At start and every minute, one check at a time: `GET /health` without a key answers
    // from it, so a flood of requests never starts a dump.
    tokio::spawn(health::refresh(service.clone(), stop.clone()));

    let router = api::router(service.clone());
    let limits = listen::Limits::of(&service.config.http);
    // The listener outlives `stop`: during the grace period the service keeps answering
    // (503 for new runs, `/ping` and `/health` say it is stopping), so a readiness probe sees
    // the change rather than a refused connection. It closes once the running backup ended.
    let close_listener = CancellationToken::new();
    let mut http = tokio::spawn(listen::serve(
        listener,
        router,
        limits,
        close_listener.clone(),
    ));
    tracing::info!("listening on http://{addr}");
    let schedulers: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            tracing::info!(
                "{:?} backed up by {:?} ({})",
                job.sources,
                job.job.cron,
                job.job.timezone.name()
            );
            tokio::spawn(scheduler::schedule(service.clone(), job, stop.clone()))
        })
        .collect();
    if schedulers.is_empty() {
        tracing::info!(
            "no backup schedule (http.backup_job, or a source's schedule): backups start by POST /api/backups"
        );
    }

    // Both may be ready at once (the graceful shutdown is quick): remember which ended, as
    // a finished task must not be awaited again.
    let mut http_ended = false;
    tokio::select! {
        _ = stop.cancelled() => {}
        ended = &mut http => {
            http_ended = true;
            // The listener failed on its own: stop everything else the same way.
            stop.cancel();
            if let Err(err) = ended {
                tracing::error!("the HTTP server stopped: {err}");
            }
        }
    }
    tracing::info!(
        "stopping: no more scheduled backups; a running backup gets {} s to finish (interrupt again to quit at once)",
        grace.as_secs()
    );
    for scheduler in schedulers {
        let _ = scheduler.await;
    }
    service.runs.finish_or_cancel(grace).await;
    close_listener.cancel();
    if !http_ended && tokio::time::timeout(HTTP_DRAIN, &mut http).await.is_err() {
        http.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
