//! The router: one module per area of the console.

mod health;

use axum::Router;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::metrics;

/// Builds the console's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::liveness))
        .route("/api/health", get(health::api_health))
        .route("/metrics", get(health::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
