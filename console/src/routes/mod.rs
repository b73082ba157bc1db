//! The router: one module per area of the console. Every route but the health checks,
//! static assets and the sign-in page sits behind a role gate.

mod auth;
mod backups;
mod chat;
mod conversations;
mod crawls;
mod health;
mod incidents;
mod json;
mod knowledge;
mod openapi;
mod overview;
mod resources;
mod restores;
mod runbooks;
pub(crate) mod schema;
mod status;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, patch, post};
use tower_http::trace::TraceLayer;

pub use self::chat::OVERHEAD_HEADER;
pub(crate) use self::knowledge::embed_document;
pub use self::openapi::document as openapi_document;
use crate::auth::{require_admin, require_operator, require_viewer};
use crate::{AppState, assets, metrics, security};

/// Builds the console's router.
pub fn app(state: AppState) -> Router {
    let json_limit = DefaultBodyLimit::max(state.settings.max_json_bytes);
    // Multipart framing on top of the file itself.
    let upload_limit = DefaultBodyLimit::max(state.settings.max_upload_bytes + 64 * 1024);

    let public = Router::new()
        .route("/healthz", get(health::liveness))
        .route("/api/health", get(health::api_health))
        // Every route under /api/ is listed in openapi.rs (tests/openapi.rs checks).
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/static/app.css", get(assets::app_css))
        .route("/static/chat.js", get(assets::chat_js))
        .route("/static/live.js", get(assets::live_js))
        // The public status page and badges: only components marked public.
        .route("/status", get(status::page))
        .route("/api/status", get(status::api))
        .route("/badges/{namespace}/{name}/{badge}", get(status::badge_svg))
        .route(
            "/api/badges/{namespace}/{name}/shields",
            get(status::shields),
        )
        .route("/login", get(auth::login_form).post(auth::login))
        .route(
            "/login/mfa",
            get(auth::login_mfa_form).post(auth::login_mfa),
        );

    let viewer = Router::new()
        .route("/", get(overview::page))
        .route("/overview/live", get(overview::live))
        .route("/api/metrics", get(status::metrics_summary))
        .route("/projects", get(resources::projects))
        .route("/projects/{namespace}/{name}", get(resources::project))
        .route("/providers", get(resources::providers_page))
        .route("/providers/{namespace}/{name}", get(resources::provider))
        .route("/monitors", get(resources::monitors))
        .route("/monitors/{namespace}/{name}", get(resources::monitor))
        .route("/credentials", get(resources::credentials))
        .route(
            "/credentials/{namespace}/{name}",
            get(resources::credential),
        )
        .route("/chat", get(chat::page))
        .route("/chat/streams/{id}", get(chat::stream))
        .route("/conversations", get(conversations::page))
        .route("/knowledge", get(knowledge::page))
        .route("/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/tokens", get(auth::list_tokens))
        .route("/api/tokens/{id}", delete(auth::revoke_token))
        .route("/tokens", get(auth::tokens_page))
        .route("/tokens/{id}/revoke", post(auth::revoke_token_form))
        .route(
            "/account/mfa",
            get(auth::mfa_settings).post(auth::mfa_confirm),
        )
        // Costs and traffic by provider are not for anonymous eyes: scrape with an API token.
        .route("/metrics", get(health::metrics))
        .route("/api/javari/conversations", get(conversations::api_list))
        .route(
            "/api/javari/conversations/{id}",
            get(conversations::api_get),
        )
        .route("/api/javari/knowledge/search", post(knowledge::api_search))
        .route(
            "/api/javari/knowledge/documents",
            get(knowledge::api_documents),
        )
        .route("/web-crawls", get(crawls::page))
        .route("/backups", get(backups::page))
        .route("/api/javari/web-crawls", get(crawls::api_list))
        .route("/api/javari/web-crawls/{id}", get(crawls::api_get))
        .route(
            "/api/javari/web-crawls/{id}/runs/{run}",
            get(crawls::api_run),
        )
        .route("/schema", get(schema::index))
        .route("/schema/tables/{schema}/{table}", get(schema::table_page))
        .route(
            "/schema/tables/{schema}/{table}/diagram.svg",
            get(schema::table_svg),
        )
        .route(
            "/schema/tables/{schema}/{table}/export.md",
            get(schema::table_markdown),
        )
        .route(
            "/schema/tables/{schema}/{table}/export.mmd",
            get(schema::table_mermaid),
        )
        .route("/schema/modules/{module}", get(schema::module_page))
        .route(
            "/schema/modules/{module}/diagram.svg",
            get(schema::module_svg),
        )
        .route(
            "/schema/modules/{module}/export.md",
            get(schema::module_markdown),
        )
        .route(
            "/schema/modules/{module}/export.mmd",
            get(schema::module_mermaid),
        )
        .route("/schema/findings", get(schema::findings_page))
        .route("/api/javari/incidents", get(incidents::api_list))
        .route("/api/javari/incidents/{id}", get(incidents::api_get))
        .route(
            "/api/javari/incidents/{id}/postmortem",
            get(incidents::api_postmortem),
        )
        .route(
            "/incidents/{id}/postmortem.md",
            get(incidents::export_postmortem),
        )
        .route("/api/javari/runbooks", get(runbooks::api_list))
        .route("/api/javari/runbooks/{id}", get(runbooks::api_get))
        .route(
            "/api/javari/runbooks/{id}/preview",
            post(runbooks::api_preview),
        )
        .route("/api/javari/runbook-runs/{id}", get(runbooks::api_run))
        .route("/incidents", get(incidents::page_list))
        .route("/incidents/{id}", get(incidents::page_detail))
        .route(
            "/incidents/{id}/postmortem",
            get(incidents::page_postmortem),
        )
        .route("/runbooks", get(runbooks::page_list))
        .route("/runbooks/{id}", get(runbooks::page_detail))
        .route("/runbook-runs/{id}", get(runbooks::page_run))
        .route_layer(from_fn_with_state(state.clone(), require_viewer));

    let operator_uploads = Router::new()
        .route("/api/javari/knowledge/upload", post(knowledge::api_upload))
        .route("/knowledge/upload", post(knowledge::page_upload))
        .layer(upload_limit)
        .route_layer(from_fn_with_state(state.clone(), require_operator));

    let operator = Router::new()
        .route("/api/javari/chat", post(chat::api_chat))
        // The write-only value of an external Credential.
        .route(
            "/credentials/{namespace}/{name}/value",
            post(resources::set_value_form),
        )
        .route(
            "/api/platform/credentials/{namespace}/{name}/value",
            post(resources::set_value_api),
        )
        // Actions on resources (roll back, rotate now, suspend/resume, check now, disable/enable).
        .route(
            "/{kind}/{namespace}/{name}/{action}",
            post(resources::action_form),
        )
        .route(
            "/api/platform/{kind}/{namespace}/{name}/{action}",
            post(resources::action_api),
        )
        .route("/chat/send", post(chat::send))
        .route("/api/javari/conversations", post(conversations::api_create))
        .route(
            "/api/javari/conversations/{id}",
            patch(conversations::api_update),
        )
        .route(
            "/api/javari/conversations/{id}/continue",
            post(conversations::api_continue),
        )
        .route("/conversations/{id}/star", post(conversations::star))
        .route("/api/javari/web-crawls", post(crawls::api_create))
        .route(
            "/api/javari/web-crawls/{id}",
            axum::routing::put(crawls::api_update).delete(crawls::api_delete),
        )
        .route("/api/javari/web-crawls/{id}/crawl", post(crawls::api_crawl))
        .route("/web-crawls", post(crawls::page_create))
        .route("/web-crawls/{id}/crawl", post(crawls::page_crawl))
        .route("/web-crawls/{id}/delete", post(crawls::page_delete))
        .route("/schema/findings/scan", post(schema::scan_now))
        .route(
            "/conversations/{id}/continue",
            post(conversations::continue_page),
        )
        .route("/api/javari/incidents", post(incidents::api_declare))
        .route("/api/javari/incidents/{id}", patch(incidents::api_update))
        .route(
            "/api/javari/incidents/{id}/acknowledge",
            post(incidents::api_acknowledge),
        )
        .route(
            "/api/javari/incidents/{id}/notes",
            post(incidents::api_note),
        )
        .route(
            "/api/javari/incidents/{id}/resolve",
            post(incidents::api_resolve),
        )
        .route(
            "/api/javari/incidents/{id}/merge",
            post(incidents::api_merge),
        )
        .route(
            "/api/javari/incidents/{id}/postmortem",
            axum::routing::put(incidents::api_save_postmortem),
        )
        .route(
            "/api/javari/incidents/{id}/action-items",
            post(incidents::api_add_action_item),
        )
        .route("/api/javari/runbooks/{id}/runs", post(runbooks::api_start))
        .route("/incidents", post(incidents::page_declare))
        .route("/incidents/{id}/act", post(incidents::page_act))
        .route(
            "/incidents/{id}/postmortem",
            post(incidents::page_save_postmortem),
        )
        .route("/runbooks/{id}/runs", post(runbooks::page_start))
        .route("/runbook-runs/{id}/step", post(runbooks::page_step))
        .route("/runbook-runs/{id}/approve", post(runbooks::page_approve))
        .route(
            "/api/javari/runbook-runs/{id}/step",
            post(runbooks::api_step),
        )
        .route(
            "/api/javari/runbook-runs/{id}/approve",
            post(runbooks::api_approve),
        )
        .route(
            "/api/javari/runbook-runs/{id}/cancel",
            post(runbooks::api_cancel),
        )
        .route_layer(from_fn_with_state(state.clone(), require_operator));

    let admin = Router::new()
        .route(
            "/backups/{namespace}/{name}/backup-now",
            post(backups::backup_now),
        )
        .route(
            "/backups/{namespace}/{name}/verify-now",
            post(backups::verify_now),
        )
        .route("/api/backups/{id}/restore", post(restores::api_restore))
        .route("/api/backups/restores", get(restores::api_list))
        .route("/api/backups/restores/{id}", get(restores::api_get))
        .route(
            "/api/backups/restores/{id}/approve",
            post(restores::api_approve),
        )
        .route(
            "/api/backups/restores/{id}/decline",
            post(restores::api_decline),
        )
        .route("/backup-restores", post(restores::page_restore))
        .route(
            "/backup-restores/{id}/approve",
            post(restores::page_approve),
        )
        .route(
            "/backup-restores/{id}/decline",
            post(restores::page_decline),
        )
        .route("/api/users", post(auth::create_user).get(users::api_list))
        .route("/api/users/{id}", patch(users::api_update))
        .route("/api/users/{id}/tokens", get(users::api_tokens))
        .route(
            "/api/users/{id}/tokens/{token}",
            delete(users::api_revoke_token),
        )
        .route("/users", get(users::page).post(users::page_create))
        .route("/users/{id}", get(users::page_user))
        .route("/users/{id}/role", post(users::page_role))
        .route("/users/{id}/disable", post(users::page_disable))
        .route("/users/{id}/enable", post(users::page_enable))
        .route(
            "/users/{id}/tokens/{token}/revoke",
            post(users::page_revoke_token),
        )
        .route("/audit", get(resources::audit_page))
        .route("/api/tokens", post(auth::create_token))
        .route(
            "/api/javari/web-crawls/{id}/private-network",
            post(crawls::api_allow_private).delete(crawls::api_revoke_private),
        )
        .route(
            "/web-crawls/{id}/private-network",
            post(crawls::page_private),
        )
        .route("/schema/findings/suppress", post(schema::suppress))
        .route("/schema/findings/unsuppress", post(schema::unsuppress))
        .route("/schema/connections", post(schema::save_connection))
        .route(
            "/schema/connections/delete",
            post(schema::delete_connection),
        )
        .route("/schema/sql", get(schema::sql_form).post(schema::sql_run))
        .route("/schema/sql.csv", post(schema::sql_csv))
        .route_layer(from_fn_with_state(state.clone(), require_admin));

    Router::new()
        .merge(public)
        .merge(viewer.layer(json_limit))
        .merge(operator.layer(json_limit))
        .merge(admin.layer(json_limit))
        .merge(operator_uploads)
        .fallback(chat::not_found)
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(crate::error::json_api_errors))
        .layer(from_fn(security::headers))
        // The span names the path only: query strings may carry a form's CSRF token.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}
