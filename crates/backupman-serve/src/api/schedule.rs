//! `GET /api/schedule`: when each scheduled source is backed up next, by its own `schedule`
//! or by `http.backup_job`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::Unauthorized;
use crate::scheduler::NextRun;
use crate::service::Service;

/// The scheduled sources.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Schedule {
    /// One per scheduled source, by label; a source no schedule covers is not listed.
    pub sources: Vec<NextRun>,
}

#[utoipa::path(
    get,
    path = "/api/schedule",
    tag = "backups",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Each scheduled source's next run", body = Schedule),
        (status = 401, description = "Missing or wrong X-Api-Key", body = Unauthorized),
    )
)]
pub(crate) async fn schedule(State(service): State<Arc<Service>>) -> Json<Schedule> {
    let sources = service
        .schedules
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    Json(Schedule { sources })
}
