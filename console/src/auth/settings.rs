//! The sign-in, cookie, second-factor and token settings (flags in `config.rs`).

use std::time::Duration;

use ipnet::IpNet;

#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Cookies named `__Host-…` and marked `Secure` (the default). Browsers accept them over
    /// HTTPS and on `http://localhost` / `http://127.0.0.1`; set `insecure_cookies` only to
    /// serve plain HTTP on another address.
    pub insecure_cookies: bool,
    /// Password verifications (argon2id, 19 MiB each) running at once in this replica.
    pub max_password_checks: usize,
    /// Sign-ins allowed to wait for a verification slot; more are answered 503.
    pub max_password_waiters: usize,
    /// Longest wait for a verification slot before answering 503.
    pub password_wait: Duration,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client itself.
    pub trusted_proxies: Vec<IpNet>,
    /// Failed sign-ins one client may make (over all accounts) per window.
    pub client_failures: u32,
    /// Failed sign-ins one client may make for one account per window, before it must wait.
    pub account_client_failures: u32,
    pub failure_window: Duration,
    /// Admins must sign in with a second factor; one without is sent to enrol.
    pub require_admin_mfa: bool,
    /// Longest lifetime of an API token, and the lifetime when the request names none.
    pub max_token_days: u32,
    pub default_token_days: u32,
    /// Expired and revoked tokens stay listed this long before they are pruned.
    pub token_retention: Duration,
    /// When expired sessions and tokens are pruned (cron, with seconds).
    pub prune_schedule: String,
    /// How often tokens' last use is written to the database.
    pub last_used_flush: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            insecure_cookies: false,
            max_password_checks: 4,
            max_password_waiters: 32,
            password_wait: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            client_failures: 30,
            account_client_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            require_admin_mfa: false,
            max_token_days: 365,
            default_token_days: 90,
            token_retention: Duration::from_secs(7 * 24 * 3600),
            prune_schedule: "0 */10 * * * *".to_owned(),
            last_used_flush: Duration::from_secs(30),
        }
    }
}

/// Parses `10.0.0.0/8,192.168.1.7` (a bare address is a /32 or /128).
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a CIDR network"))
        })
        .collect()
}
