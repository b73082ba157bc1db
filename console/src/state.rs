use std::sync::Arc;

use javari_core::chat::{Gateway, ProviderDirectory};
use javari_core::vault::Vault;
use sqlx::PgPool;

use crate::auth::LoginLimiter;
use crate::chat::ChatStreams;
use crate::metrics::HttpMetrics;
use crate::settings::Settings;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub gateway: Gateway,
    pub directory: Arc<ProviderDirectory>,
    pub(crate) metrics: Arc<HttpMetrics>,
    pub(crate) login_limiter: Arc<LoginLimiter>,
    pub(crate) streams: ChatStreams,
    /// Slots for knowledge uploads and for embeddings requests.
    pub(crate) uploads: Arc<tokio::sync::Semaphore>,
    pub(crate) embeddings: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Default settings and no vault (providers without keys).
    pub fn new(db: PgPool) -> Self {
        Self::with_settings(db, Settings::default(), None)
    }

    pub fn with_settings(db: PgPool, settings: Settings, vault: Option<Vault>) -> Self {
        let directory = ProviderDirectory::new(db.clone(), vault, settings.providers_ttl);
        let uploads = Arc::new(tokio::sync::Semaphore::new(
            settings.upload_concurrency.max(1),
        ));
        let embeddings = Arc::new(tokio::sync::Semaphore::new(
            settings.embed_concurrency.max(1),
        ));
        Self {
            gateway: javari_core::chat::Gateway::new(settings.gateway.clone()),
            directory: Arc::new(directory),
            settings: Arc::new(settings),
            metrics: Arc::new(HttpMetrics::new()),
            login_limiter: Arc::new(LoginLimiter::default()),
            streams: ChatStreams::default(),
            uploads,
            embeddings,
            db,
        }
    }
}
