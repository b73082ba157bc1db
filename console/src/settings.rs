//! What the console's behaviour depends on, apart from its connections.

use std::time::Duration;

use javari_core::chat::GatewayConfig;

use crate::auth::AuthSettings;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Sign-in, cookies, second factor, API tokens.
    pub auth: AuthSettings,
    /// Default monthly budget per user, US dollars; `None`: unlimited.
    pub monthly_budget_usd: Option<f64>,
    /// Messages sent with each request besides the stored summary.
    pub keep_last_messages: usize,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Largest knowledge upload.
    pub max_upload_bytes: usize,
    /// How long the provider list (and their keys) is cached.
    pub providers_ttl: Duration,
    pub gateway: GatewayConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth: AuthSettings::default(),
            monthly_budget_usd: None,
            keep_last_messages: 20,
            max_json_bytes: 64 * 1024,
            max_upload_bytes: 10 * 1024 * 1024,
            providers_ttl: Duration::from_secs(5),
            gateway: GatewayConfig::default(),
        }
    }
}
