//! What the console's overview and status pages read from PostgreSQL: open incidents by
//! severity, Providers with their health, latency and today's AI cost, and AI cost by
//! provider for the metrics summary.

use chrono::{DateTime, Utc};
use javari_crds::provider::ProviderHealth;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::incidents::open_statuses;

/// Open incidents shown on the overview at most.
pub const OPEN_INCIDENTS_SHOWN: i64 = 20;

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct OpenIncident {
    pub id: Uuid,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub source_kind: Option<String>,
    pub source_namespace: Option<String>,
    pub source_name: Option<String>,
    pub opened_at: DateTime<Utc>,
}

/// The newest open incidents, most severe first, and how many are open per severity
/// (P0..P3, all four listed).
pub async fn open_incidents(
    pool: &PgPool,
) -> Result<(Vec<OpenIncident>, Vec<(String, i64)>), sqlx::Error> {
    let shown: Vec<OpenIncident> = sqlx::query_as(
        "SELECT id, title, severity, status, source_kind, source_namespace, source_name, opened_at \
         FROM javari_incidents WHERE status = ANY($1) ORDER BY severity, opened_at DESC LIMIT $2",
    )
    .bind(open_statuses())
    .bind(OPEN_INCIDENTS_SHOWN)
    .fetch_all(pool)
    .await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s, count(i.id) FROM unnest(ARRAY['P0','P1','P2','P3']) AS s \
         LEFT JOIN javari_incidents i ON i.severity = s AND i.status = ANY($1) GROUP BY s ORDER BY s",
    )
    .bind(open_statuses())
    .fetch_all(pool)
    .await?;
    Ok((shown, counts))
}

/// Open incidents raised by one resource (`source_kind` e.g. `monitor`).
pub async fn incidents_of(
    pool: &PgPool,
    kind: &str,
    namespace: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<OpenIncident>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, severity, status, source_kind, source_namespace, source_name, opened_at \
         FROM javari_incidents WHERE source_kind = $1 AND source_namespace = $2 AND source_name = $3 \
         ORDER BY opened_at DESC LIMIT $4",
    )
    .bind(kind)
    .bind(namespace)
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRow {
    pub namespace: String,
    pub name: String,
    pub provider_type: String,
    pub enabled: bool,
    pub priority: i32,
    /// `Unknown` before the first probe.
    #[sqlx(try_from = "Option<String>")]
    pub health: ProviderHealth,
    pub latency_ms: Option<i32>,
    pub last_probe_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// AI cost billed through it since the start of the day (UTC).
    pub cost_today_usd: f64,
    pub answers_today: i64,
}

/// Every Provider the operator mirrors, by priority, with today's cost.
pub async fn providers(
    pool: &PgPool,
    day_start: DateTime<Utc>,
) -> Result<Vec<ProviderRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.namespace, p.name, p.provider_type, p.enabled, p.priority, p.health, p.latency_ms, \
                p.last_probe_at, p.last_error, \
                coalesce(c.cost, 0)::float8 AS cost_today_usd, coalesce(c.answers, 0)::int8 AS answers_today \
         FROM javari_providers p LEFT JOIN ( \
             SELECT provider, sum(cost_usd) AS cost, count(*) AS answers FROM javari_platform_costs \
             WHERE created_at >= $1 GROUP BY provider) c ON c.provider = p.name \
         ORDER BY p.priority, p.namespace, p.name",
    )
    .bind(day_start)
    .fetch_all(pool)
    .await
}

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderCost {
    pub provider: String,
    pub answers: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

/// AI cost by provider since `since`.
pub async fn cost_by_provider(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<ProviderCost>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, count(*)::int8 AS answers, coalesce(sum(input_tokens), 0)::int8 AS input_tokens, \
                coalesce(sum(output_tokens), 0)::int8 AS output_tokens, coalesce(sum(cost_usd), 0)::float8 AS cost_usd \
         FROM javari_platform_costs WHERE created_at >= $1 GROUP BY provider ORDER BY provider",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

/// One stored check, as the Monitor page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RecentCheck {
    pub checked_at: DateTime<Utc>,
    pub status: String,
    pub status_code: Option<i32>,
    pub response_time_ms: Option<i32>,
    pub error: Option<String>,
}

/// The newest raw checks of a Monitor.
pub async fn recent_checks(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<RecentCheck>, sqlx::Error> {
    sqlx::query_as(
        "SELECT checked_at, status, status_code, response_time_ms, error FROM javari_health_checks \
         WHERE monitor_namespace = $1 AND monitor_name = $2 ORDER BY checked_at DESC LIMIT $3",
    )
    .bind(namespace)
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One day of a Provider's traffic.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ProviderDay {
    pub day: chrono::NaiveDate,
    pub answers: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

/// Answers, tokens and cost per day (UTC) through `provider` since `since`, newest first.
pub async fn provider_days(
    pool: &PgPool,
    provider: &str,
    since: DateTime<Utc>,
) -> Result<Vec<ProviderDay>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*)::int8 AS answers, \
                coalesce(sum(input_tokens), 0)::int8 AS input_tokens, coalesce(sum(output_tokens), 0)::int8 AS output_tokens, \
                coalesce(sum(cost_usd), 0)::float8 AS cost_usd \
         FROM javari_platform_costs WHERE provider = $1 AND created_at >= $2 GROUP BY 1 ORDER BY 1 DESC",
    )
    .bind(provider)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// One row of the console's audit log.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The newest audit rows, optionally of one resource (`resource_type`, `resource_id`).
pub async fn audit_log(
    pool: &PgPool,
    resource: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let (kind, id) = resource.map_or((None, None), |(k, i)| (Some(k), Some(i)));
    sqlx::query_as(
        "SELECT id, actor, action, resource_type, resource_id, details, created_at FROM javari_audit_log \
         WHERE ($1::text IS NULL OR (resource_type = $1 AND resource_id = $2)) ORDER BY id DESC LIMIT $3",
    )
    .bind(kind)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One hour of a Provider's probes.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ProbeHour {
    pub hour: DateTime<Utc>,
    pub probes: i64,
    pub failed: i64,
    pub p50_ms: Option<f64>,
    pub max_ms: Option<i32>,
}

/// The probes of Provider `namespace/name` since `since`, per hour (oldest first).
pub async fn probe_hours(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    since: DateTime<Utc>,
) -> Result<Vec<ProbeHour>, sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc('hour', r.probed_at) AS hour, count(*)::int8 AS probes, \
                count(*) FILTER (WHERE NOT r.healthy)::int8 AS failed, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms)::float8 AS p50_ms, \
                max(r.latency_ms) AS max_ms \
         FROM javari_provider_probes r JOIN javari_providers p ON p.id = r.provider_id \
         WHERE p.namespace = $1 AND p.name = $2 AND r.probed_at >= $3 GROUP BY 1 ORDER BY 1",
    )
    .bind(namespace)
    .bind(name)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// One day of a Provider's answers that did not end well.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct FailureDay {
    pub day: chrono::NaiveDate,
    pub answers: i64,
    /// Cut short (the stream ended early) without an error.
    pub truncated: i64,
    pub errors: i64,
}

/// Answers, truncations and errors per day (UTC) of Provider `namespace/name` since `since`,
/// newest first, from its performance rows (an answer that failed without an error was
/// truncated).
pub async fn failure_days(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    since: DateTime<Utc>,
) -> Result<Vec<FailureDay>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (r.created_at AT TIME ZONE 'UTC')::date AS day, count(*)::int8 AS answers, \
                count(*) FILTER (WHERE NOT r.success AND r.error IS NULL)::int8 AS truncated, \
                count(*) FILTER (WHERE r.error IS NOT NULL)::int8 AS errors \
         FROM javari_provider_performance r JOIN javari_providers p ON p.id = r.provider_id \
         WHERE p.namespace = $1 AND p.name = $2 AND r.created_at >= $3 GROUP BY 1 ORDER BY 1 DESC",
    )
    .bind(namespace)
    .bind(name)
    .bind(since)
    .fetch_all(pool)
    .await
}
