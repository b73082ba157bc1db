//! The second factor: TOTP enrolment (secret sealed under the master key), one-time
//! recovery codes (stored as SHA-256), and the pending sign-ins that wait for a code.

use javari_core::db::begin_as;
use std::time::Duration;

use chrono::Utc;
use javari_core::totp;
use javari_core::vault::{Keyring, Sealed, SecretValue, open_for, seal_for};
use sqlx::PgPool;
use uuid::Uuid;

use super::{random_token, sha256_hex};

pub const RECOVERY_CODES: usize = 10;
/// How long a right password waits for its second factor.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Wrong codes one pending sign-in may try.
pub const CHALLENGE_ATTEMPTS: i32 = 5;
pub const MFA_COOKIE: &str = "javari_mfa";

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("a second factor needs the master key (JAVARI_MASTER_KEY) to seal its secret")]
    NoMasterKey,
    #[error("a second factor is enrolled already")]
    AlreadyEnrolled,
    #[error("no enrolment is waiting for a code: open the enrolment page again")]
    NotStarted,
    #[error("that code is not right: use the current code from your authenticator app")]
    WrongCode,
    #[error("the stored second factor cannot be opened: {0}")]
    Vault(#[from] javari_core::vault::VaultError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn context(user_id: Uuid) -> String {
    format!("javari.ai/totp/v1:{user_id}")
}

/// What the enrolment page shows until the first code confirms it.
pub struct Enrolment {
    pub secret_base32: String,
    pub uri: String,
}

type SealedRow = (
    Vec<u8>,
    Vec<u8>,
    String,
    Option<chrono::DateTime<Utc>>,
    Option<i64>,
);

async fn load(pool: &PgPool, user_id: Uuid) -> Result<Option<SealedRow>, sqlx::Error> {
    let mut tx = begin_as(pool, user_id).await?;
    let row = sqlx::query_as(
        "SELECT secret_ciphertext, secret_nonce, key_id, enabled_at, last_step FROM javari_user_totp WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

fn open_secret(keys: &Keyring, user_id: Uuid, row: &SealedRow) -> Result<SecretValue, MfaError> {
    let nonce: [u8; 12] = row.1.as_slice().try_into().map_err(|_| {
        MfaError::Vault(javari_core::vault::VaultError::Seal(
            "stored nonce is not 12 bytes".into(),
        ))
    })?;
    let sealed = Sealed {
        ciphertext: row.0.clone(),
        nonce,
        key_id: row.2.clone(),
    };
    Ok(open_for(keys, &context(user_id), &sealed)?)
}

pub async fn is_enrolled(pool: &PgPool, user_id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(load(pool, user_id).await?.is_some_and(|r| r.3.is_some()))
}

/// Starts (or shows again) an enrolment: the secret for the authenticator app.
pub async fn begin_enrolment(
    pool: &PgPool,
    keys: Option<&Keyring>,
    user_id: Uuid,
    email: &str,
) -> Result<Enrolment, MfaError> {
    let keys = keys.ok_or(MfaError::NoMasterKey)?;
    let secret = match load(pool, user_id).await? {
        Some(row) if row.3.is_some() => return Err(MfaError::AlreadyEnrolled),
        Some(row) => open_secret(keys, user_id, &row)?,
        None => {
            let mut bytes = vec![0u8; totp::SECRET_BYTES];
            getrandom::fill(&mut bytes).expect("operating system random source");
            let secret = SecretValue::new(bytes);
            let sealed = seal_for(keys.current(), &context(user_id), &secret)?;
            let mut tx = begin_as(pool, user_id).await?;
            sqlx::query(
                "INSERT INTO javari_user_totp (user_id, secret_ciphertext, secret_nonce, key_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(&sealed.ciphertext)
            .bind(sealed.nonce.as_slice())
            .bind(&sealed.key_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            // A concurrent request may have won the insert: show what is stored.
            let row = load(pool, user_id).await?.ok_or(MfaError::NotStarted)?;
            open_secret(keys, user_id, &row)?
        }
    };
    Ok(Enrolment {
        secret_base32: totp::base32_encode(secret.expose()),
        uri: totp::otpauth_uri("Javari", email, secret.expose()),
    })
}

/// Confirms an enrolment with a first code; returns the recovery codes, shown only now.
pub async fn confirm_enrolment(
    pool: &PgPool,
    keys: Option<&Keyring>,
    user_id: Uuid,
    code: &str,
) -> Result<Vec<String>, MfaError> {
    let keys = keys.ok_or(MfaError::NoMasterKey)?;
    let row = load(pool, user_id).await?.ok_or(MfaError::NotStarted)?;
    if row.3.is_some() {
        return Err(MfaError::AlreadyEnrolled);
    }
    let secret = open_secret(keys, user_id, &row)?;
    let step = totp::verify(secret.expose(), code, Utc::now().timestamp(), None)
        .ok_or(MfaError::WrongCode)?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let mut tx = begin_as(pool, user_id).await?;
    let updated = sqlx::query(
        "UPDATE javari_user_totp SET enabled_at = now(), last_step = $2 WHERE user_id = $1 AND enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(step)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(MfaError::AlreadyEnrolled);
    }
    sqlx::query("DELETE FROM javari_user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for code in &codes {
        sqlx::query("INSERT INTO javari_user_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(sha256_hex(&normalize_recovery(code)))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(codes)
}

/// `xxxxx-xxxxx` from 50 random bits in base32.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; 7];
    getrandom::fill(&mut bytes).expect("operating system random source");
    let text = totp::base32_encode(&bytes);
    format!("{}-{}", &text[..5], &text[5..10]).to_lowercase()
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Checks a TOTP code (once per time step) or an unused recovery code (then spent).
pub async fn check_second_factor(
    pool: &PgPool,
    keys: Option<&Keyring>,
    user_id: Uuid,
    input: &str,
) -> Result<bool, MfaError> {
    let input = input.trim();
    if input.len() == totp::DIGITS as usize && input.bytes().all(|b| b.is_ascii_digit()) {
        let keys = keys.ok_or(MfaError::NoMasterKey)?;
        let Some(row) = load(pool, user_id).await?.filter(|r| r.3.is_some()) else {
            return Ok(false);
        };
        let secret = open_secret(keys, user_id, &row)?;
        let Some(step) = totp::verify(secret.expose(), input, Utc::now().timestamp(), row.4) else {
            return Ok(false);
        };
        // Only one request can move last_step past this step: a code works once.
        let mut tx = begin_as(pool, user_id).await?;
        let moved = sqlx::query(
            "UPDATE javari_user_totp SET last_step = $2 WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(moved.rows_affected() == 1);
    }
    let mut tx = begin_as(pool, user_id).await?;
    let spent = sqlx::query(
        "UPDATE javari_user_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(sha256_hex(&normalize_recovery(input)))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(spent.rows_affected() == 1)
}

/// Recovery codes not yet used.
pub async fn recovery_codes_left(pool: &PgPool, user_id: Uuid) -> Result<i64, sqlx::Error> {
    let mut tx = begin_as(pool, user_id).await?;
    let left = sqlx::query_scalar(
        "SELECT count(*) FROM javari_user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(left)
}

/// A pending sign-in: the password was right, the second factor is awaited.
pub struct Challenge {
    pub id: Uuid,
    pub user_id: Uuid,
    pub attempts: i32,
    pub next: String,
}

pub async fn create_challenge(
    pool: &PgPool,
    user_id: Uuid,
    next: &str,
) -> Result<String, sqlx::Error> {
    let token = random_token();
    let mut tx = begin_as(pool, user_id).await?;
    sqlx::query(
        "INSERT INTO javari_sign_in_challenges (user_id, token_hash, next_path, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(sha256_hex(&token))
    .bind(next)
    .bind(Utc::now() + CHALLENGE_TTL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The pending sign-in of a cookie's token. The user is not known yet: the owner's function
/// finds it by the token's hash.
pub async fn find_challenge(pool: &PgPool, token: &str) -> Result<Option<Challenge>, sqlx::Error> {
    let row: Option<(Uuid, Uuid, i32, String)> = sqlx::query_as(
        "SELECT id, user_id, attempts, next_path FROM javari_auth_sign_in_challenge($1)",
    )
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, user_id, attempts, next)| Challenge {
        id,
        user_id,
        attempts,
        next,
    }))
}

/// Counts a wrong code; returns the attempts left (the challenge is gone at 0).
pub async fn fail_challenge(pool: &PgPool, challenge: &Challenge) -> Result<i32, sqlx::Error> {
    let mut tx = begin_as(pool, challenge.user_id).await?;
    let attempts: Option<i32> = sqlx::query_scalar(
        "UPDATE javari_sign_in_challenges SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
    )
    .bind(challenge.id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let left = CHALLENGE_ATTEMPTS - attempts.unwrap_or(CHALLENGE_ATTEMPTS);
    if left <= 0 {
        end_challenge(pool, challenge).await?;
    }
    Ok(left.max(0))
}

pub async fn end_challenge(pool: &PgPool, challenge: &Challenge) -> Result<(), sqlx::Error> {
    let mut tx = begin_as(pool, challenge.user_id).await?;
    sqlx::query("DELETE FROM javari_sign_in_challenges WHERE id = $1")
        .bind(challenge.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_and_normalize() {
        let a = new_recovery_code();
        assert_eq!(a.len(), 11, "{a}");
        assert_ne!(a, new_recovery_code());
        assert_eq!(normalize_recovery(" ABCDE-fghij "), "abcdefghij");
    }
}
