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
}
