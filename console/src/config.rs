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
    /// Namespaces whose Providers the console may send prompts, knowledge and uploads to
    /// (comma-separated; the chart sets its release namespace). Providers elsewhere are
    /// never used.
    #[arg(long, env = "JAVARI_TRUSTED_NAMESPACES", value_delimiter = ',')]
    pub trusted_namespaces: Vec<String>,
    /// Default monthly AI budget per user in US dollars (a user's preference overrides it).
    #[arg(long, env = "JAVARI_MONTHLY_BUDGET_USD")]
    pub monthly_budget_usd: Option<f64>,
    /// Crawl the web sources on their schedules from this process (replicas take turns
    /// through a PostgreSQL advisory lock).
    #[arg(long, env = "JAVARI_CRAWL_SCHEDULE", default_value_t = true, action = clap::ArgAction::Set)]
    pub crawl_schedule: bool,
    /// Least time between two crawler requests to one host, in milliseconds (a site's
    /// robots.txt Crawl-delay may ask for more).
    #[arg(long, env = "JAVARI_CRAWL_REQUEST_INTERVAL_MS", default_value_t = 1000)]
    pub crawl_request_interval_ms: u64,
    /// Crawls started with "crawl now" running at once at most.
    #[arg(long, env = "JAVARI_MAX_CONCURRENT_CRAWLS", default_value_t = 2)]
    pub max_concurrent_crawls: usize,
}
