//! Console sessions: a random token in an HttpOnly cookie, its SHA-256 in `javari_sessions`.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Role, User, random_token, sha256_hex};

pub const SESSION_COOKIE: &str = "javari_session";
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A signed-in user and the token that identifies their session.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub user: User,
}

pub async fn create_session(
    pool: &PgPool,
    user: &User,
    user_agent: Option<&str>,
) -> Result<Session, sqlx::Error> {
    let token = random_token();
    let expires = Utc::now() + SESSION_TTL;
    sqlx::query(
        "INSERT INTO javari_sessions (user_id, token_hash, csrf_token_hash, expires_at, user_agent) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.id)
    .bind(sha256_hex(&token))
    .bind(sha256_hex(&super::csrf_token_for(&token)))
    .bind(expires)
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(pool)
    .await?;
    sqlx::query("UPDATE javari_users SET last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(pool)
        .await?;
    Ok(Session {
        token,
        user: user.clone(),
    })
}

/// The live session of `token`, if any (expired sessions and disabled users have none).
pub async fn find_session(pool: &PgPool, token: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT u.id, u.email, u.role FROM javari_sessions s JOIN javari_users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled",
    )
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, email, role)| User {
        id,
        email,
        role: Role::from_db(&role),
    }))
}

pub async fn end_session(pool: &PgPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM javari_sessions WHERE token_hash = $1")
        .bind(sha256_hex(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// The `Set-Cookie` value for a session (or, with `None`, one that clears it).
pub fn cookie_value(token: Option<&str>, secure: bool) -> String {
    let secure = secure_attribute(secure);
    match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// `; Secure` for cookies of a console served over TLS.
pub fn secure_attribute(secure: bool) -> &'static str {
    if secure { "; Secure" } else { "" }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn read_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}
