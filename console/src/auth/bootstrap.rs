//! The first admin, from configuration, so a new installation can be signed into.

use sqlx::PgPool;

use super::{Role, create_user, find_by_email};

/// Creates `email` as an admin unless it exists. Returns whether it was created.
pub async fn ensure_admin(pool: &PgPool, email: &str, password: &str) -> Result<bool, sqlx::Error> {
    if find_by_email(pool, email).await?.is_some() {
        return Ok(false);
    }
    create_user(pool, email, password, Role::Admin).await?;
    Ok(true)
}
