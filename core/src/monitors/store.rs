//! Health-check rows (written in batches), incidents with their timelines, and the figures a
//! Monitor's status shows (uptime, latency percentiles), computed from the rows themselves.

use chrono::{DateTime, TimeDelta, Utc};
use javari_crds::common::Severity;
use sqlx::PgPool;

use crate::incidents::open_statuses;
use uuid::Uuid;

/// One check result as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    pub namespace: String,
    pub monitor: String,
    pub target: String,
    pub passed: bool,
    pub response_time_ms: Option<i32>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

/// Inserts many rows in one statement.
pub async fn insert_checks(pool: &PgPool, rows: &[CheckRow]) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&CheckRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let done = sqlx::query(
        "INSERT INTO javari_health_checks (monitor_namespace, monitor_name, target, status, response_time_ms, status_code, error, checked_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::timestamptz[])",
    )
    .bind(col(|r| r.namespace.clone()))
    .bind(col(|r| r.monitor.clone()))
    .bind(col(|r| r.target.clone()))
    .bind(col(|r| if r.passed { "up" } else { "down" }.to_owned()))
    .bind(rows.iter().map(|r| r.response_time_ms).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status_code).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.checked_at).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Percentage of passing checks in the window, or `None` without checks.
pub async fn uptime(
    pool: &PgPool,
    namespace: &str,
    monitor: &str,
    window: TimeDelta,
) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT 100.0 * avg(CASE WHEN status = 'up' THEN 1.0 ELSE 0.0 END)::float8 FROM javari_health_checks \
         WHERE monitor_namespace = $1 AND monitor_name = $2 AND checked_at >= now() - $3::interval",
    )
    .bind(namespace)
    .bind(monitor)
    .bind(format!("{} seconds", window.num_seconds()))
    .fetch_one(pool)
    .await
}

/// Uptime over the last hour, day, week and month: percentages of passing checks, `None`
/// for a window without checks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UptimeWindows {
    pub last_1h: Option<f64>,
    pub last_24h: Option<f64>,
    pub last_7d: Option<f64>,
    pub last_30d: Option<f64>,
}

/// All four uptime windows of one Monitor in one query.
pub async fn uptime_windows(
    pool: &PgPool,
    namespace: &str,
    monitor: &str,
) -> Result<UptimeWindows, sqlx::Error> {
    let row: (Option<f64>, Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT 100.0 * avg(up) FILTER (WHERE checked_at >= now() - interval '1 hour'), \
                100.0 * avg(up) FILTER (WHERE checked_at >= now() - interval '24 hours'), \
                100.0 * avg(up) FILTER (WHERE checked_at >= now() - interval '7 days'), \
                100.0 * avg(up) \
         FROM (SELECT checked_at, CASE WHEN status = 'up' THEN 1.0 ELSE 0.0 END::float8 AS up \
               FROM javari_health_checks \
               WHERE monitor_namespace = $1 AND monitor_name = $2 \
                 AND checked_at >= now() - interval '30 days') AS checks",
    )
    .bind(namespace)
    .bind(monitor)
    .fetch_one(pool)
    .await?;
    Ok(UptimeWindows {
        last_1h: row.0,
        last_24h: row.1,
        last_7d: row.2,
        last_30d: row.3,
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyStats {
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
    pub checks: i64,
}

/// Response-time percentiles of the checks in the window.
pub async fn latency_stats(
    pool: &PgPool,
    namespace: &str,
    monitor: &str,
    window: TimeDelta,
) -> Result<Option<LatencyStats>, sqlx::Error> {
    let row: (Option<f64>, Option<f64>, Option<f64>, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms)::float8, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms)::float8, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time_ms)::float8, count(response_time_ms) \
         FROM javari_health_checks WHERE monitor_namespace = $1 AND monitor_name = $2 AND checked_at >= now() - $3::interval",
    )
    .bind(namespace)
    .bind(monitor)
    .bind(format!("{} seconds", window.num_seconds()))
    .fetch_one(pool)
    .await?;
    Ok(match row {
        (Some(p50), Some(p95), Some(p99), checks) if checks > 0 => Some(LatencyStats {
            p50_ms: p50.round() as i64,
            p95_ms: p95.round() as i64,
            p99_ms: p99.round() as i64,
            checks,
        }),
        _ => None,
    })
}

/// Opens the incident for `dedup_key`, or counts one more occurrence of the open one; either
/// way a timeline event records it. Returns the incident id.
#[allow(clippy::too_many_arguments)]
pub async fn open_incident(
    pool: &PgPool,
    dedup_key: &str,
    title: &str,
    severity: Severity,
    source: (&str, &str, &str),
    runbook: Option<&str>,
    message: &str,
) -> Result<Uuid, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM javari_incidents WHERE dedup_key = $1 AND status = ANY($2) FOR UPDATE",
    )
    .bind(dedup_key)
    .bind(open_statuses())
    .fetch_optional(&mut *tx)
    .await?;
    let (id, kind) = match existing {
        Some(id) => {
            sqlx::query("UPDATE javari_incidents SET occurrences = occurrences + 1, last_seen_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            (id, "recurred")
        }
        None => {
            let id: Uuid = sqlx::query_scalar(
                "INSERT INTO javari_incidents (dedup_key, title, severity, source_kind, source_namespace, source_name, runbook) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(dedup_key)
            .bind(title)
            .bind(severity.as_str())
            .bind(source.0)
            .bind(source.1)
            .bind(source.2)
            .bind(runbook)
            .fetch_one(&mut *tx)
            .await?;
            (id, "opened")
        }
    };
    timeline(&mut tx, id, kind, message, "javari-operator").await?;
    tx.commit().await?;
    Ok(id)
}

/// Resolves the open incident for `dedup_key`, if any.
pub async fn resolve_incident(
    pool: &PgPool,
    dedup_key: &str,
    resolution: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE javari_incidents SET status = 'resolved', resolved_at = greatest(now(), opened_at), resolved_by = 'javari-operator', resolution = $2 \
         WHERE dedup_key = $1 AND status = ANY($3) RETURNING id",
    )
    .bind(dedup_key)
    .bind(resolution)
    .bind(open_statuses())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        timeline(&mut tx, id, "resolved", resolution, "javari-operator").await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Adds an event to an incident's timeline (actions, webhook results, notes).
pub async fn add_timeline_event(
    pool: &PgPool,
    incident: Uuid,
    kind: &str,
    message: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    timeline(&mut conn, incident, kind, message, actor).await
}

async fn timeline(
    tx: &mut sqlx::PgConnection,
    incident: Uuid,
    kind: &str,
    message: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO javari_incident_events (incident_id, kind, message, actor) VALUES ($1, $2, $3, $4)")
        .bind(incident)
        .bind(kind)
        .bind(message)
        .bind(actor)
        .execute(tx)
        .await?;
    Ok(())
}

/// Incidents still open (triage to monitoring).
pub async fn count_open_incidents(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM javari_incidents WHERE status = ANY($1)")
        .bind(open_statuses())
        .fetch_one(pool)
        .await
}
