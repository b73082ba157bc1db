//! Console sessions: a random token in an HttpOnly cookie, its SHA-256 in `javari_sessions`.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::{User, random_token, sha256_hex};

pub const SESSION_COOKIE: &str = "javari_session";
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A signed-in user and the token that identifies their session.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: Uuid,
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
    let mut tx = javari_core::db::begin_as(pool, user.id).await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_sessions (user_id, token_hash, csrf_token_hash, expires_at, user_agent) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user.id)
    .bind(sha256_hex(&token))
    .bind(sha256_hex(&super::csrf_token_for(&token)))
    .bind(expires)
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE javari_users SET last_login_at = now() WHERE id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Session {
        id,
        token,
        user: user.clone(),
    })
}

/// Ends the session of `token`; its id, if it existed. The cookie names its user (through
/// the owner's lookup by hash), as whom the session is deleted.
pub async fn end_session(pool: &PgPool, token: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let hash = sha256_hex(token);
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM javari_auth_sessions(NULL, $1)")
            .bind(&hash)
            .fetch_optional(pool)
            .await?;
    let Some(owner) = owner else {
        return Ok(None);
    };
    let mut tx = javari_core::db::begin_as(pool, owner).await?;
    let id = sqlx::query_scalar("DELETE FROM javari_sessions WHERE token_hash = $1 RETURNING id")
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// How cookies are named and marked. By default `__Host-` names with `Secure; Path=/` and no
/// `Domain`: browsers then refuse them from any other origin or path, and accept them over
/// HTTPS and on `http://localhost` / `http://127.0.0.1` (which they treat as secure).
/// `insecure` drops the prefix and `Secure`, for plain HTTP on another address only.
#[derive(Clone, Copy, Debug)]
pub struct Cookies {
    pub insecure: bool,
}

impl Cookies {
    pub fn name(self, base: &str) -> String {
        if self.insecure {
            base.to_owned()
        } else {
            format!("__Host-{base}")
        }
    }

    /// A `Set-Cookie` value: HttpOnly, Path=/, and `Secure` unless insecure. `None` clears it.
    pub fn set(
        self,
        base: &str,
        value: Option<&str>,
        same_site: &str,
        max_age: Duration,
    ) -> String {
        let secure = if self.insecure { "" } else { "; Secure" };
        let (value, max_age) = match value {
            Some(v) => (v, max_age.as_secs()),
            None => ("", 0),
        };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
            self.name(base)
        )
    }

    /// The session cookie (or, with `None`, one that clears it).
    pub fn session(self, token: Option<&str>) -> String {
        self.set(SESSION_COOKIE, token, "Lax", SESSION_TTL)
    }

    /// The value of cookie `base` in a request's `Cookie` header.
    pub fn read<'a>(self, header: &'a str, base: &str) -> Option<&'a str> {
        read_cookie(header, &self.name(base))
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn read_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefixed_cookies_are_secure_with_path_root_and_no_domain() {
        let secure = Cookies { insecure: false }.session(Some("abc"));
        assert!(
            secure.starts_with("__Host-javari_session=abc; Path=/;"),
            "{secure}"
        );
        assert!(
            secure.contains("; Secure") && secure.contains("HttpOnly"),
            "{secure}"
        );
        assert!(!secure.contains("Domain"), "{secure}");
        let plain = Cookies { insecure: true }.session(None);
        assert!(plain.starts_with("javari_session=; Path=/;") && !plain.contains("Secure"));
        assert!(plain.contains("Max-Age=0"));
        let jar = "a=1; __Host-javari_session=tok; javari_session=other";
        assert_eq!(
            Cookies { insecure: false }.read(jar, SESSION_COOKIE),
            Some("tok")
        );
        assert_eq!(
            Cookies { insecure: true }.read(jar, SESSION_COOKIE),
            Some("other")
        );
    }
}
