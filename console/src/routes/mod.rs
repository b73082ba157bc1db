//! The router: one module per area of the console. Every route but the health checks,
//! static assets and the sign-in page sits behind a role gate.

mod auth;
mod backups;
mod chat;
mod conversations;
mod crawls;
mod health;
mod json;
mod knowledge;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, patch, post};
use tower_http::trace::TraceLayer;

pub use self::chat::OVERHEAD_HEADER;
pub(crate) use self::knowledge::embed_document;
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
        .route("/static/app.css", get(assets::app_css))
        .route("/static/chat.js", get(assets::chat_js))
        .route("/login", get(auth::login_form).post(auth::login))
        .route(
            "/login/mfa",
            get(auth::login_mfa_form).post(auth::login_mfa),
        );

    let viewer = Router::new()
        .route("/", get(chat::home))
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
        .route_layer(from_fn_with_state(state.clone(), require_viewer));

    let operator_uploads = Router::new()
        .route("/api/javari/knowledge/upload", post(knowledge::api_upload))
        .route("/knowledge/upload", post(knowledge::page_upload))
        .layer(upload_limit)
        .route_layer(from_fn_with_state(state.clone(), require_operator));

    let operator = Router::new()
        .route("/api/javari/chat", post(chat::api_chat))
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
        .route(
            "/conversations/{id}/continue",
            post(conversations::continue_page),
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
        .route("/api/users", post(auth::create_user))
        .route("/api/tokens", post(auth::create_token))
        .route(
            "/api/javari/web-crawls/{id}/private-network",
            post(crawls::api_allow_private).delete(crawls::api_revoke_private),
        )
        .route(
            "/web-crawls/{id}/private-network",
            post(crawls::page_private),
        )
        .route_layer(from_fn_with_state(state.clone(), require_admin));

    Router::new()
        .merge(public)
        .merge(viewer.layer(json_limit))
        .merge(operator.layer(json_limit))
        .merge(admin.layer(json_limit))
        .merge(operator_uploads)
        .fallback(chat::not_found)
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(security::headers))
        // The span names the path only: query strings may carry a form's CSRF token.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}
