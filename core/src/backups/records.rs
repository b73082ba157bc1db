//! Backup rows in `javari_backups` and `javari_backup_verifications`, and the store-side
//! listing (a backup without its manifest is never restorable).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use sqlx::PgPool;
use uuid::Uuid;

use super::manifest::{MANIFEST, Manifest};
use super::retention::{self, Candidate, RetentionPlan, RetentionRule};
use super::store::Destination;
use super::{BackupError, policy_prefix};

/// Where a backup is in its life (`javari_backups.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupStatus {
    /// Being written: never restorable.
    Running,
    /// Its manifest is written.
    Completed,
    Failed,
    /// The last verification passed.
    Verified,
    /// A verification failed.
    Corrupt,
    /// Deleted by retention.
    Pruned,
}

impl BackupStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Verified => "verified",
            Self::Corrupt => "corrupt",
            Self::Pruned => "pruned",
        }
    }

    /// Written to the end (a manifest), whatever its verification said since.
    pub fn is_complete(self) -> bool {
        matches!(self, Self::Completed | Self::Verified | Self::Corrupt)
    }

    /// Complete and not found corrupt: something to restore from.
    pub fn is_restorable(self) -> bool {
        matches!(self, Self::Completed | Self::Verified)
    }
}

impl std::fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BackupStatus {
    const ALL: [Self; 6] = [
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Verified,
        Self::Corrupt,
        Self::Pruned,
    ];
}

impl TryFrom<String> for BackupStatus {
    type Error = javari_crds::common::UnknownValue;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| javari_crds::common::UnknownValue {
                what: "backup status",
                allowed: Self::ALL.map(Self::as_str).join(", "),
                value: text,
            })
    }
}

/// A backup as the console and the operator see it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BackupRow {
    pub id: Uuid,
    pub policy: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: BackupStatus,
    pub verification_level: String,
    pub size_bytes: Option<i64>,
    pub original_bytes: Option<i64>,
    pub file_count: Option<i32>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub snapshot_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub store_url: Option<String>,
    pub schema_hash: Option<String>,
}

impl BackupRow {
    /// Original size over stored size.
    pub fn compression_ratio(&self) -> Option<f64> {
        match (self.original_bytes, self.size_bytes) {
            (Some(o), Some(s)) if s > 0 => Some(o as f64 / s as f64),
            _ => None,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.status.is_complete()
    }
}

const COLUMNS: &str = "id, policy, status, verification_level, size_bytes, original_bytes, file_count, \
    started_at, finished_at, snapshot_at, verified_at, duration_ms, error, store_url, schema_hash";

/// One verification run.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VerificationRow {
    pub id: Uuid,
    pub backup_id: Uuid,
    pub level: String,
    pub ok: bool,
    pub detail: Option<String>,
    pub scratch_database: Option<String>,
    pub restore_ms: Option<i64>,
    pub bytes_per_second: Option<f64>,
    pub finished_at: DateTime<Utc>,
}

/// Newest first; `policy` filters, `limit` bounds.
pub async fn list_backups(
    pool: &PgPool,
    policy: Option<&str>,
    limit: i64,
) -> Result<Vec<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backups WHERE kind = 'logical' AND ($1::text IS NULL OR policy = $1) \
         ORDER BY started_at DESC LIMIT $2"
    )))
    .bind(policy)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn get_backup(pool: &PgPool, id: Uuid) -> Result<Option<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backups WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The freshest complete backup of any policy (what the overview shows).
pub async fn freshest_backup(pool: &PgPool) -> Result<Option<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backups WHERE kind = 'logical' AND status IN ('completed', 'verified') \
         ORDER BY snapshot_at DESC NULLS LAST LIMIT 1"
    )))
    .fetch_optional(pool)
    .await
}

/// The last drill of any policy, passed or not, with its backup's policy.
pub async fn last_drill(
    pool: &PgPool,
) -> Result<Option<(VerificationRow, Option<String>)>, sqlx::Error> {
    let row: Option<VerificationRow> = sqlx::query_as(
        "SELECT id, backup_id, level, ok, detail, scratch_database, restore_ms, bytes_per_second, finished_at \
         FROM javari_backup_verifications WHERE level = 'drill' ORDER BY finished_at DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some(v) = row else { return Ok(None) };
    let policy = get_backup(pool, v.backup_id).await?.and_then(|b| b.policy);
    Ok(Some((v, policy)))
}

/// The newest backup of `policy` whose last verification passed.
pub async fn newest_verified(
    pool: &PgPool,
    policy: &str,
) -> Result<Option<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_backups WHERE policy = $1 AND status = 'verified' \
         ORDER BY snapshot_at DESC LIMIT 1"
    )))
    .bind(policy)
    .fetch_optional(pool)
    .await
}

pub async fn list_verifications(
    pool: &PgPool,
    backup_id: Uuid,
) -> Result<Vec<VerificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, backup_id, level, ok, detail, scratch_database, restore_ms, bytes_per_second, finished_at \
         FROM javari_backup_verifications WHERE backup_id = $1 ORDER BY started_at DESC, finished_at DESC LIMIT 100",
    )
    .bind(backup_id)
    .fetch_all(pool)
    .await
}

pub(crate) struct NewBackup<'a> {
    pub id: Uuid,
    pub policy: &'a str,
    pub store_url: &'a str,
    pub file_path: &'a str,
    pub compression: &'a str,
    pub key_id: &'a str,
    pub sealed_key: &'a [u8],
    pub key_nonce: &'a [u8],
    pub created_by: &'a str,
}

pub(crate) async fn insert_running(pool: &PgPool, b: &NewBackup<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO javari_backups (id, kind, status, policy, store_url, file_path, compression, key_id, sealed_key, key_nonce, created_by) \
         VALUES ($1, 'logical', 'running', $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(b.id)
    .bind(b.policy)
    .bind(b.store_url)
    .bind(b.file_path)
    .bind(b.compression)
    .bind(b.key_id)
    .bind(b.sealed_key)
    .bind(b.key_nonce)
    .bind(b.created_by)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a backup complete from its manifest (after the manifest is in the store).
pub(crate) async fn complete(
    pool: &PgPool,
    m: &Manifest,
    manifest_sha256: &str,
    duration_ms: i64,
) -> Result<(), sqlx::Error> {
    let metadata = serde_json::json!({
        "database": m.database,
        "server_version": m.server_version,
        "pg_dump_version": m.pg_dump_version,
        "javari_version": m.javari_version,
        "row_counts": m.row_counts,
    });
    sqlx::query(
        "UPDATE javari_backups SET status = 'completed', sha256 = $2, size_bytes = $3, original_bytes = $4, \
           file_count = $5, snapshot_at = $6, finished_at = $7, duration_ms = $8, schema_hash = $9, metadata = $10, error = NULL \
         WHERE id = $1",
    )
    .bind(m.backup_id)
    .bind(manifest_sha256)
    .bind(i64::try_from(m.stored_bytes()).unwrap_or(i64::MAX))
    .bind(i64::try_from(m.original_bytes()).unwrap_or(i64::MAX))
    .bind(i32::try_from(m.files.len()).unwrap_or(i32::MAX))
    .bind(m.snapshot_at)
    .bind(m.finished_at)
    .bind(duration_ms)
    .bind(&m.schema_hash)
    .bind(metadata)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn fail(pool: &PgPool, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE javari_backups SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn running_of(pool: &PgPool, policy: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM javari_backups WHERE policy = $1 AND status = 'running'")
        .bind(policy)
        .fetch_all(pool)
        .await
}

/// Records one verification step and moves the backup's status and level.
pub(crate) async fn record_verification(
    pool: &PgPool,
    v: &NewVerification<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO javari_backup_verifications (backup_id, level, ok, detail, scratch_database, restore_ms, bytes_per_second, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.backup_id)
    .bind(v.level)
    .bind(v.ok)
    .bind(v.detail)
    .bind(v.scratch_database)
    .bind(v.restore_ms)
    .bind(v.bytes_per_second)
    .bind(v.started_at)
    .execute(&mut *tx)
    .await?;
    if v.ok {
        sqlx::query(
            "UPDATE javari_backups SET status = 'verified', verified_at = now(), \
               verification_level = CASE WHEN $2 = 'drill' OR verification_level = 'drill' THEN 'drill' \
                 WHEN $2 = 'catalog' OR verification_level = 'catalog' THEN 'catalog' ELSE 'checksums' END \
             WHERE id = $1 AND status IN ('completed', 'verified')",
        )
        .bind(v.backup_id)
        .bind(v.level)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "UPDATE javari_backups SET status = 'corrupt', error = $2 WHERE id = $1 AND status IN ('completed', 'verified')",
        )
        .bind(v.backup_id)
        .bind(v.detail)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

pub(crate) struct NewVerification<'a> {
    pub backup_id: Uuid,
    pub level: &'a str,
    pub ok: bool,
    pub detail: Option<&'a str>,
    pub scratch_database: Option<&'a str>,
    pub restore_ms: Option<i64>,
    pub bytes_per_second: Option<f64>,
    pub started_at: DateTime<Utc>,
}

/// Ids of the backups of `policy` that have a manifest in the store (the restorable ones).
pub async fn restorable_in_store(
    dest: &Destination,
    policy: &str,
) -> Result<BTreeSet<Uuid>, BackupError> {
    let (with_manifest, _) = store_backups(dest, policy).await?;
    Ok(with_manifest)
}

/// (backups with a manifest, backups with objects but no manifest) under the policy prefix.
pub(crate) async fn store_backups(
    dest: &Destination,
    policy: &str,
) -> Result<(BTreeSet<Uuid>, BTreeSet<Uuid>), BackupError> {
    let parts = policy_prefix(policy);
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let base = dest.path(&refs);
    let depth = base.parts_count();
    let objects: Vec<_> = dest.store.list(Some(&base)).try_collect().await?;
    let mut complete = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for o in objects {
        let p: Vec<_> = o.location.parts().collect();
        let Some(id) = p.get(depth).and_then(|s| Uuid::parse_str(s.as_ref()).ok()) else {
            continue;
        };
        seen.insert(id);
        if p.len() == depth + 2 && p[depth + 1].as_ref() == MANIFEST {
            complete.insert(id);
        }
    }
    let partial = seen.difference(&complete).copied().collect();
    Ok((complete, partial))
}

/// Deletes every object of one backup, the manifest first so it stops being restorable
/// before its files go.
pub(crate) async fn delete_backup_objects(
    dest: &Destination,
    policy: &str,
    id: Uuid,
) -> Result<u64, BackupError> {
    let mut parts = policy_prefix(policy);
    parts.push(id.to_string());
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let base = dest.path(&refs);
    let manifest = base.clone().join(MANIFEST);
    let mut deleted = 0;
    match dest.store.delete(&manifest).await {
        Ok(()) => deleted += 1,
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let objects: Vec<_> = dest.store.list(Some(&base)).try_collect().await?;
    for o in objects {
        match dest.store.delete(&o.location).await {
            Ok(()) => deleted += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(root) = dest.local_root() {
        // Multipart staging files of a killed upload are not listed by the store.
        let dir = root.join(refs.join("/"));
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(deleted)
}

/// Applies (or, with `dry_run`, previews) retention to the complete backups of `policy`.
pub async fn prune(
    pool: &PgPool,
    dest: &Destination,
    policy: &str,
    rule: RetentionRule,
    dry_run: bool,
) -> Result<RetentionPlan, BackupError> {
    let rows: Vec<(Uuid, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, snapshot_at, status FROM javari_backups WHERE policy = $1 \
         AND status IN ('completed', 'verified', 'corrupt') AND snapshot_at IS NOT NULL",
    )
    .bind(policy)
    .fetch_all(pool)
    .await?;
    let candidates: Vec<Candidate> = rows
        .into_iter()
        .map(|(id, snapshot_at, status)| Candidate {
            id,
            snapshot_at,
            verified: status == "verified",
        })
        .collect();
    let plan = retention::plan(rule, &candidates);
    if dry_run {
        return Ok(plan);
    }
    for (id, reasons) in &plan.keep {
        let class: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        sqlx::query("UPDATE javari_backups SET retention_class = $2 WHERE id = $1")
            .bind(id)
            .bind(class.join(","))
            .execute(pool)
            .await?;
    }
    for id in &plan.prune {
        // The row says pruned before the objects go: a crash in between leaves objects that
        // the next run's cleanup removes, never a listed backup without its files.
        sqlx::query(
            "UPDATE javari_backups SET status = 'pruned', pruned_at = now(), retention_class = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(pool)
        .await?;
        delete_backup_objects(dest, policy, *id).await?;
    }
    Ok(plan)
}
