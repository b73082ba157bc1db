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
    /// PostgreSQL URL of the shared schema, as the runtime role (a member of
    /// `javari_runtime`: not the tables' owner, no BYPASSRLS), which every query runs as.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// PostgreSQL URL as the schema's owner, used only to apply the migrations at start;
    /// unset: they run over DATABASE_URL.
    #[arg(long, env = "JAVARI_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<String>,
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
    /// Namespaces whose Providers the console may send prompts, knowledge and uploads to
    /// (comma-separated; the chart sets its release namespace). Providers elsewhere are
    /// never used.
    #[arg(long, env = "JAVARI_TRUSTED_NAMESPACES", value_delimiter = ',')]
    pub trusted_namespaces: Vec<String>,
    /// Cookies without the `__Host-` prefix and `Secure`: only to serve plain HTTP on an
    /// address other than localhost (browsers accept Secure cookies over HTTPS and on
    /// http://localhost and http://127.0.0.1).
    #[arg(long, env = "JAVARI_INSECURE_COOKIES", default_value_t = false)]
    pub insecure_cookies: bool,
    /// Password verifications (argon2id, 19 MiB each) at once; more wait, then get 503.
    #[arg(long, env = "JAVARI_MAX_PASSWORD_CHECKS", default_value_t = 4)]
    pub max_password_checks: usize,
    /// Sign-ins that may wait for a password check slot (beyond: 503 with Retry-After).
    #[arg(long, env = "JAVARI_MAX_PASSWORD_WAITERS", default_value_t = 32)]
    pub max_password_waiters: usize,
    /// Proxies (comma-separated CIDRs or addresses) whose X-Forwarded-For names the client.
    #[arg(long, env = "JAVARI_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Failed sign-ins one client may make per 15 minutes (all accounts).
    #[arg(long, env = "JAVARI_SIGNIN_CLIENT_FAILURES", default_value_t = 30)]
    pub signin_client_failures: u32,
    /// Failed sign-ins one client may make for one account per 15 minutes.
    #[arg(long, env = "JAVARI_SIGNIN_ACCOUNT_FAILURES", default_value_t = 5)]
    pub signin_account_failures: u32,
    /// Admins must sign in with a second factor (TOTP); one without is sent to enrol.
    #[arg(long, env = "JAVARI_REQUIRE_ADMIN_MFA", default_value_t = false)]
    pub require_admin_mfa: bool,
    /// Longest lifetime of an API token, in days.
    #[arg(long, env = "JAVARI_MAX_TOKEN_DAYS", default_value_t = 365)]
    pub max_token_days: u32,
    /// When expired sessions and tokens are pruned (cron with seconds).
    #[arg(long, env = "JAVARI_PRUNE_SCHEDULE", default_value = "0 */10 * * * *")]
    pub prune_schedule: String,
    /// When health checks are rolled up into hourly and daily rows and pruned (cron with
    /// seconds; one replica at a time).
    #[arg(long, env = "JAVARI_ROLLUP_SCHEDULE", default_value = "0 */5 * * * *")]
    pub rollup_schedule: String,
    /// Seconds the status page, its badges and its list of public components are reused.
    #[arg(long, env = "JAVARI_STATUS_CACHE_SECONDS", default_value_t = 15)]
    pub status_cache_seconds: u64,
    /// Default monthly AI budget per user in US dollars (a user's preference overrides it).
    #[arg(long, env = "JAVARI_MONTHLY_BUDGET_USD")]
    pub monthly_budget_usd: Option<f64>,
    /// Crawl the web sources on their schedules from this process (replicas take turns
    /// through a PostgreSQL advisory lock).
    #[arg(long, env = "JAVARI_CRAWL_SCHEDULE", default_value_t = true, action = clap::ArgAction::Set)]
    pub crawl_schedule: bool,
    /// When to scan the database's schema for health findings (cron with seconds, UTC;
    /// replicas take turns through a PostgreSQL advisory lock); `off` for never.
    #[arg(long, env = "JAVARI_SCHEMA_SCAN_SCHEDULE", default_value = javari_core::schema::health::schedule::DEFAULT_SCHEDULE)]
    pub schema_scan_schedule: String,
    /// Least time between two crawler requests to one host, in milliseconds (a site's
    /// robots.txt Crawl-delay may ask for more).
    #[arg(long, env = "JAVARI_CRAWL_REQUEST_INTERVAL_MS", default_value_t = 1000)]
    pub crawl_request_interval_ms: u64,
    /// Crawls started with "crawl now" running at once at most.
    #[arg(long, env = "JAVARI_MAX_CONCURRENT_CRAWLS", default_value_t = 2)]
    pub max_concurrent_crawls: usize,
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
    /// The Kubernetes API: `auto` (in-cluster or KUBECONFIG when there is one, else none),
    /// `required` (refuse to start without it) or `off`.
    #[arg(long, env = "JAVARI_KUBE", default_value = "auto")]
    pub kube: crate::kube_client::KubeMode,
    /// A folder of more runbooks (`*.md`), added to the built-in ones (a file replaces the
    /// built-in runbook of its id); one that does not parse stops the start.
    #[arg(long, env = "JAVARI_RUNBOOKS_DIR")]
    pub runbooks_dir: Option<std::path::PathBuf>,
    /// What verify steps check for a Monitor with a projectRef (as the operator's).
    #[arg(long, env = "JAVARI_PROJECT_URL_TEMPLATE", default_value = javari_core::runbooks::DEFAULT_PROJECT_URL)]
    pub project_url_template: String,
    /// Slack-compatible webhook for incidents declared, acknowledged, re-graded, resolved.
    #[arg(long, env = "JAVARI_INCIDENT_WEBHOOK", hide_env_values = true)]
    pub incident_webhook: Option<String>,
    /// Tries per incident notification (5xx, 429 and connection failures are retried).
    #[arg(long, env = "JAVARI_INCIDENT_WEBHOOK_ATTEMPTS", default_value_t = 3)]
    pub incident_webhook_attempts: u32,
}
