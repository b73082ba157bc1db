//! What an admin does to users: list them, change a role, disable or enable. `javari_users`
//! has no row-level policy (the sign-in path reads it before anyone is known); the admin
//! role is checked by the route's gate. Every change fires the `javari_auth` notification
//! (a trigger), so every replica's cache drops a disabled user's sessions and tokens.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::Role;

/// A user as an admin sees them: never a password hash.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// At most this many users are listed.
pub const USER_LIST_LIMIT: i64 = 1000;

const COLUMNS: &str = "id, email, role, disabled, created_at, last_login_at";

/// Every user, by email.
pub async fn list_users(pool: &PgPool) -> Result<Vec<UserSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_users ORDER BY lower(email), id LIMIT $1"
    )))
    .bind(USER_LIST_LIMIT)
    .fetch_all(pool)
    .await
}

pub async fn find_user(pool: &PgPool, id: Uuid) -> Result<Option<UserSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM javari_users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Sets a user's role; `None` when there is no such user.
pub async fn set_role(
    pool: &PgPool,
    id: Uuid,
    role: Role,
) -> Result<Option<UserSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE javari_users SET role = $2 WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(role.as_str())
    .fetch_optional(pool)
    .await
}

/// Disables (with the reason) or enables a user; `None` when there is no such user.
pub async fn set_disabled(
    pool: &PgPool,
    id: Uuid,
    disabled: bool,
    reason: Option<&str>,
) -> Result<Option<UserSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE javari_users SET disabled = $2, disabled_reason = CASE WHEN $2 THEN $3 END \
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(disabled)
    .bind(reason)
    .fetch_optional(pool)
    .await
}
