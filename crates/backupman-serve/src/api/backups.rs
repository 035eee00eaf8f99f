//! `GET /api/backups` (stored backups from the drives, plus pending and failed runs since
//! start) and `POST /api/backups` (start a run in the background).

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use backupman_ops::record::{BackupRecord, RecordStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorBody, Unauthorized, error};
use crate::runs::{self, NotStarted};
use crate::service::Service;

/// The original's list shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BackupList {
    /// Newest first.
    pub results: Vec<BackupRecord>,
}

/// The original's acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Message {
    /// `Backup started`.
    pub message: String,
}

/// Every backup: stored ones with their copy on each drive, and those pending or failed
/// since the server started.
#[utoipa::path(
    get,
    path = "/api/backups",
    tag = "backups",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Backups, newest first", body = BackupList),
        (status = 401, description = "Missing or wrong X-Api-Key", body = Unauthorized),
    )
)]
pub(crate) async fn list(State(service): State<Arc<Service>>) -> Json<BackupList> {
    let stored = BackupRecord::from_stored(&service.stored().await.found);
    let runs = service.runs.records();
    Json(BackupList {
        results: merged(&stored, &runs).into_iter().cloned().collect(),
    })
}

/// Stored backups and the runs' pending and failed records as one list, newest first (the
/// API's list and the status page show the same).
pub(crate) fn merged<'a>(
    stored: &'a [BackupRecord],
    runs: &'a [BackupRecord],
) -> Vec<&'a BackupRecord> {
    // A source's backup is on the drive a moment before its run reports it done: once a
    // stored backup of the source began after the run did, the pending record is stale.
    let mut results: Vec<&BackupRecord> = runs
        .iter()
        .filter(|r| {
            r.status != RecordStatus::Pending
                || !stored
                    .iter()
                    .any(|s| s.label == r.label && s.created_at >= r.created_at)
        })
        .collect();
    let mut seen: HashSet<&str> = results.iter().map(|r| r.id.as_str()).collect();
    for stored in stored {
        // A backup a drive failed to store is both in memory (with the failure) and on the
        // drives that stored it: the record with the failure wins.
        if seen.insert(stored.id.as_str()) {
            results.push(stored);
        }
    }
    results.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    results
}

/// Starts a backup of every source to every drive and answers at once.
#[utoipa::path(
    post,
    path = "/api/backups",
    tag = "backups",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The backup started", body = Message),
        (status = 401, description = "Missing or wrong X-Api-Key", body = Unauthorized),
        (status = 409, description = "A backup is already running", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    )
)]
pub(crate) async fn create(State(service): State<Arc<Service>>) -> Response {
    match runs::start(&service, "POST /api/backups", runs::Which::All) {
        Ok(()) => Json(Message {
            message: "Backup started".into(),
        })
        .into_response(),
        Err(NotStarted::Busy) => error(
            StatusCode::CONFLICT,
            "a backup is already running; try again when it has finished",
        ),
        Err(NotStarted::Stopping) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
    }
}
