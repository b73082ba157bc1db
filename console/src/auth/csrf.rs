//! CSRF tokens. A signed-in form carries a token derived from the session token (which only
//! the browser holding the HttpOnly cookie knows); the sign-in form uses a double-submit
//! cookie because there is no session yet.

use sha2::Digest;

pub const LOGIN_CSRF_COOKIE: &str = "javari_login_csrf";

/// The CSRF token of a session: SHA-256 of a fixed label and the session token.
pub fn csrf_token_for(session_token: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"javari csrf v1:");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Constant-time equality, so a wrong token's timing says nothing about the right one.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_token_for("session-a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_token_for("session-b"));
        assert!(same_token(&a, &csrf_token_for("session-a")));
        assert!(!same_token(&a, &csrf_token_for("session-b")));
        assert!(!same_token(&a, ""));
    }
}
