//! What the console's behaviour depends on, apart from its connections.

use std::time::Duration;

use javari_core::chat::GatewayConfig;
use javari_core::crawl::FetchLimits;

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
    /// Extracted text is capped at this many times the upload (at least 1 MiB × this).
    pub upload_text_multiple: usize,
    /// What a PDF's compressed streams may expand to, in all.
    pub pdf_decoded_budget: usize,
    /// Uploads extracted, stored and embedded at once; more are answered 503.
    pub upload_concurrency: usize,
    /// Embedding requests to the provider at once (each a batch of chunks).
    pub embed_concurrency: usize,
    /// Chunks sent in one embeddings request.
    pub embed_batch: usize,
    /// Longest wait for one batch's vectors (a slot and the provider's answer).
    pub embed_batch_timeout: Duration,
    /// How long the provider list (and their keys) is used before a background reload
    /// (changes are also announced by PostgreSQL notifications).
    pub providers_ttl: Duration,
    /// Namespaces whose Providers chat and embeddings may use; a Provider anywhere else never
    /// receives a request. Empty: none (chat answers that no provider is available).
    pub trusted_namespaces: Vec<String>,
    /// Answers one user may have streaming at once in one console; more get 429.
    pub max_answers_in_flight_per_user: usize,
    /// Timeouts, retries and the answer limits (tokens, bytes, duration, SSE line, error body).
    pub gateway: GatewayConfig,
    /// Limits of every request the web crawler makes.
    pub crawl_limits: FetchLimits,
    /// Crawls started with "crawl now" running at once at most; more get a 503.
    pub max_concurrent_crawls: usize,
    /// How long the status page's figures (and badges) and its list of public components
    /// are reused before they are read again.
    pub status_cache_ttl: Duration,
    /// The admins' read-only SQL console: statement timeout, row limit, statement size.
    pub sql_console: javari_core::schema::sql_console::ConsoleLimits,
    /// Runbooks, the project URL verify steps check, incident notifications.
    pub incidents: IncidentSettings,
    /// Where schema scans of the platform's database get what the migrations produce (drift);
    /// `None`: scans do not compare with the migrations.
    pub schema_drift: Option<javari_core::schema::drift::DriftSource>,
}

/// Where runbooks come from and where incident notifications go.
#[derive(Clone, Debug)]
pub struct IncidentSettings {
    /// More runbooks (`*.md`) beside the built-in ones; every file must parse, or the
    /// console refuses to start.
    pub runbooks_dir: Option<std::path::PathBuf>,
    /// As the operator's `JAVARI_PROJECT_URL_TEMPLATE`: what a verify step checks for a
    /// Monitor with a projectRef.
    pub project_url_template: String,
    /// Slack-compatible webhook told when an incident is declared, acknowledged, changes
    /// severity or is resolved.
    pub webhook: Option<javari_core::incidents::Webhook>,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            runbooks_dir: None,
            project_url_template: javari_core::runbooks::DEFAULT_PROJECT_URL.to_owned(),
            webhook: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth: AuthSettings::default(),
            monthly_budget_usd: None,
            keep_last_messages: 20,
            max_json_bytes: 64 * 1024,
            max_upload_bytes: 10 * 1024 * 1024,
            providers_ttl: Duration::from_secs(60),
            trusted_namespaces: Vec::new(),
            max_answers_in_flight_per_user: 4,
            upload_text_multiple: javari_core::knowledge::TEXT_MULTIPLE,
            pdf_decoded_budget: javari_core::knowledge::PDF_DECODED_BUDGET,
            upload_concurrency: 2,
            embed_concurrency: 2,
            embed_batch: 64,
            embed_batch_timeout: Duration::from_secs(30),
            gateway: GatewayConfig::default(),
            crawl_limits: FetchLimits::default(),
            max_concurrent_crawls: 2,
            status_cache_ttl: Duration::from_secs(15),
            sql_console: Default::default(),
            incidents: IncidentSettings::default(),
            schema_drift: None,
        }
    }
}

impl Settings {
    /// The knowledge extraction limits these settings give.
    pub fn extract_limits(&self) -> javari_core::knowledge::ExtractLimits {
        javari_core::knowledge::ExtractLimits {
            max_upload_bytes: self.max_upload_bytes,
            text_multiple: self.upload_text_multiple,
            pdf_decoded_budget: self.pdf_decoded_budget,
        }
    }
}
