//! Restores asked for by an admin: into a new database at once, or in place after a second
//! admin approved the request (never the requester, never after it expired). An in-place
//! restore first restores into a new database and checks it against the manifest; only then
//! are the names swapped in one transaction, and the replaced database is kept under another
//! name. A crash at any point leaves the original database in place and untouched.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::backup::read_manifest;
use super::pgtools::{ConnInfo, quote_ident};
use super::records;
use super::restore::{RestoreReport, drop_database, restore_to};
use super::store::Destination;
use super::{BackupError, valid_database_name};
use crate::vault::Keyring;

/// Where a restore goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// Into a database that does not exist yet.
    New,
    /// Replacing an existing database (second admin required).
    InPlace,
}

impl RestoreMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreMode::New => "new",
            RestoreMode::InPlace => "in_place",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(RestoreMode::New),
            "in_place" => Some(RestoreMode::InPlace),
            _ => None,
        }
    }
}

/// Where a restore is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestoreStatus {
    Requested,
    Approved,
    Running,
    Completed,
    Failed,
    Declined,
    Expired,
}

impl RestoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreStatus::Requested => "requested",
            RestoreStatus::Approved => "approved",
            RestoreStatus::Running => "running",
            RestoreStatus::Completed => "completed",
            RestoreStatus::Failed => "failed",
            RestoreStatus::Declined => "declined",
            RestoreStatus::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "requested" => RestoreStatus::Requested,
            "approved" => RestoreStatus::Approved,
            "running" => RestoreStatus::Running,
            "completed" => RestoreStatus::Completed,
            "failed" => RestoreStatus::Failed,
            "declined" => RestoreStatus::Declined,
            "expired" => RestoreStatus::Expired,
            _ => return None,
        })
    }
}

/// One restore (request).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RestoreRequest {
    pub id: Uuid,
    pub backup_id: Uuid,
    pub mode: RestoreMode,
    pub status: RestoreStatus,
    pub target_database: String,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub decided_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restore_ms: Option<i64>,
    pub replaced_database: Option<String>,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    backup_id: Uuid,
    mode: String,
    status: String,
    target_database: String,
    requested_by: String,
    approved_by: Option<String>,
    decided_by: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    restore_ms: Option<i64>,
    replaced_database: Option<String>,
    error: Option<String>,
}

const COLUMNS: &str = "id, backup_id, mode, status, target_database, requested_by, approved_by, \
    decided_by, created_at, expires_at, finished_at, restore_ms, replaced_database, error";

impl TryFrom<Row> for RestoreRequest {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, sqlx::Error> {
        let bad = |what: &str, v: &str| sqlx::Error::Decode(format!("restore {what} {v:?}").into());
        Ok(RestoreRequest {
            mode: RestoreMode::parse(&r.mode).ok_or_else(|| bad("mode", &r.mode))?,
            status: RestoreStatus::parse(&r.status).ok_or_else(|| bad("status", &r.status))?,
            id: r.id,
            backup_id: r.backup_id,
            target_database: r.target_database,
            requested_by: r.requested_by,
            approved_by: r.approved_by,
            decided_by: r.decided_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            finished_at: r.finished_at,
            restore_ms: r.restore_ms,
            replaced_database: r.replaced_database,
            error: r.error,
        })
    }
}

/// Why a request cannot be decided or run.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("restore request {0} not found")]
    NotFound(Uuid),
    #[error("only an in-place restore needs an approval")]
    NotInPlace,
    #[error("a second admin must decide: {0} asked for this restore")]
    SelfApproval(String),
    #[error("the request expired at {0} without an approval; ask again")]
    Expired(DateTime<Utc>),
    #[error("the request is {} and can no longer be decided", .0.as_str())]
    NotPending(RestoreStatus),
    #[error("the request is {}: an in-place restore runs only once approved", .0.as_str())]
    NotApproved(RestoreStatus),
    #[error(transparent)]
    Backup(#[from] BackupError),
}

impl From<sqlx::Error> for DecisionError {
    fn from(e: sqlx::Error) -> Self {
        DecisionError::Backup(BackupError::Db(e))
    }
}

pub async fn get_restore(pool: &PgPool, id: Uuid) -> Result<Option<RestoreRequest>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backup_restores WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(RestoreRequest::try_from).transpose()
}

/// The newest restores and requests, newest first.
pub async fn list_restores(pool: &PgPool, limit: i64) -> Result<Vec<RestoreRequest>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backup_restores ORDER BY created_at DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(RestoreRequest::try_from).collect()
}

/// Whether `database` exists on the server of `server_url`.
pub async fn database_exists(server_url: &str, database: &str) -> Result<bool, BackupError> {
    let server = ConnInfo::parse(server_url)?;
    let mut c = PgConnection::connect(&server.full_url())
        .await
        .map_err(|e| BackupError::Source {
            reason: e.to_string(),
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut c)
            .await?;
    let _ = c.close().await;
    Ok(exists)
}

/// Records a restore of `backup_id` into the new database `database`, running from now on.
/// Refused before anything is recorded when the name is invalid or the backup is not
/// complete.
pub async fn record_new_restore(
    pool: &PgPool,
    backup_id: Uuid,
    database: &str,
    requested_by: &str,
) -> Result<RestoreRequest, BackupError> {
    if !valid_database_name(database) {
        return Err(BackupError::BadDatabaseName(database.to_owned()));
    }
    let backup = records::get_backup(pool, backup_id)
        .await?
        .filter(|b| b.status.is_restorable())
        .ok_or_else(|| BackupError::Incomplete {
            backup: backup_id.to_string(),
        })?;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO javari_backup_restores (backup_id, target_database, mode, status, requested_by) \
         VALUES ($1, $2, 'new', 'running', $3) RETURNING {COLUMNS}"
    )))
    .bind(backup.id)
    .bind(database)
    .bind(requested_by)
    .fetch_one(pool)
    .await?;
    Ok(RestoreRequest::try_from(row)?)
}

/// Runs a restore recorded by [`record_new_restore`]; its row ends completed or failed.
pub async fn run_new_restore(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    request: &RestoreRequest,
    server_url: &str,
    jobs: u32,
    staging_dir: &Path,
) -> Result<RestoreReport, BackupError> {
    let result = async {
        let backup = records::get_backup(pool, request.backup_id)
            .await?
            .ok_or_else(|| BackupError::Incomplete {
                backup: request.backup_id.to_string(),
            })?;
        let policy = backup.policy.clone().unwrap_or_default();
        let (m, _) = read_manifest(dest, &policy, request.backup_id).await?;
        let server = ConnInfo::parse(server_url)?;
        restore_to(
            dest,
            keys,
            &policy,
            &m,
            &server,
            &request.target_database,
            jobs,
            staging_dir,
        )
        .await
    }
    .await;
    let (status, ms, error) = match &result {
        Ok(r) => (
            "completed",
            Some(i64::try_from(r.duration.as_millis()).unwrap_or(i64::MAX)),
            None,
        ),
        Err(e) => ("failed", None, Some(e.to_string())),
    };
    sqlx::query(
        "UPDATE javari_backup_restores SET status = $2, restore_ms = $3, error = $4, finished_at = now() WHERE id = $1",
    )
    .bind(request.id)
    .bind(status)
    .bind(ms)
    .bind(error)
    .execute(pool)
    .await?;
    result
}

/// Records an in-place restore of `backup_id` over `database`, waiting for a second admin
/// until `ttl` has passed. The backup must be complete.
pub async fn request_in_place(
    pool: &PgPool,
    backup_id: Uuid,
    database: &str,
    requested_by: &str,
    ttl: Duration,
) -> Result<RestoreRequest, BackupError> {
    if !valid_database_name(database) {
        return Err(BackupError::BadDatabaseName(database.to_owned()));
    }
    let catalog: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(pool)
        .await?;
    if catalog == database {
        return Err(BackupError::CatalogDatabase(database.to_owned()));
    }
    let backup = records::get_backup(pool, backup_id)
        .await?
        .filter(|b| b.status.is_restorable())
        .ok_or_else(|| BackupError::Incomplete {
            backup: backup_id.to_string(),
        })?;
    let expires =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO javari_backup_restores (backup_id, target_database, mode, status, requested_by, expires_at) \
         VALUES ($1, $2, 'in_place', 'requested', $3, $4) RETURNING {COLUMNS}"
    )))
    .bind(backup.id)
    .bind(database)
    .bind(requested_by)
    .bind(expires)
    .fetch_one(pool)
    .await?;
    Ok(RestoreRequest::try_from(row)?)
}

/// A second admin approves (`approve`) or declines an in-place request. The requester cannot;
/// an expired request becomes `expired` and cannot be approved.
pub async fn decide(
    pool: &PgPool,
    id: Uuid,
    admin: &str,
    approve: bool,
) -> Result<RestoreRequest, DecisionError> {
    let mut tx = pool.begin().await?;
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backup_restores WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let r = RestoreRequest::try_from(row.ok_or(DecisionError::NotFound(id))?)?;
    if r.mode != RestoreMode::InPlace {
        return Err(DecisionError::NotInPlace);
    }
    if r.status != RestoreStatus::Requested {
        return Err(DecisionError::NotPending(r.status));
    }
    if let Some(at) = r.expires_at.filter(|at| *at <= Utc::now()) {
        sqlx::query("UPDATE javari_backup_restores SET status = 'expired', finished_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(DecisionError::Expired(at));
    }
    if r.requested_by.eq_ignore_ascii_case(admin) {
        return Err(DecisionError::SelfApproval(r.requested_by));
    }
    let (status, approved_by) = if approve {
        ("approved", Some(admin))
    } else {
        ("declined", None)
    };
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE javari_backup_restores SET status = $2, approved_by = $3, decided_by = $4, decided_at = now(), \
         finished_at = CASE WHEN $2 = 'declined' THEN now() END WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .bind(approved_by)
    .bind(admin)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RestoreRequest::try_from(row)?)
}

/// Runs an approved in-place request on the server of `server_url`: restore into a new
/// database, compare it with the manifest, then swap the names in one transaction (the
/// replaced database is kept as `<name>_before_<yyyymmddhhmmss>`).
#[allow(clippy::too_many_arguments)]
pub async fn restore_in_place(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    request: Uuid,
    server_url: &str,
    jobs: u32,
    staging_dir: &Path,
) -> Result<RestoreRequest, DecisionError> {
    // Claimed in one statement: a request runs once, and only approved and unexpired.
    let claimed: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE javari_backup_restores SET status = 'running' \
         WHERE id = $1 AND mode = 'in_place' AND status = 'approved' AND approved_by IS NOT NULL \
         RETURNING {COLUMNS}"
    )))
    .bind(request)
    .fetch_optional(pool)
    .await?;
    let Some(claimed) = claimed else {
        let current = get_restore(pool, request)
            .await?
            .ok_or(DecisionError::NotFound(request))?;
        return Err(DecisionError::NotApproved(current.status));
    };
    let r = RestoreRequest::try_from(claimed)?;
    let result = swap_in(pool, dest, keys, &r, server_url, jobs, staging_dir).await;
    let (status, ms, replaced, error) = match &result {
        Ok((report, replaced)) => (
            "completed",
            Some(i64::try_from(report.duration.as_millis()).unwrap_or(i64::MAX)),
            Some(replaced.clone()),
            None,
        ),
        Err(e) => ("failed", None, None, Some(e.to_string())),
    };
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE javari_backup_restores SET status = $2, restore_ms = $3, replaced_database = $4, error = $5, \
         finished_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(request)
    .bind(status)
    .bind(ms)
    .bind(replaced)
    .bind(error)
    .fetch_one(pool)
    .await?;
    result?;
    Ok(RestoreRequest::try_from(row)?)
}

async fn swap_in(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    r: &RestoreRequest,
    server_url: &str,
    jobs: u32,
    staging_dir: &Path,
) -> Result<(RestoreReport, String), BackupError> {
    let backup = records::get_backup(pool, r.backup_id)
        .await?
        .ok_or_else(|| BackupError::Incomplete {
            backup: r.backup_id.to_string(),
        })?;
    let policy = backup.policy.clone().unwrap_or_default();
    let (m, _) = read_manifest(dest, &policy, r.backup_id).await?;
    let server = ConnInfo::parse(server_url)?;
    let short = &r.id.simple().to_string()[..8];
    // Both names fit in 63 bytes whatever the target's length.
    let stem: String = r.target_database.chars().take(40).collect();
    let fresh = format!("{stem}_restore_{short}");
    let replaced = format!("{stem}_before_{}", Utc::now().format("%Y%m%d%H%M%S"));
    let report = restore_to(dest, keys, &policy, &m, &server, &fresh, jobs, staging_dir).await?;
    if !report.matches() {
        let _ = drop_database(&server, &fresh).await;
        return Err(BackupError::Mismatch {
            backup: r.backup_id.to_string(),
            reason: format!(
                "schema hash matches: {}; row counts: {}",
                report.schema_hash_matches,
                report.row_count_differences.join(", ")
            ),
        });
    }
    let mut c = PgConnection::connect(&server.full_url())
        .await
        .map_err(|e| BackupError::Source {
            reason: e.to_string(),
        })?;
    let mut tx = c.begin().await?;
    // Sessions on the database being replaced are ended: they would block the rename (and
    // would go on writing to what is now the old copy).
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&r.target_database)
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(&r.target_database),
        quote_ident(&replaced)
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(&fresh),
        quote_ident(&r.target_database)
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let _ = c.close().await;
    Ok((
        RestoreReport {
            database: r.target_database.clone(),
            ..report
        },
        replaced,
    ))
}
