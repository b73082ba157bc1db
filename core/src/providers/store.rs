//! `javari_providers` and `javari_provider_models`: what the console routes by.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::ProbeOutcome;

/// One model row as synced from a Provider's spec.
pub struct StoredModel<'a> {
    pub name: &'a str,
    pub input_cost_per_1k: f64,
    pub output_cost_per_1k: f64,
    pub capabilities: Vec<String>,
    pub context_window: Option<i32>,
}

/// Upserts the provider row and its models (removing models no longer listed); returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn sync_provider(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    provider_type: &str,
    endpoint: &str,
    credential_name: Option<&str>,
    priority: i32,
    enabled: bool,
    rate_limit_rpm: Option<i32>,
    models: &[StoredModel<'_>],
) -> Result<Uuid, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_providers (namespace, name, provider_type, endpoint, credential_name, priority, enabled, rate_limit_rpm) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (namespace, name) DO UPDATE SET provider_type = EXCLUDED.provider_type, endpoint = EXCLUDED.endpoint, \
         credential_name = EXCLUDED.credential_name, priority = EXCLUDED.priority, enabled = EXCLUDED.enabled, \
         rate_limit_rpm = EXCLUDED.rate_limit_rpm RETURNING id",
    )
    .bind(namespace)
    .bind(name)
    .bind(provider_type)
    .bind(endpoint)
    .bind(credential_name)
    .bind(priority)
    .bind(enabled)
    .bind(rate_limit_rpm)
    .fetch_one(&mut *tx)
    .await?;
    let names: Vec<&str> = models.iter().map(|m| m.name).collect();
    sqlx::query(
        "DELETE FROM javari_provider_models WHERE provider_id = $1 AND NOT (model = ANY($2))",
    )
    .bind(id)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    for m in models {
        sqlx::query(
            "INSERT INTO javari_provider_models (provider_id, model, input_cost_per_1k, output_cost_per_1k, capabilities, context_window) \
             VALUES ($1, $2, $3::float8::numeric, $4::float8::numeric, $5, $6) \
             ON CONFLICT (provider_id, model) DO UPDATE SET input_cost_per_1k = EXCLUDED.input_cost_per_1k, \
             output_cost_per_1k = EXCLUDED.output_cost_per_1k, capabilities = EXCLUDED.capabilities, \
             context_window = EXCLUDED.context_window",
        )
        .bind(id)
        .bind(m.name)
        .bind(m.input_cost_per_1k)
        .bind(m.output_cost_per_1k)
        .bind(&m.capabilities)
        .bind(m.context_window)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Records a probe result on the provider row.
pub async fn record_probe(
    pool: &PgPool,
    id: Uuid,
    outcome: &ProbeOutcome,
    consecutive_failures: i32,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let health = outcome.health.db_text();
    sqlx::query(
        "UPDATE javari_providers SET health = $2, latency_ms = $3, last_error = $4, consecutive_failures = $5, last_probe_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(health)
    .bind(outcome.latency_ms.and_then(|l| i32::try_from(l).ok()))
    .bind(&outcome.error)
    .bind(consecutive_failures)
    .bind(at)
    .execute(pool)
    .await?;
    // The probe's row for the latency chart; rows past PROBE_RETENTION go as new ones come.
    sqlx::query(
        "WITH pruned AS (DELETE FROM javari_provider_probes WHERE provider_id = $1 AND probed_at < $5 - $6::interval) \
         INSERT INTO javari_provider_probes (provider_id, healthy, latency_ms, error, probed_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(!matches!(outcome.health, javari_crds::provider::ProviderHealth::Down))
    .bind(outcome.latency_ms.and_then(|l| i32::try_from(l).ok()))
    .bind(&outcome.error)
    .bind(at)
    .bind(format!("{} days", PROBE_RETENTION_DAYS))
    .execute(pool)
    .await?;
    Ok(())
}

/// Days a Provider's probe rows are kept.
pub const PROBE_RETENTION_DAYS: i64 = 14;

/// Removes a deleted Provider's row (its models and performance rows go with it), so the
/// console stops routing to it. Returns whether a row was removed.
pub async fn remove_provider(
    pool: &PgPool,
    namespace: &str,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM javari_providers WHERE namespace = $1 AND name = $2")
        .bind(namespace)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(removed.rows_affected() > 0)
}
