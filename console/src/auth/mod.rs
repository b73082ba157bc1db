//! Who is asking: users with argon2id passwords, sessions and hashed API tokens (held in
//! memory, kept current through PostgreSQL notifications), a TOTP second factor, roles, CSRF
//! tokens, and sign-in limits (a bound on password checks, throttling per client and per
//! account and client).

mod admin;
mod bootstrap;
mod cache;
mod client;
mod csrf;
mod guard;
mod login_limit;
mod mfa;
mod password;
mod password_gate;
mod prune;
mod session;
mod settings;
mod state;
mod token;
mod user;

pub use admin::{USER_LIST_LIMIT, UserSummary, find_user, list_users, set_disabled, set_role};
pub use bootstrap::ensure_admin;
pub use cache::{AuthCache, Identity};
pub use client::{ClientKey, client_address, client_key, client_of};
pub use csrf::{LOGIN_CSRF_COOKIE, csrf_token_for, same_token};
pub use guard::{CurrentUser, require_admin, require_operator, require_viewer};
pub use login_limit::{AttemptKeys, Limits, LoginLimiter};
pub use mfa::{
    CHALLENGE_ATTEMPTS, Enrolment, MFA_COOKIE, MfaError, begin_enrolment, check_second_factor,
    confirm_enrolment, create_challenge, end_challenge, fail_challenge, find_challenge,
    is_enrolled, recovery_codes_left,
};
pub use password::{decoy_hash, hash_password, verify_password};
pub use password_gate::{BUSY_RETRY_AFTER, Busy, GateStats, PasswordGate};
pub use prune::{PRUNE_LOCK, Pruned, prune_once, start_pruning};
pub use session::{
    Cookies, SESSION_COOKIE, SESSION_TTL, Session, create_session, end_session, read_cookie,
};
pub use settings::{AuthSettings, parse_networks};
pub use state::AuthState;
pub use token::{
    NewToken, TOKEN_PREFIX, TokenInfo, create_token, create_token_expiring, list_tokens,
    revoke_token,
};
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
