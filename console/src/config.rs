//! Command-line flags and their environment variables.

use std::net::SocketAddr;

use clap::Parser;
use javari_core::telemetry::LogFormat;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "javari-console",
    version,
    about = "Javari's web console and JSON API"
)]
pub struct Config {
    /// PostgreSQL URL of the shared schema.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "JAVARI_CONSOLE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// `text` or `json`.
    #[arg(long, env = "JAVARI_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Database connections in the pool.
    #[arg(long, env = "JAVARI_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// The first admin's email; created at start when it does not exist.
    #[arg(long, env = "JAVARI_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// The first admin's password (used only to create the account).
    #[arg(long, env = "JAVARI_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Vault master key (hex or base64), to read the Providers' API keys.
    #[arg(long, env = "JAVARI_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Retired master keys, comma-separated.
    #[arg(long, env = "JAVARI_MASTER_KEYS_OLD", hide_env_values = true)]
    pub master_keys_old: Option<String>,
    /// Mark cookies Secure (set it when the console is served over TLS; a request with
    /// `X-Forwarded-Proto: https` gets Secure cookies either way).
    #[arg(long, env = "JAVARI_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Default monthly AI budget per user in US dollars (a user's preference overrides it).
    #[arg(long, env = "JAVARI_MONTHLY_BUDGET_USD")]
    pub monthly_budget_usd: Option<f64>,
    /// `max_tokens` sent to the provider with every chat request.
    #[arg(long, env = "JAVARI_CHAT_MAX_ANSWER_TOKENS", default_value_t = 4096)]
    pub chat_max_answer_tokens: u32,
    /// Longest answer relayed, in bytes; the answer is stored as truncated there.
    #[arg(long, env = "JAVARI_CHAT_MAX_ANSWER_BYTES", default_value_t = 262_144)]
    pub chat_max_answer_bytes: usize,
    /// Longest an answer may stream, in seconds; stored as truncated after.
    #[arg(long, env = "JAVARI_CHAT_MAX_ANSWER_SECONDS", default_value_t = 300)]
    pub chat_max_answer_seconds: u64,
    /// Longest line (and event) accepted from a provider's stream, in bytes.
    #[arg(
        long,
        env = "JAVARI_CHAT_MAX_SSE_LINE_BYTES",
        default_value_t = 262_144
    )]
    pub chat_max_sse_line_bytes: usize,
    /// Bytes of a provider's error answer read for its message.
    #[arg(
        long,
        env = "JAVARI_CHAT_MAX_ERROR_BODY_BYTES",
        default_value_t = 16_384
    )]
    pub chat_max_error_body_bytes: usize,
    /// Answers one user may have streaming at once in one console (more get 429).
    #[arg(long, env = "JAVARI_CHAT_MAX_ANSWERS_IN_FLIGHT", default_value_t = 4)]
    pub chat_max_answers_in_flight: usize,
}
