//! API tokens for automation: `jv_` and 64 hex characters, shown once, stored as SHA-256.
//! A token acts with the lower of its own role and its owner's.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Role, User, random_token, sha256_hex};

pub const TOKEN_PREFIX: &str = "jv_";

#[derive(Serialize)]
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The only time the token is shown.
    pub token: String,
}

pub async fn create_token(
    pool: &PgPool,
    owner: &User,
    name: &str,
    role: Role,
) -> Result<NewToken, sqlx::Error> {
    let role = role.min(owner.role);
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_api_keys (user_id, name, key_prefix, key_hash, role) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(owner.id)
    .bind(name)
    .bind(&token[..TOKEN_PREFIX.len() + 8])
    .bind(sha256_hex(&token))
    .bind(role.as_str())
    .fetch_one(pool)
    .await?;
    Ok(NewToken {
        id,
        name: name.to_owned(),
        role,
        token,
    })
}

/// The user a bearer token acts as, if it is live.
pub async fn find_token_user(pool: &PgPool, token: &str) -> Result<Option<User>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row: Option<(Uuid, Uuid, String, String, String)> = sqlx::query_as(
        "SELECT k.id, u.id, u.email, u.role, k.role FROM javari_api_keys k JOIN javari_users u ON u.id = k.user_id \
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT u.disabled",
    )
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    let Some((key_id, id, email, user_role, key_role)) = row else {
        return Ok(None);
    };
    // Recorded at most once a minute, off the request's path.
    let pool = pool.clone();
    tokio::spawn(async move {
        let _ = sqlx::query(
            "UPDATE javari_api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(key_id)
        .execute(&pool)
        .await;
    });
    let user_role = Role::from_db(&user_role);
    let key_role = Role::from_db(&key_role);
    Ok(Some(User {
        id,
        email,
        role: user_role.min(key_role),
    }))
}
