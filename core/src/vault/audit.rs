//! The credential audit log: who did what to which credential version, and why.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Create,
    Decrypt,
    Rotate,
    Delete,
    Rewrap,
    Import,
    Update,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Decrypt => "decrypt",
            Self::Rotate => "rotate",
            Self::Delete => "delete",
            Self::Rewrap => "rewrap",
            Self::Import => "import",
            Self::Update => "update",
        }
    }
}

/// One audit row as read back.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub credential_name: String,
    pub actor: String,
    pub action: String,
    pub version: Option<i32>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(crate) struct Record<'a> {
    pub credential_id: Option<Uuid>,
    pub namespace: &'a str,
    pub name: &'a str,
    pub actor: &'a str,
    pub action: AuditAction,
    pub version: Option<i32>,
    pub reason: &'a str,
}

pub(crate) async fn record(
    db: impl sqlx::PgExecutor<'_>,
    r: Record<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO javari_credential_audit_log \
         (credential_id, credential_namespace, credential_name, actor, action, version, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.credential_id)
    .bind(r.namespace)
    .bind(r.name)
    .bind(r.actor)
    .bind(r.action.as_str())
    .bind(r.version)
    .bind(r.reason)
    .execute(db)
    .await?;
    Ok(())
}

/// The newest audit rows of one credential, newest first.
pub async fn recent_audit(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT credential_name, actor, action, version, reason, created_at FROM javari_credential_audit_log \
         WHERE credential_namespace = $1 AND credential_name = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(namespace)
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await
}
