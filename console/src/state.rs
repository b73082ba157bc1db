use std::sync::Arc;

use javari_core::chat::{Gateway, ProviderDirectory};
use javari_core::vault::Vault;
use sqlx::PgPool;

use crate::auth::AuthState;
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
    /// Sign-in limits, the session and token cache, second-factor keys.
    pub auth: Arc<AuthState>,
    pub(crate) streams: ChatStreams,
    /// Slots for crawls started from the console ("crawl now").
    pub(crate) crawl_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Default settings and no vault (providers without keys).
    pub fn new(db: PgPool) -> Self {
        Self::with_settings(db, Settings::default(), None)
    }

    pub fn with_settings(db: PgPool, settings: Settings, vault: Option<Vault>) -> Self {
        let auth = AuthState::new(db.clone(), settings.auth.clone(), vault.clone());
        let directory = ProviderDirectory::new(
            db.clone(),
            vault,
            settings.providers_ttl,
            &settings.trusted_namespaces,
        );
        let crawl_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_crawls));
        Self {
            gateway: javari_core::chat::Gateway::new(settings.gateway.clone()),
            directory: Arc::new(directory),
            settings: Arc::new(settings),
            metrics: Arc::new(HttpMetrics::new()),
            auth: Arc::new(auth),
            streams: ChatStreams::default(),
            crawl_slots,
            db,
        }
    }
}
