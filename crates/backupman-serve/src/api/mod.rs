//! The routes, with the original backupman's paths and JSON shapes: errors are
//! `{"Error": "..."}`, and a missing or wrong key is 401 `{"error": "Unauthorized"}`.

pub(crate) mod backups;
pub(crate) mod download;
pub(crate) mod schedule;
pub(crate) mod status;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backupman_core::{DriveError, DriveErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::require_key;
use crate::service::Service;

/// Every route.
pub(crate) fn router(service: Arc<Service>) -> Router {
    let api = Router::new()
        .route("/api/backups", get(backups::list).post(backups::create))
        .route("/api/schedule", get(schedule::schedule))
        .route(
            "/api/backups/{id}/generate-download-url",
            get(download::generate_url),
        )
        .layer(from_fn_with_state(service.clone(), require_key));
    Router::new()
        .route("/ping", get(status::ping))
        .route("/health", get(status::health))
        .route("/metrics", get(status::metrics))
        .route("/openapi.json", get(status::openapi))
        // A key or a signed link: checked by the handler.
        .route("/api/backups/{id}/download", get(download::download))
        .merge(api)
        .merge(crate::web::router())
        .with_state(service)
}

/// An error as the original answers it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// The original's answer to a missing or wrong `X-Api-Key`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Unauthorized {
    /// Always `Unauthorized`.
    pub error: String,
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// A drive's failure as an answer, its status by the failure's kind: what is not there is
/// 404, what the store refuses this service is 403, a store that cannot be reached or is busy
/// is 503 (another try later may work), anything else the store did wrong is 502.
pub(crate) fn drive_error(err: &DriveError) -> Response {
    let status = match err.kind {
        DriveErrorKind::NotFound => StatusCode::NOT_FOUND,
        DriveErrorKind::Auth => StatusCode::FORBIDDEN,
        _ if err.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    error(status, err.to_string())
}

pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(Unauthorized {
            error: "Unauthorized".into(),
        }),
    )
        .into_response()
}
