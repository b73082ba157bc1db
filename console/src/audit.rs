//! Rows of the general audit log (`javari_audit_log`): who did what to which resource from
//! the console. Details never carry a secret value.

use serde::Serialize;
use sqlx::PgPool;

/// One action: `action` as `kind.verb` (`user.disable`), the resource's type and id.
pub struct AuditRecord<'a, D: Serialize> {
    pub actor: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub details: D,
}

pub async fn record<D: Serialize>(
    pool: &PgPool,
    row: AuditRecord<'_, D>,
) -> Result<(), sqlx::Error> {
    let details = serde_json::to_value(&row.details)
        .map_err(|e| sqlx::Error::Protocol(format!("audit details: {e}")))?;
    sqlx::query(
        "INSERT INTO javari_audit_log (actor, action, resource_type, resource_id, details) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(row.actor)
    .bind(row.action)
    .bind(row.resource_type)
    .bind(row.resource_id)
    .bind(details)
    .execute(pool)
    .await?;
    Ok(())
}
