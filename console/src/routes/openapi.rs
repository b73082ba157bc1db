//! The OpenAPI document of the JSON API, generated from the handlers' `#[utoipa::path]`
//! attributes and the request and response types' `ToSchema`, served at
//! `GET /api/openapi.json`.
//!
//! To document a new route under `/api/`:
//! 1. put `#[utoipa::path(METHOD, path = "/api/...", ...)]` on its handler, with `request_body`,
//!    `params` and the success `responses` (errors are added to every operation below);
//! 2. derive `utoipa::ToSchema` on its body types (`IntoParams` on a query struct);
//! 3. add the handler to `paths(...)` of [`ApiDoc`] — the one list of documented routes.
//!
//! `console/tests/openapi.rs` fails, naming the route, while a route the router has is missing
//! here; the schemathesis run (`console/tests/api_fuzz.rs`) then fuzzes it.

use std::sync::OnceLock;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    auth, chat, conversations, crawls, health, incidents, knowledge, resources, restores, runbooks,
    status, users,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Javari console API",
        description = "The console's JSON API. Authenticate with `Authorization: Bearer <API token>` \
            (tokens from `POST /api/tokens` or the Tokens page). Every error is answered as \
            `{\"error\": message}` with a 4xx or 5xx status."
    ),
    paths(
        openapi_json,
        health::api_health,
        auth::me,
        auth::create_user,
        auth::list_tokens,
        auth::create_token,
        auth::revoke_token,
        users::api_list,
        users::api_update,
        users::api_tokens,
        users::api_revoke_token,
        chat::api_chat,
        conversations::api_list,
        conversations::api_create,
        conversations::api_get,
        conversations::api_update,
        conversations::api_continue,
        knowledge::api_upload,
        knowledge::api_search,
        knowledge::api_documents,
        crawls::api_list,
        crawls::api_create,
        crawls::api_get,
        crawls::api_update,
        crawls::api_delete,
        crawls::api_crawl,
        crawls::api_run,
        crawls::api_allow_private,
        crawls::api_revoke_private,
        status::api,
        status::shields,
        status::metrics_summary,
        resources::action_api,
        resources::set_value_api,
        incidents::api_list,
        incidents::api_get,
        incidents::api_declare,
        incidents::api_update,
        incidents::api_acknowledge,
        incidents::api_note,
        incidents::api_resolve,
        incidents::api_merge,
        incidents::api_postmortem,
        incidents::api_save_postmortem,
        incidents::api_add_action_item,
        runbooks::api_list,
        runbooks::api_get,
        runbooks::api_preview,
        runbooks::api_start,
        runbooks::api_run,
        runbooks::api_step,
        runbooks::api_approve,
        runbooks::api_cancel,
        restores::api_restore,
        restores::api_list,
        restores::api_get,
        restores::api_approve,
        restores::api_decline,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The `bearer` scheme every operation but the public ones names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("jv_ API token")
                    .build(),
            ),
        );
    }
}

/// Every operation's errors: any status not listed is a 4xx/5xx with an [`ErrorBody`]
/// (`crate::error::ErrorBody`), so one place describes them for all routes.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = ResponseBuilder::new()
            .description("The request was refused or failed: `error` says why")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| error.clone().into());
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI document of the JSON API", body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document()),
    )
}
