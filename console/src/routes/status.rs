//! The public status page (`/status`), `GET /api/status`, and badges per public component:
//! status, uptime per window, response time (SVG), and a Shields endpoint. No sign-in;
//! only components marked public (see `platform::public`) exist here, anything else is 404.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use javari_core::history::Window;
use javari_core::statuspage::ComponentState;
use javari_core::svg::{Bar, badge, percent, uptime_bars, uptime_color};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, PageError};
use crate::status_page::{Component, StatusSummary};

/// Browsers and shields.io may keep badges and the status JSON this long.
const CACHE: &str = "public, max-age=30";

struct ComponentView {
    name: String,
    state: ComponentState,
    uptime_24h: String,
    uptime_90d: String,
    bars_svg: String,
    badge_path: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "status.html")]
struct StatusPage {
    description: &'static str,
    indicator: String,
    components: Vec<ComponentView>,
    updated: String,
}

fn bars_svg(c: &Component) -> String {
    let bars: Vec<Bar> = c
        .bars
        .iter()
        .map(|b| Bar {
            label: b.day.to_string(),
            uptime: b.uptime(),
            checks: b.checks,
        })
        .collect();
    uptime_bars(
        &format!(
            "{}: uptime per day over the last {} days",
            c.name,
            bars.len()
        ),
        &bars,
    )
}

/// `GET /status`.
pub async fn page(State(state): State<AppState>) -> Result<Response, PageError> {
    let summary = state.status.get(&state).await?;
    let components = summary
        .components
        .iter()
        .map(|c| ComponentView {
            name: c.name.clone(),
            state: c.status,
            uptime_24h: percent(c.uptime.day),
            uptime_90d: percent(c.uptime.quarter),
            bars_svg: bars_svg(c),
            badge_path: format!("/badges/{}/{}", c.namespace, c.monitor),
        })
        .collect();
    let page = StatusPage {
        description: summary.page.description,
        indicator: format!("{:?}", summary.page.indicator).to_lowercase(),
        components,
        updated: summary
            .updated_at
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    };
    Ok(([(header::CACHE_CONTROL, CACHE)], page).into_response())
}

/// `GET /api/status`.
#[utoipa::path(get, path = "/api/status", tag = "status", security(()),
    responses((status = 200, description = "The public components and the page indicator", body = StatusSummary)))]
pub async fn api(State(state): State<AppState>) -> Result<Response, ApiError> {
    let summary = state.status.get(&state).await?;
    Ok((
        [(header::CACHE_CONTROL, CACHE)],
        Json(StatusSummary::clone(&summary)),
    )
        .into_response())
}

async fn public_component(
    state: &AppState,
    namespace: &str,
    name: &str,
) -> Result<Component, ApiError> {
    // A badge needs one component: the kept summary if it is fresh, else that one alone.
    if let Some(summary) = state.status.fresh().await {
        return summary
            .component(namespace, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("public component"));
    }
    // One Monitor from the watched store (no list); through the public list otherwise.
    let watched = state
        .watched
        .as_deref()
        .and_then(|w| w.monitors.get(namespace, name));
    let monitor = match watched {
        Some(m) => m,
        None => state
            .public
            .monitors(state.kube.as_ref(), state.watched.as_deref())
            .await
            .map_err(|e| ApiError::internal("cannot list public Monitors", e))?
            .iter()
            .find(|m| m.namespace().as_deref() == Some(namespace) && m.name_any() == name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("public component"))?,
    };
    if !crate::platform::public::is_public(&monitor) {
        return Err(ApiError::not_found("public component"));
    }
    let tiers = javari_core::history::tiers(&state.db).await?;
    crate::status_page::component(state, tiers, &monitor, chrono::Utc::now()).await
}

fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        body,
    )
        .into_response()
}

/// What one badge says.
struct BadgeText {
    label: String,
    message: String,
    color: String,
}

fn response_color(c: &Component, ms: Option<i64>) -> &'static str {
    match (ms, c.warning_ms, c.critical_ms) {
        (None, _, _) => "#9e9e9e",
        (Some(v), _, Some(critical)) if v > critical => "#c62828",
        (Some(v), Some(warning), _) if v > warning => "#f9a825",
        (Some(v), None, None) if v > 1000 => "#f9a825",
        _ => "#2e7d32",
    }
}

fn which(c: &Component, kind: &str) -> Option<BadgeText> {
    if kind == "status" {
        return Some(BadgeText {
            label: c.name.clone(),
            message: c.status.label().to_lowercase(),
            color: c.status.color().to_owned(),
        });
    }
    if kind == "response-time" {
        let p95 = c.response_time_ms.p95;
        return Some(BadgeText {
            label: "response time 24h".to_owned(),
            message: p95.map_or("no data".to_owned(), |v| format!("p95 ≤ {v} ms")),
            color: response_color(c, p95).to_owned(),
        });
    }
    let window = Window::parse(kind.strip_prefix("uptime-")?)?;
    let uptime = c.uptime.get(window);
    Some(BadgeText {
        label: format!("uptime {}", window.label()),
        message: percent(uptime),
        color: uptime_color(uptime).to_owned(),
    })
}

/// `GET /badges/{ns}/{name}/{badge}` with `badge` one of `status.svg`,
/// `uptime-{1h,24h,7d,30d,90d}.svg`, `response-time.svg`.
pub async fn badge_svg(
    State(state): State<AppState>,
    Path((namespace, name, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let kind = file
        .strip_suffix(".svg")
        .ok_or_else(|| ApiError::not_found("badge"))?;
    let c = public_component(&state, &namespace, &name).await?;
    let text = which(&c, kind).ok_or_else(|| ApiError::not_found("badge"))?;
    Ok(svg(badge(&text.label, &text.message, &text.color)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShieldsQuery {
    /// `status` (default), `response-time` or `uptime-1h|24h|7d|30d|90d`.
    badge: Option<String>,
}

/// <https://shields.io/badges/endpoint-badge>
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ShieldsEndpoint {
    schema_version: u8,
    label: String,
    message: String,
    color: String,
    cache_seconds: u32,
}

/// `GET /api/badges/{ns}/{name}/shields?badge=status|uptime-24h|response-time`.
#[utoipa::path(get, path = "/api/badges/{namespace}/{name}/shields", tag = "status", security(()),
    params(("namespace" = String, Path, description = "The Monitor's namespace"),
           ("name" = String, Path, description = "The Monitor's name"), ShieldsQuery),
    responses((status = 200, description = "A Shields endpoint badge of a public component", body = ShieldsEndpoint)))]
pub async fn shields(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    Query(q): Query<ShieldsQuery>,
) -> Result<Response, ApiError> {
    let c = public_component(&state, &namespace, &name).await?;
    let kind = q.badge.as_deref().unwrap_or("status");
    let text = which(&c, kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "badge must be status, response-time or uptime-{1h,24h,7d,30d,90d}",
        )
    })?;
    Ok((
        [(header::CACHE_CONTROL, CACHE)],
        Json(ShieldsEndpoint {
            schema_version: 1,
            label: text.label,
            message: text.message,
            color: text.color,
            cache_seconds: 30,
        }),
    )
        .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Latency {
    p50: Option<i64>,
    p95: Option<i64>,
    p99: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CheckSummary {
    window: &'static str,
    requests: i64,
    errors: i64,
    error_rate: Option<f64>,
    latency_ms: Latency,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CostSummary {
    since: chrono::DateTime<chrono::Utc>,
    cost_usd: f64,
    answers: i64,
    by_provider: Vec<javari_core::overview::ProviderCost>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AiSummary {
    today: CostSummary,
    month: CostSummary,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MetricsSummary {
    generated_at: chrono::DateTime<chrono::Utc>,
    /// Every Monitor's checks over the last 24 hours: requests, failures, response times.
    checks: CheckSummary,
    ai: AiSummary,
    open_incidents: std::collections::BTreeMap<String, i64>,
}

async fn cost_since(
    state: &AppState,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<CostSummary, ApiError> {
    let by_provider = javari_core::overview::cost_by_provider(&state.db, since).await?;
    Ok(CostSummary {
        since,
        cost_usd: by_provider.iter().map(|p| p.cost_usd).sum(),
        answers: by_provider.iter().map(|p| p.answers).sum(),
        by_provider,
    })
}

/// `GET /api/metrics` (viewers and API tokens): a JSON summary for dashboards and scripts.
#[utoipa::path(get, path = "/api/metrics", tag = "status",
    responses((status = 200, description = "Checks, AI cost by provider and open incidents", body = MetricsSummary)))]
pub async fn metrics_summary(State(state): State<AppState>) -> Result<Response, ApiError> {
    use chrono::{Datelike, TimeZone, Utc};
    let now = Utc::now();
    let t = javari_core::history::tiers(&state.db).await?;
    let trend = state.fleet.trend(&state.db, t, now, 24).await?;
    let mut histogram = javari_core::history::Histogram::empty();
    let (mut requests, mut up) = (0, 0);
    for p in &trend {
        requests += p.checks;
        up += p.up;
        histogram.add(&p.histogram);
    }
    let errors = requests - up;
    let day = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(day);
    let (_, severities) = javari_core::overview::open_incidents(&state.db).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(MetricsSummary {
            generated_at: now,
            checks: CheckSummary {
                window: "24h",
                requests,
                errors,
                error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
                latency_ms: Latency {
                    p50: histogram.percentile(0.5),
                    p95: histogram.percentile(0.95),
                    p99: histogram.percentile(0.99),
                },
            },
            ai: AiSummary {
                today: cost_since(&state, day).await?,
                month: cost_since(&state, month).await?,
            },
            open_incidents: severities.into_iter().collect(),
        }),
    )
        .into_response())
}
