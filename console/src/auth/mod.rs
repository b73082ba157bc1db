//! Who is asking: users with argon2id passwords, sessions in PostgreSQL, hashed API tokens,
//! roles, CSRF tokens and the login rate limit.

mod bootstrap;
mod csrf;
mod guard;
mod login_limit;
mod password;
mod session;
mod token;
mod user;

pub use bootstrap::ensure_admin;
pub use csrf::{LOGIN_CSRF_COOKIE, csrf_token_for, same_token};
pub use guard::{CurrentUser, require_admin, require_operator, require_viewer};
pub use login_limit::LoginLimiter;
pub use password::{decoy_hash, hash_password, verify_password};
pub use session::{
    SESSION_COOKIE, SESSION_TTL, Session, cookie_value, create_session, end_session, find_session,
    read_cookie, secure_attribute,
};
pub use token::{NewToken, create_token, find_token_user};
pub use user::{Role, User, create_user, find_by_email};

/// 32 random bytes as hex: session tokens, API tokens, login CSRF values.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for an authenticating server.
    getrandom::fill(&mut bytes).expect("operating system random source");
    hex::encode(bytes)
}

/// Hex SHA-256: only hashes of tokens are stored.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
