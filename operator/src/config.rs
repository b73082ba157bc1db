//! Command-line flags and their environment variables.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use javari_core::telemetry::LogFormat;

/// The Kubernetes connection comes from `KUBECONFIG`, `~/.kube/config` or the in-cluster
/// service account, in that order.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "javari-operator",
    version,
    about = "Reconciles Javari resources"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Re-encrypt every vault row under JAVARI_MASTER_KEY (rows sealed with a key listed in
    /// JAVARI_MASTER_KEYS_OLD), in batches; safe to interrupt and run again.
    Rewrap {
        #[arg(long, default_value_t = 100)]
        batch_size: i64,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// PostgreSQL URL of the shared schema, as the runtime role (a member of
    /// `javari_runtime`: not the tables' owner, no BYPASSRLS), which every query runs as.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// PostgreSQL URL as the schema's owner, used only to apply the migrations at start;
    /// unset: they run over DATABASE_URL.
    #[arg(long, env = "JAVARI_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<String>,
    /// Vault master key: 32 bytes as hex or base64 (`openssl rand -hex 32`).
    #[arg(long, env = "JAVARI_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Retired master keys, comma-separated, for reading rows not yet rewrapped.
    #[arg(long, env = "JAVARI_MASTER_KEYS_OLD", hide_env_values = true)]
    pub master_keys_old: Option<String>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "JAVARI_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "JAVARI_GITHUB_API_URL", default_value = javari_core::github::DEFAULT_API_URL)]
    pub github_api_url: String,
    /// Where Monitors with a projectRef send checks ({name}, {namespace}, {path}).
    #[arg(long, env = "JAVARI_PROJECT_URL_TEMPLATE", default_value = crate::context::DEFAULT_PROJECT_URL)]
    pub project_url_template: String,
    /// Elect one active replica with a Lease (turn off only for a single local process).
    #[arg(long, env = "JAVARI_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// How long a leader's Lease lasts without renewal, in seconds.
    #[arg(long, env = "JAVARI_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(long, env = "JAVARI_OPERATOR_LISTEN", default_value = "0.0.0.0:8081")]
    pub listen: SocketAddr,
    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// `text` or `json`.
    #[arg(long, env = "JAVARI_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Directory of backups whose BackupPolicy sets no destination (`file://` store).
    #[arg(long, env = "JAVARI_BACKUP_DIR", default_value = ".javari/backups")]
    pub backup_dir: std::path::PathBuf,
    /// Backups and drills run at once (the rest wait their turn).
    #[arg(long, env = "JAVARI_BACKUP_CONCURRENCY", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub backup_concurrency: u32,
    /// Reconciles each controller runs at once (the rest wait in its queue); bounds the
    /// apiserver connections and the memory they hold.
    #[arg(long, env = "JAVARI_RECONCILE_CONCURRENCY", default_value_t = crate::context::DEFAULT_RECONCILE_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub reconcile_concurrency: u16,
    /// Database connections in the pool.
    #[arg(long, env = "JAVARI_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}
