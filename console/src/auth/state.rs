//! The console's authentication state: settings, limits, the password gate and the cache.

use std::sync::Arc;

use javari_core::vault::{Keyring, Vault};
use sqlx::PgPool;

use super::{AuthCache, AuthSettings, Cookies, Limits, LoginLimiter, PasswordGate};

pub struct AuthState {
    pub settings: AuthSettings,
    pub cookies: Cookies,
    pub limiter: LoginLimiter,
    pub gate: PasswordGate,
    pub cache: Arc<AuthCache>,
    vault: Option<Vault>,
}

impl AuthState {
    /// Starts the cache's listener on the current runtime (when there is one).
    pub fn new(pool: PgPool, settings: AuthSettings, vault: Option<Vault>) -> Self {
        let cache = Arc::new(AuthCache::new(pool));
        cache.spawn(settings.last_used_flush);
        Self {
            cookies: Cookies {
                insecure: settings.insecure_cookies,
            },
            limiter: LoginLimiter::new(Limits {
                client: settings.client_failures,
                account_client: settings.account_client_failures,
                window: settings.failure_window,
            }),
            gate: PasswordGate::new(
                settings.max_password_checks,
                settings.max_password_waiters,
                settings.password_wait,
            ),
            cache,
            vault,
            settings,
        }
    }

    /// The master keys that seal second-factor secrets, when the console has them.
    pub fn keys(&self) -> Option<&Keyring> {
        self.vault.as_ref().map(Vault::keys)
    }
}
