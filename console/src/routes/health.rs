//! Liveness, `/api/health` (the source documents' shape) and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use javari_core::health::{Checks, HealthReport, check_database};

use crate::AppState;

/// The process is up; says nothing about its dependencies.
pub async fn liveness() -> &'static str {
    "ok"
}

/// 200 with `status: healthy` when every dependency answers, 503 otherwise.
#[utoipa::path(get, path = "/api/health", tag = "health", security(()),
    responses(
        (status = 200, description = "Every dependency answers", body = HealthReport),
        (status = 503, description = "A dependency does not answer", body = HealthReport),
    ))]
pub async fn api_health(State(state): State<AppState>) -> impl IntoResponse {
    let report = HealthReport::from_checks(Checks {
        database: check_database(&state.db).await,
    });
    let code = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(report))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        javari_core::telemetry::render_metrics(&state.metrics.registry),
    )
}
