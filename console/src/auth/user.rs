//! `javari_users` rows.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

pub use javari_core::roles::Role;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
}

impl User {
    /// As whom this user's database work runs: an admin (the role checked when signing in,
    /// capped by a token's role) also passes the `*_admin` row-level policies.
    pub fn actor(&self) -> javari_core::db::Actor {
        if self.role == Role::Admin {
            javari_core::db::Actor::Admin(self.id)
        } else {
            javari_core::db::Actor::User(self.id)
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    role: String,
    password_hash: Option<String>,
    disabled: bool,
}

/// A user and their password hash, for sign-in.
pub struct Account {
    pub user: User,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT id, email, role, password_hash, disabled FROM javari_users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Account {
        user: User {
            id: r.id,
            email: r.email,
            role: Role::from_db(&r.role),
        },
        password_hash: r.password_hash,
        disabled: r.disabled,
    }))
}

/// Creates a user with an argon2id hash of `password`.
pub async fn create_user(
    pool: &PgPool,
    email: &str,
    password: &str,
    role: Role,
) -> Result<User, sqlx::Error> {
    // argon2 is deliberately slow: keep it off the async threads.
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || super::hash_password(&password))
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("password hashing failed: {e}")))?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email)
    .bind(hash)
    .bind(role.as_str())
    .fetch_one(pool)
    .await?;
    Ok(User {
        id,
        email: email.to_owned(),
        role,
    })
}
