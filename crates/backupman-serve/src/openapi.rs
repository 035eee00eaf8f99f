//! The OpenAPI document served at `/openapi.json`, generated from the handlers' annotations
//! so it cannot drift from the routes.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "backupman",
        description = "Scheduled database backups: the original backupman's HTTP API, plus metrics."
    ),
    paths(
        api::status::ping,
        api::status::health,
        api::status::metrics,
        api::status::openapi,
        api::backups::list,
        api::backups::create,
        api::download::download,
        api::download::generate_url,
        api::schedule::schedule,
    ),
    modifiers(&KeyScheme),
    tags(
        (name = "backups", description = "Need X-Api-Key (download: or a signed link)"),
        (name = "status", description = "Open"),
    )
)]
struct Document;

struct KeyScheme;

impl Modify for KeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(crate::auth::HEADER))),
        );
    }
}

/// The OpenAPI document of the service's API, as JSON.
pub fn openapi_json() -> String {
    Document::openapi().to_pretty_json().unwrap_or_else(|err| {
        format!("{{\"Error\": \"cannot encode the OpenAPI document: {err}\"}}")
    })
}
