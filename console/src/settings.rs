//! What the console's behaviour depends on, apart from its connections.

use std::time::Duration;

use javari_core::chat::GatewayConfig;

#[derive(Clone, Debug)]
pub struct Settings {
    pub secure_cookies: bool,
    /// Default monthly budget per user, US dollars; `None`: unlimited.
    pub monthly_budget_usd: Option<f64>,
    /// Messages sent with each request besides the stored summary.
    pub keep_last_messages: usize,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Largest knowledge upload.
    pub max_upload_bytes: usize,
    /// How long the provider list (and their keys) is used before a background reload
    /// (changes are also announced by PostgreSQL notifications).
    pub providers_ttl: Duration,
    /// Answers one user may have streaming at once in one console; more get 429.
    pub max_answers_in_flight_per_user: usize,
    /// Timeouts, retries and the answer limits (tokens, bytes, duration, SSE line, error body).
    pub gateway: GatewayConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            monthly_budget_usd: None,
            keep_last_messages: 20,
            max_json_bytes: 64 * 1024,
            max_upload_bytes: 10 * 1024 * 1024,
            providers_ttl: Duration::from_secs(60),
            max_answers_in_flight_per_user: 4,
            gateway: GatewayConfig::default(),
        }
    }
}
