//! The open routes: `GET /ping`, `GET /health` (the original's `Status` and `Details`
//! layout: the last background check, or a fresh one with a valid key), `GET /metrics` and
//! `GET /openapi.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use backupman_ops::health;
use backupman_ops::wiring::Plan;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::Service;

/// `{"message": "pong"}`, as the original answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Pong {
    /// Always `pong`.
    pub message: String,
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum HealthStatus {
    /// Works.
    #[serde(rename = "UP")]
    Up,
    /// Does not.
    #[serde(rename = "DOWN")]
    Down,
    /// The service is stopping: it takes no new runs and is about to go away.
    #[serde(rename = "STOPPING")]
    Stopping,
}

impl HealthStatus {
    fn of(ok: bool) -> Self {
        if ok { Self::Up } else { Self::Down }
    }
}

/// The original's health report.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HealthReport {
    /// backupman's version.
    pub version: String,
    /// The commit it was built from, when known.
    #[serde(rename = "CommitSHA")]
    pub commit_sha: String,
    /// When it was built, when known.
    pub build_date: String,
    /// `UP` when every source and drive is.
    pub status: HealthStatus,
    /// `DataSources` and `Drives`.
    pub details: BTreeMap<String, HealthGroup>,
}

/// Sources or drives: down when any is.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HealthGroup {
    /// `UP` when every component is.
    pub status: HealthStatus,
    /// By label.
    pub components: BTreeMap<String, HealthComponent>,
}

/// One source or drive.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HealthComponent {
    /// `UP` or `DOWN` (why is logged, not served: this route needs no key).
    pub status: HealthStatus,
}

/// Liveness: `pong`, or `stopping` during the shutdown's grace period (still 200: a
/// liveness probe must not kill a service that is finishing a backup).
#[utoipa::path(get, path = "/ping", tag = "status", responses((status = 200, body = Pong)))]
pub(crate) async fn ping(State(service): State<Arc<Service>>) -> Json<Pong> {
    let message = if service.stopping.is_cancelled() {
        "stopping"
    } else {
        "pong"
    };
    Json(Pong {
        message: message.into(),
    })
}

/// Can every source be dumped, and does every drive allow what a backup needs? Without a
/// key, the last check (run at start and every minute in the background, so requests never
/// start dumps); with a valid `X-Api-Key`, a check begun after the request (one at a time).
/// Answered with 200 whatever the status, as the original does.
#[utoipa::path(
    get,
    path = "/health",
    tag = "status",
    security((), ("api_key" = [])),
    responses(
        (status = 200, body = HealthReport),
        (status = 503, description = "The service is stopping (`Status: STOPPING`)", body = HealthReport),
    )
)]
pub(crate) async fn health(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if service.stopping.is_cancelled() {
        // Readiness: no new work here; nothing is checked.
        let stopping = HealthReport {
            status: HealthStatus::Stopping,
            details: BTreeMap::new(),
            ..skeleton()
        };
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(stopping.built(&service.build)),
        )
            .into_response();
    }
    let report = if service.keys.accepts(&headers) {
        service.health.fresh(&service.plan).await
    } else {
        service.health.latest(&service.plan).await
    };
    Json(HealthReport::clone(&report).built(&service.build)).into_response()
}

impl HealthReport {
    /// The report with the hosting program's commit and build date.
    fn built(self, build: &crate::Build) -> Self {
        Self {
            commit_sha: build.commit.clone(),
            build_date: build.date.clone(),
            ..self
        }
    }
}

/// A report with this library's version and nothing checked yet; the commit and build date
/// are the hosting program's ([`HealthReport::built`]).
fn skeleton() -> HealthReport {
    HealthReport {
        version: env!("CARGO_PKG_VERSION").into(),
        commit_sha: String::new(),
        build_date: String::new(),
        status: HealthStatus::Up,
        details: BTreeMap::new(),
    }
}

/// Runs every check once; why a component is down is logged here, once per check.
pub(crate) async fn check(plan: &Plan) -> HealthReport {
    let report = health::health(plan).await;
    let sources: BTreeMap<String, HealthComponent> = report
        .sources
        .iter()
        .map(|s| {
            if let Some(err) = &s.error {
                tracing::warn!("health: source {:?}: {err}", s.source);
            }
            (
                s.source.clone(),
                HealthComponent {
                    status: HealthStatus::of(s.ok),
                },
            )
        })
        .collect();
    let drives: BTreeMap<String, HealthComponent> = report
        .drives
        .iter()
        .map(|d| {
            for c in d.checks.iter().filter(|c| !c.ok) {
                match &c.error {
                    Some(err) => tracing::warn!("health: drive {:?}: {}: {err}", d.drive, c.check),
                    None => tracing::warn!("health: drive {:?}: {}: failed", d.drive, c.check),
                }
            }
            (
                d.drive.clone(),
                HealthComponent {
                    status: HealthStatus::of(d.ok),
                },
            )
        })
        .collect();
    let group = |components: BTreeMap<String, HealthComponent>| HealthGroup {
        status: HealthStatus::of(components.values().all(|c| c.status == HealthStatus::Up)),
        components,
    };
    HealthReport {
        status: HealthStatus::of(report.ok),
        details: BTreeMap::from([
            ("DataSources".to_owned(), group(sources)),
            ("Drives".to_owned(), group(drives)),
        ]),
        ..skeleton()
    }
}

/// Prometheus metrics, text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    responses((status = 200, description = "Prometheus text format (OpenMetrics when asked for)", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let (body, content_type) = if openmetrics {
        (
            service.metrics.openmetrics(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            service.metrics.prometheus_text(),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// This API's OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "status",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi() -> Response {
    let mut response = crate::openapi_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
