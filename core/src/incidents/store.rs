//! Incidents in `javari_incidents` with their append-only timeline in `javari_incident_events`:
//! declared by hand, moved through the lifecycle (checked in [`super::lifecycle`] under a row
//! lock), acknowledged, given roles, annotated and merged. Every change writes its timeline
//! event in the same transaction.

use chrono::{DateTime, Utc};
use javari_crds::common::Severity;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::lifecycle::{IncidentStatus, Mover, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("no incident {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("incident {0} is already acknowledged")]
    AlreadyAcknowledged(Uuid),
    #[error("an incident cannot be merged into itself")]
    MergeIntoItself,
    #[error("incident {0} is not open: only an open incident can take a merge")]
    MergeTargetClosed(Uuid),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What the timeline records, besides the operator's own kinds (checks, actions, webhooks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Declared,
    StatusChanged,
    Acknowledged,
    RoleAssigned,
    /// For the people working the incident.
    Note,
    /// For the status page.
    StatusUpdate,
    MergedInto,
    MergedFrom,
    SeverityChanged,
    /// A notification webhook's result.
    Webhook,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::StatusChanged => "status_changed",
            Self::Acknowledged => "acknowledged",
            Self::RoleAssigned => "role_assigned",
            Self::Note => "note",
            Self::StatusUpdate => "status_update",
            Self::MergedInto => "merged_into",
            Self::MergedFrom => "merged_from",
            Self::SeverityChanged => "severity_changed",
            Self::Webhook => "webhook",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Commander,
    Communications,
}

impl Role {
    fn column(self) -> &'static str {
        match self {
            Self::Commander => "commander",
            Self::Communications => "communications",
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Incident {
    pub id: Uuid,
    pub dedup_key: String,
    pub title: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    #[sqlx(try_from = "String")]
    pub status: IncidentStatus,
    pub source_kind: Option<String>,
    pub source_namespace: Option<String>,
    pub source_name: Option<String>,
    pub runbook: Option<String>,
    pub occurrences: i32,
    pub declared_by: Option<String>,
    pub commander: Option<String>,
    pub communications: Option<String>,
    pub merged_into: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TimelineEvent {
    pub id: i64,
    pub kind: String,
    pub message: String,
    pub actor: Option<String>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// `data` of a status change on the timeline.
#[derive(serde::Serialize)]
struct StatusChange {
    from: IncidentStatus,
    to: IncidentStatus,
}

/// `data` of a merge on the timeline: the other incident.
#[derive(serde::Serialize)]
struct MergeRef {
    incident: Uuid,
}

/// A hand-declared incident.
pub struct Declaration<'a> {
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub severity: Severity,
    pub actor: &'a str,
    /// What it concerns, e.g. ("project", "prod", "web").
    pub source: Option<(&'a str, &'a str, &'a str)>,
}

const COLUMNS: &str = "id, dedup_key, title, description, severity, status, source_kind, \
    source_namespace, source_name, runbook, occurrences, declared_by, commander, communications, \
    merged_into, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, closed_at";

/// Most characters of a title, a note or a message.
const TEXT_MAX: usize = 4000;

fn bounded(text: &str) -> Result<&str, IncidentError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(IncidentError::Invalid("the text is empty"));
    }
    if text.chars().count() > TEXT_MAX || text.contains('\0') {
        return Err(IncidentError::Invalid(
            "the text is longer than 4,000 characters or holds NUL",
        ));
    }
    Ok(text)
}

pub async fn declare(pool: &PgPool, d: Declaration<'_>) -> Result<Uuid, IncidentError> {
    let title = bounded(d.title)?;
    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    let (kind, ns, name) = d.source.unzip3();
    sqlx::query(
        "INSERT INTO javari_incidents (id, dedup_key, title, description, severity, declared_by, \
         source_kind, source_namespace, source_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(format!("declared:{id}"))
    .bind(title)
    .bind(d.description)
    .bind(Severity::as_str(d.severity))
    .bind(d.actor)
    .bind(kind)
    .bind(ns)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    event(&mut tx, id, EventKind::Declared, title, d.actor, None).await?;
    tx.commit().await?;
    Ok(id)
}

trait Unzip3<'a> {
    fn unzip3(self) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>);
}

impl<'a> Unzip3<'a> for Option<(&'a str, &'a str, &'a str)> {
    fn unzip3(self) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Incident, IncidentError> {
    let sql = format!("SELECT {COLUMNS} FROM javari_incidents WHERE id = $1");
    sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(IncidentError::NotFound(id))
}

async fn locked(tx: &mut PgConnection, id: Uuid) -> Result<Incident, IncidentError> {
    let sql = format!("SELECT {COLUMNS} FROM javari_incidents WHERE id = $1 FOR UPDATE");
    sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(IncidentError::NotFound(id))
}

/// Moves an incident to `to`, if the lifecycle allows it from where it is now.
pub async fn transition(
    pool: &PgPool,
    id: Uuid,
    to: IncidentStatus,
    mover: Mover,
    actor: &str,
    message: &str,
) -> Result<(), IncidentError> {
    if to == IncidentStatus::Merged {
        return Err(IncidentError::Invalid(
            "merge names the incident it merges into",
        ));
    }
    let message = bounded(message)?;
    let mut tx = pool.begin().await?;
    let incident = locked(&mut tx, id).await?;
    let from = incident.status;
    from.check(to, mover)?;
    let stamp = match to {
        IncidentStatus::Resolved => {
            ", resolved_at = greatest(now(), opened_at), resolved_by = $3, resolution = $4"
        }
        IncidentStatus::Closed => ", closed_at = greatest(now(), resolved_at)",
        // Reopened: it is no longer resolved.
        IncidentStatus::Investigating if from == IncidentStatus::Resolved => {
            ", resolved_at = NULL, resolved_by = NULL, resolution = NULL"
        }
        _ => "",
    };
    let sql = format!("UPDATE javari_incidents SET status = $2{stamp} WHERE id = $1");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(to.as_str());
    if to == IncidentStatus::Resolved {
        q = q.bind(actor).bind(message);
    }
    q.execute(&mut *tx).await?;
    let data = serde_json::to_value(StatusChange { from, to }).ok();
    event(&mut tx, id, EventKind::StatusChanged, message, actor, data).await?;
    tx.commit().await?;
    Ok(())
}

/// `data` of a severity change on the timeline.
#[derive(serde::Serialize)]
struct SeverityChange<'a> {
    from: &'a str,
    to: &'a str,
}

/// Changes the severity (and so the response target); `false` when it already had it.
pub async fn set_severity(
    pool: &PgPool,
    id: Uuid,
    severity: Severity,
    actor: &str,
) -> Result<bool, IncidentError> {
    let mut tx = pool.begin().await?;
    let incident = locked(&mut tx, id).await?;
    let to = Severity::as_str(severity);
    if incident.severity == severity {
        return Ok(false);
    }
    if !incident.status.is_open() {
        return Err(IncidentError::Invalid(
            "only an open incident can change severity",
        ));
    }
    sqlx::query("UPDATE javari_incidents SET severity = $2 WHERE id = $1")
        .bind(id)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    let message = format!("severity {} → {to}", incident.severity);
    let data = serde_json::to_value(SeverityChange {
        from: incident.severity.as_str(),
        to,
    })
    .ok();
    event(
        &mut tx,
        id,
        EventKind::SeverityChanged,
        &message,
        actor,
        data,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Records what happened outside the incident's own changes (a webhook's result).
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    kind: EventKind,
    message: &str,
    actor: &str,
) -> Result<(), IncidentError> {
    let mut conn = pool.acquire().await?;
    event(&mut conn, id, kind, message, actor, None).await?;
    Ok(())
}

/// Incidents, newest first: the open ones, or all; at most `limit`.
pub async fn list(
    pool: &PgPool,
    open_only: bool,
    limit: i64,
) -> Result<Vec<Incident>, IncidentError> {
    let filter = if open_only {
        format!("WHERE status IN {}", super::lifecycle::OPEN_STATUSES_SQL)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM javari_incidents {filter} ORDER BY opened_at DESC, id LIMIT $1"
    );
    Ok(sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Acknowledges once (MTTA is measured from here); moves a triaged incident to investigating.
pub async fn acknowledge(pool: &PgPool, id: Uuid, actor: &str) -> Result<(), IncidentError> {
    let mut tx = pool.begin().await?;
    let incident = locked(&mut tx, id).await?;
    if incident.acknowledged_at.is_some() {
        return Err(IncidentError::AlreadyAcknowledged(id));
    }
    let status = incident.status;
    if !status.is_open() {
        return Err(IncidentError::Invalid(
            "only an open incident can be acknowledged",
        ));
    }
    let next = if status == IncidentStatus::Triage {
        IncidentStatus::Investigating
    } else {
        status
    };
    sqlx::query(
        "UPDATE javari_incidents SET acknowledged_at = greatest(now(), opened_at), \
         acknowledged_by = $2, status = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(actor)
    .bind(next.as_str())
    .execute(&mut *tx)
    .await?;
    event(
        &mut tx,
        id,
        EventKind::Acknowledged,
        "acknowledged",
        actor,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn assign(
    pool: &PgPool,
    id: Uuid,
    role: Role,
    person: &str,
    actor: &str,
) -> Result<(), IncidentError> {
    let person = bounded(person)?;
    let mut tx = pool.begin().await?;
    locked(&mut tx, id).await?;
    let sql = format!(
        "UPDATE javari_incidents SET {} = $2 WHERE id = $1",
        role.column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(person)
        .execute(&mut *tx)
        .await?;
    let message = format!("{} is {person}", role.column());
    event(&mut tx, id, EventKind::RoleAssigned, &message, actor, None).await?;
    tx.commit().await?;
    Ok(())
}

/// A note for the responders, or (public) a status update for the status page.
pub async fn note(
    pool: &PgPool,
    id: Uuid,
    text: &str,
    public: bool,
    actor: &str,
) -> Result<(), IncidentError> {
    let text = bounded(text)?;
    let mut tx = pool.begin().await?;
    locked(&mut tx, id).await?;
    let kind = if public {
        EventKind::StatusUpdate
    } else {
        EventKind::Note
    };
    event(&mut tx, id, kind, text, actor, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Folds a duplicate into an open incident; both timelines say so.
pub async fn merge(pool: &PgPool, id: Uuid, into: Uuid, actor: &str) -> Result<(), IncidentError> {
    if id == into {
        return Err(IncidentError::MergeIntoItself);
    }
    let mut tx = pool.begin().await?;
    // Lock in id order so two opposite merges cannot deadlock.
    let (first, second) = if id < into { (id, into) } else { (into, id) };
    let a = locked(&mut tx, first).await?;
    let b = locked(&mut tx, second).await?;
    let (duplicate, target) = if a.id == id { (a, b) } else { (b, a) };
    duplicate
        .status
        .check(IncidentStatus::Merged, Mover::Person)?;
    if !target.status.is_open() {
        return Err(IncidentError::MergeTargetClosed(into));
    }
    sqlx::query("UPDATE javari_incidents SET status = 'merged', merged_into = $2 WHERE id = $1")
        .bind(id)
        .bind(into)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE javari_incidents SET occurrences = occurrences + $2 WHERE id = $1")
        .bind(into)
        .bind(duplicate.occurrences)
        .execute(&mut *tx)
        .await?;
    let data = serde_json::to_value(MergeRef { incident: into }).ok();
    let into_msg = format!("merged into {}", target.title);
    event(&mut tx, id, EventKind::MergedInto, &into_msg, actor, data).await?;
    let data = serde_json::to_value(MergeRef { incident: id }).ok();
    let from_msg = format!("{} merged in", duplicate.title);
    event(&mut tx, into, EventKind::MergedFrom, &from_msg, actor, data).await?;
    tx.commit().await?;
    Ok(())
}

/// The timeline, oldest first.
pub async fn timeline(pool: &PgPool, id: Uuid) -> Result<Vec<TimelineEvent>, IncidentError> {
    Ok(sqlx::query_as::<_, TimelineEvent>(
        "SELECT id, kind, message, actor, data, created_at FROM javari_incident_events \
         WHERE incident_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

async fn event(
    tx: &mut PgConnection,
    incident: Uuid,
    kind: EventKind,
    message: &str,
    actor: &str,
    data: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO javari_incident_events (incident_id, kind, message, actor, data) \
         VALUES ($1, $2, $3, $4, coalesce($5, '{}'::jsonb))",
    )
    .bind(incident)
    .bind(kind.as_str())
    .bind(message)
    .bind(actor)
    .bind(data)
    .execute(tx)
    .await?;
    Ok(())
}
