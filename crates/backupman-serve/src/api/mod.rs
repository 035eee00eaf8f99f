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

pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(Unauthorized {
            error: "Unauthorized".into(),
        }),
    )
        .into_response()
}
