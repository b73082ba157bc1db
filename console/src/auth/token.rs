//! API tokens: `jv_` + 32 random bytes as hex, shown once at creation, stored as SHA-256,
//! with an expiry set at creation. A token acts with the lower of its own role and its
//! owner's. Requests find tokens in the in-memory [`super::AuthCache`].

use chrono::{DateTime, Utc};
use javari_core::db::Actor;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Role, User, random_token, sha256_hex};

pub const TOKEN_PREFIX: &str = "jv_";

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The only time the token is shown.
    pub token: String,
}

/// A token as listed: never its value.
#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// `active`, `expired` or `revoked`.
    pub fn state(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= Utc::now()) {
            "expired"
        } else {
            "active"
        }
    }
}

pub async fn create_token(
    pool: &PgPool,
    owner: &User,
    name: &str,
    role: Role,
) -> Result<NewToken, sqlx::Error> {
    create_token_expiring(
        pool,
        owner,
        name,
        role,
        Utc::now() + chrono::Duration::days(90),
    )
    .await
}

pub async fn create_token_expiring(
    pool: &PgPool,
    owner: &User,
    name: &str,
    role: Role,
    expires_at: DateTime<Utc>,
) -> Result<NewToken, sqlx::Error> {
    let role = role.min(owner.role);
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let mut tx = javari_core::db::begin_as(pool, owner.id).await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_api_keys (user_id, name, key_prefix, key_hash, role, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(owner.id)
    .bind(name)
    .bind(&token[..TOKEN_PREFIX.len() + 8])
    .bind(sha256_hex(&token))
    .bind(role.as_str())
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(NewToken {
        id,
        name: name.to_owned(),
        role,
        expires_at,
        token,
    })
}

/// Tokens of `owner`, or everyone's with `None` (an admin: `actor` must be
/// [`Actor::Admin`] for the policies to show them); newest first.
pub async fn list_tokens(
    pool: &PgPool,
    actor: Actor,
    owner: Option<Uuid>,
) -> Result<Vec<TokenInfo>, sqlx::Error> {
    let mut tx = javari_core::db::begin(pool, actor).await?;
    let tokens = sqlx::query_as(
        "SELECT k.id, k.name, k.key_prefix AS prefix, k.role, u.email AS owner, k.created_at, k.last_used_at, \
         k.expires_at, k.revoked_at FROM javari_api_keys k JOIN javari_users u ON u.id = k.user_id \
         WHERE $1::uuid IS NULL OR k.user_id = $1 ORDER BY k.created_at DESC, k.id LIMIT 1000",
    )
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tokens)
}

/// Revokes token `id` if `owner` owns it (any token with `None`). False when there is none.
pub async fn revoke_token(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    owner: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let mut tx = javari_core::db::begin(pool, actor).await?;
    let found: Option<Uuid> = sqlx::query_scalar(
        "UPDATE javari_api_keys SET revoked_at = coalesce(revoked_at, now()) \
         WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2) RETURNING id",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found.is_some())
}
