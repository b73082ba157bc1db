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
    /// Knowledge uploads processed at once; more are answered 503 with Retry-After.
    #[arg(long, env = "JAVARI_UPLOAD_CONCURRENCY", default_value_t = 2)]
    pub upload_concurrency: usize,
    /// Extracted text may be this many times an upload's size (at least this many MiB).
    #[arg(long, env = "JAVARI_UPLOAD_TEXT_MULTIPLE", default_value_t = 4)]
    pub upload_text_multiple: usize,
    /// MiB a PDF's compressed streams may expand to; a bigger PDF is refused (422).
    #[arg(long, env = "JAVARI_PDF_DECODED_BUDGET_MIB", default_value_t = 64)]
    pub pdf_decoded_budget_mib: usize,
    /// Embedding requests to the provider at once.
    #[arg(long, env = "JAVARI_EMBED_CONCURRENCY", default_value_t = 2)]
    pub embed_concurrency: usize,
    /// Chunks per embeddings request.
    #[arg(long, env = "JAVARI_EMBED_BATCH", default_value_t = 64)]
    pub embed_batch: usize,
    /// Seconds one embeddings batch may take.
    #[arg(long, env = "JAVARI_EMBED_BATCH_TIMEOUT_SECS", default_value_t = 30)]
    pub embed_batch_timeout_secs: u64,
}
