//! `GET /api/backups/{id}/download` (`id`: a drive file's `Id`) streams the object from its
//! drive, local or S3; `GET /api/backups/{id}/generate-download-url` (`id`: a backup's `Id`)
//! gives a link that works without the key until it expires: the drive's presigned GET
//! where it can sign one, else a signed link to the download route above.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use backupman_ops::catalog::Found;
use backupman_ops::record::{backup_id, drive_file_id};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ErrorBody, Unauthorized, drive_error, error, unauthorized};
use crate::service::Service;

/// A signed link's query: both or neither. Read as text: a malformed link is simply not a
/// valid one (401 without the key), not a malformed request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LinkQuery {
    /// Unix time after which the link no longer works.
    expires: Option<String>,
    /// HMAC-SHA256 of the drive file id and `expires`, hex.
    signature: Option<String>,
}

/// A generated download URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DownloadUrl {
    /// Fetch it with a plain GET, no key.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Streams one stored copy of a backup (gzip bytes, exactly as stored).
#[utoipa::path(
    get,
    path = "/api/backups/{id}/download",
    tag = "backups",
    params(("id" = String, Path, description = "A DriveFiles Id"), LinkQuery),
    security(("api_key" = []), ()),
    responses(
        (status = 200, description = "The object", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid X-Api-Key and no valid signed link", body = Unauthorized),
        (status = 404, description = "No stored copy has this id, or its object is no longer on the drive", body = ErrorBody),
        (status = 403, description = "The drive refuses this service the object", body = ErrorBody),
        (status = 502, description = "The drive could not be read", body = ErrorBody),
        (status = 503, description = "The drive cannot be reached now, or is busy", body = ErrorBody),
    )
)]
pub(crate) async fn download(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(link): Query<LinkQuery>,
    headers: HeaderMap,
) -> Response {
    let signed = match (link.expires.and_then(|e| e.parse().ok()), &link.signature) {
        (Some(expires), Some(signature)) => {
            service
                .links
                .verify(&id, expires, signature, Utc::now().timestamp())
        }
        _ => false,
    };
    if !signed && !service.keys.accepts(&headers) {
        return unauthorized();
    }
    let Some(f) = find_copy(&service, |f| {
        drive_file_id(f.drive.label(), &f.backup.key) == id
    })
    .await
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no stored backup copy has id {id}"),
        );
    };
    let stream = match f.drive.read(&f.backup.key).await {
        Ok(stream) => stream,
        Err(err) => return drive_error(&err),
    };
    let name = f.backup.key.rsplit('/').next().unwrap_or(&f.backup.key);
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.backup.size));
    // Encoded whatever the name holds: a name from a drive is not trusted to be a slug.
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::disposition::attachment(name),
    );
    response
}

/// A URL for the backup's first drive holding it, downloadable without the key until it
/// expires (`http.download_url_minutes`).
#[utoipa::path(
    get,
    path = "/api/backups/{id}/generate-download-url",
    tag = "backups",
    params(("id" = String, Path, description = "A backup Id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The URL", body = DownloadUrl),
        (status = 401, description = "Missing or wrong X-Api-Key", body = Unauthorized),
        (status = 404, description = "No stored backup has this id", body = ErrorBody),
        (status = 403, description = "The drive refuses this service a URL", body = ErrorBody),
        (status = 502, description = "The drive could not sign a URL", body = ErrorBody),
        (status = 503, description = "The drive cannot be reached now, or is busy", body = ErrorBody),
    )
)]
pub(crate) async fn generate_url(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Response {
    // Drives are listed in configuration order, so the first match is the first drive.
    let Some(f) = find_copy(&service, |f| backup_id(&f.backup.key) == id).await else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no stored backup has id {id}"),
        );
    };
    let minutes = service.config.http.download_url_minutes;
    let expires_at = Utc::now() + TimeDelta::minutes(i64::from(minutes));
    let url = match f
        .drive
        .presigned_read(&f.backup.key, Duration::from_secs(u64::from(minutes) * 60))
        .await
    {
        Some(Ok(url)) => url,
        Some(Err(err)) => return drive_error(&err),
        None => local_link(&service, &f, expires_at),
    };
    Json(DownloadUrl { url, expires_at }).into_response()
}

fn local_link(service: &Service, f: &Found, expires_at: DateTime<Utc>) -> String {
    let id = drive_file_id(f.drive.label(), &f.backup.key);
    let expires = expires_at.timestamp();
    format!("{}{}", service.base_url, service.links.path(&id, expires))
}

/// The first stored copy `wanted` picks, from the catalog in memory; when none does, the
/// drives are listed again once (a backup another process just made), then it is not there.
async fn find_copy(service: &Service, wanted: impl Fn(&Found) -> bool) -> Option<Found> {
    if let Some(f) = service.stored().await.found.iter().find(|f| wanted(f)) {
        return Some(f.clone());
    }
    let fresh = service.catalog.refresh().await;
    fresh.found.iter().find(|f| wanted(f)).cloned()
}
