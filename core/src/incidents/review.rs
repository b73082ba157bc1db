//! What a postmortem is drafted from (the incident's impact and the last change before it)
//! and where the edited postmortem and its action items are kept.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::postmortem::{ActionItem, Impact, draft};
use super::store::{Incident, IncidentError, TimelineEvent, get, timeline};

/// Longest postmortem body, in bytes (the column's CHECK agrees).
pub const MAX_POSTMORTEM_BYTES: usize = 200_000;

/// Checks, cost and components of the incident's window (opening to resolution, or now).
pub async fn impact(pool: &PgPool, incident: &Incident) -> Result<Impact, IncidentError> {
    let end = incident.resolved_at.unwrap_or_else(Utc::now);
    let (failed, total): (i64, i64) =
        match (
            incident.source_kind.as_deref(),
            &incident.source_namespace,
            &incident.source_name,
        ) {
            (Some("monitor"), Some(ns), Some(name)) => sqlx::query_as(
                "SELECT count(*) FILTER (WHERE status <> 'up'), count(*) FROM javari_health_checks \
             WHERE monitor_namespace = $1 AND monitor_name = $2 AND checked_at BETWEEN $3 AND $4",
            )
            .bind(ns)
            .bind(name)
            .bind(incident.opened_at)
            .bind(end)
            .fetch_one(pool)
            .await?,
            _ => (0, 0),
        };
    // Every user's cost rows, summed by the owner's function (no user's rows are read here).
    let cost_usd: f64 = sqlx::query_scalar("SELECT javari_platform_cost_usd($1, $2)")
        .bind(incident.opened_at)
        .bind(end)
        .fetch_one(pool)
        .await?;
    let components = match (
        &incident.source_kind,
        &incident.source_namespace,
        &incident.source_name,
    ) {
        (Some(kind), Some(ns), Some(name)) => vec![format!("{kind} {ns}/{name}")],
        _ => vec![],
    };
    Ok(Impact {
        failed_checks: failed,
        total_checks: total,
        components,
        cost_usd,
    })
}

/// The most recent change in the incident's namespace before it opened: a Credential
/// rotation or update, a Project rollout or rollback, a Provider health change; the lead most investigations start from.
pub async fn last_change_before(
    pool: &PgPool,
    incident: &Incident,
) -> Result<Option<TimelineEvent>, IncidentError> {
    let Some(ns) = incident.source_namespace.as_deref() else {
        return Ok(None);
    };
    let row: Option<(String, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT kind, message, actor, at FROM ( \
           SELECT 'credential_' || action AS kind, \
                  'Credential ' || credential_name || ' ' || action || coalesce(' to v' || version, '') AS message, \
                  actor, created_at AS at \
           FROM javari_credential_audit_log \
           WHERE credential_namespace = $1 AND action IN ('rotate', 'update', 'import') AND created_at <= $2 \
           UNION ALL \
           SELECT 'project_rollback', \
                  'Project ' || p.name || ' rolled back' || coalesce(' (' || h.healing_strategy || ')', ''), \
                  NULL, h.created_at \
           FROM javari_auto_healing_incidents h JOIN javari_projects p ON p.id = h.project_id \
           WHERE p.namespace = $1 AND h.created_at <= $2 \
           UNION ALL \
           SELECT kind, message, NULL, created_at FROM javari_change_log \
           WHERE namespace = $1 AND created_at <= $2 \
         ) changes ORDER BY at DESC LIMIT 1",
    )
    .bind(ns)
    .bind(incident.opened_at)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(kind, message, actor, at)| TimelineEvent {
        id: 0,
        kind,
        message,
        actor,
        data: serde_json::Value::Null,
        created_at: at,
    }))
}

/// The stored postmortem, or a fresh draft from the data when none was saved yet.
pub async fn postmortem(pool: &PgPool, id: Uuid) -> Result<String, IncidentError> {
    let saved: Option<String> =
        sqlx::query_scalar("SELECT body FROM javari_postmortems WHERE incident_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    if let Some(body) = saved {
        return Ok(body);
    }
    let incident = get(pool, id).await?;
    let events = timeline(pool, id).await?;
    let impact = impact(pool, &incident).await?;
    let change = last_change_before(pool, &incident).await?;
    let items = action_items(pool, id).await?;
    Ok(draft(&incident, &events, &impact, change.as_ref(), &items))
}

pub async fn save_postmortem(
    pool: &PgPool,
    id: Uuid,
    body: &str,
    actor: &str,
) -> Result<(), IncidentError> {
    if body.len() > MAX_POSTMORTEM_BYTES || body.contains('\0') {
        return Err(IncidentError::Invalid(
            "a postmortem is at most 200,000 bytes of text",
        ));
    }
    get(pool, id).await?;
    sqlx::query(
        "INSERT INTO javari_postmortems (incident_id, body, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (incident_id) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by",
    )
    .bind(id)
    .bind(body)
    .bind(actor)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn add_action_item(
    pool: &PgPool,
    id: Uuid,
    title: &str,
    owner: &str,
    due: Option<NaiveDate>,
) -> Result<Uuid, IncidentError> {
    let (title, owner) = (title.trim(), owner.trim());
    if title.is_empty() || title.chars().count() > 500 || owner.is_empty() || owner.len() > 200 {
        return Err(IncidentError::Invalid(
            "an action item needs a title (at most 500 characters) and an owner",
        ));
    }
    get(pool, id).await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO javari_postmortem_action_items (incident_id, title, owner, due_date) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(id)
    .bind(title)
    .bind(owner)
    .bind(due)
    .fetch_one(pool)
    .await?)
}

pub async fn set_action_item_done(
    pool: &PgPool,
    item: Uuid,
    done: bool,
) -> Result<(), IncidentError> {
    let updated = sqlx::query("UPDATE javari_postmortem_action_items SET done = $2 WHERE id = $1")
        .bind(item)
        .bind(done)
        .execute(pool)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(IncidentError::NotFound(item));
    }
    Ok(())
}

pub async fn action_items(pool: &PgPool, id: Uuid) -> Result<Vec<ActionItem>, IncidentError> {
    let rows: Vec<(String, String, Option<NaiveDate>, bool)> = sqlx::query_as(
        "SELECT title, owner, due_date, done FROM javari_postmortem_action_items \
         WHERE incident_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(title, owner, due, done)| ActionItem {
            title,
            owner,
            due,
            done,
        })
        .collect())
}
