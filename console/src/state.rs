use std::sync::Arc;

use javari_core::chat::{ChatService, ChatSettings, Gateway, ProviderDirectory};
use javari_core::runbooks::{Catalogue, Playbooks};
use javari_core::vault::Vault;
use sqlx::PgPool;

use crate::auth::AuthState;
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
    /// The chat exchange (core); handlers only translate it to HTTP.
    pub chat: ChatService,
    /// Slots for crawls started from the console ("crawl now").
    pub(crate) crawl_slots: Arc<tokio::sync::Semaphore>,
    /// Slots for knowledge uploads and for embeddings requests.
    pub(crate) uploads: Arc<tokio::sync::Semaphore>,
    pub(crate) embeddings: Arc<tokio::sync::Semaphore>,
    /// The Kubernetes API (Javari resources, their Events, actions through annotations);
    /// `None` when the console runs without a cluster.
    pub kube: Option<kube::Client>,
    /// The vault (external Credentials' values are set into it; its master keys open backups'
    /// data keys for restores); `None` without a key.
    pub(crate) vault: Option<Vault>,
    /// Monitors, Projects, Credentials and Providers kept in memory by watching (with `kube`).
    pub(crate) watched: Option<Arc<crate::platform::WatchedKinds>>,
    /// The status page's public components and its figures, cached for a few seconds.
    pub(crate) public: Arc<crate::platform::PublicComponents>,
    pub(crate) status: Arc<crate::status_page::StatusCache>,
    /// Every Monitor's trend per hour, kept between page views (rollup sums, raw tail).
    pub(crate) fleet: Arc<javari_core::history::FleetTrend>,
    /// Runbooks, their step executor and incident notifications.
    pub playbooks: Arc<Playbooks>,
    /// Pools on the other databases the schema pages look at (BackupPolicies, connections).
    pub(crate) schema_pools: Arc<crate::schema_targets::TargetPools>,
    /// Introspected snapshots the schema pages read, by database.
    pub(crate) schema_catalogs: Arc<crate::schema_cache::CatalogCache>,
    /// Slots for restores started from the console.
    pub(crate) restores: Arc<tokio::sync::Semaphore>,
    /// Chat fallbacks and truncations per Provider per day not yet written.
    pub provider_days: Arc<javari_core::providers::ProviderDayTally>,
}

impl AppState {
    /// Default settings and no vault (providers without keys).
    pub fn new(db: PgPool) -> Self {
        Self::with_settings(db, Settings::default(), None)
    }

    pub fn with_settings(db: PgPool, settings: Settings, vault: Option<Vault>) -> Self {
        let auth = AuthState::new(db.clone(), settings.auth.clone(), vault.clone());
        let restores = Arc::new(tokio::sync::Semaphore::new(
            settings.backups.max_concurrent_restores.max(1),
        ));
        let console_vault = vault.clone();
        let directory = Arc::new(ProviderDirectory::new(
            db.clone(),
            vault,
            settings.providers_ttl,
            &settings.trusted_namespaces,
        ));
        let crawl_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_crawls));
        let gateway = Gateway::new(settings.gateway.clone());
        let metrics = Arc::new(HttpMetrics::new());
        let provider_days = Arc::new(javari_core::providers::ProviderDayTally::new());
        crate::chat::spawn_provider_days_flush(db.clone(), &provider_days);
        let chat = ChatService::new(
            db.clone(),
            directory.clone(),
            gateway.clone(),
            ChatSettings {
                keep_last_messages: settings.keep_last_messages,
                monthly_budget_usd: settings.monthly_budget_usd,
                max_answers_in_flight_per_user: settings.max_answers_in_flight_per_user,
                ..ChatSettings::default()
            },
            Arc::new(crate::chat::ChatOutcomes {
                metrics: metrics.clone(),
                days: provider_days.clone(),
            }),
        );
        let uploads = Arc::new(tokio::sync::Semaphore::new(
            settings.upload_concurrency.max(1),
        ));
        let embeddings = Arc::new(tokio::sync::Semaphore::new(
            settings.embed_concurrency.max(1),
        ));
        let status_ttl = settings.status_cache_ttl;
        let runbooks = Catalogue::builtin_and(settings.incidents.runbooks_dir.as_deref())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "runbooks not loaded");
                Catalogue::default()
            });
        let playbooks = Arc::new(Playbooks::new(
            runbooks,
            None,
            &settings.incidents.project_url_template,
            settings.incidents.webhook.clone(),
        ));
        Self {
            restores,
            playbooks,
            gateway,
            directory,
            settings: Arc::new(settings),
            metrics,
            auth: Arc::new(auth),
            chat,
            crawl_slots,
            uploads,
            embeddings,
            kube: None,
            vault: console_vault,
            watched: None,
            public: Arc::new(crate::platform::PublicComponents::new(status_ttl)),
            status: Arc::new(crate::status_page::StatusCache::new(status_ttl)),
            fleet: Arc::new(javari_core::history::FleetTrend::new(
                javari_core::history::Retention::default().settle,
            )),
            schema_pools: Arc::default(),
            schema_catalogs: Arc::default(),
            provider_days,
            db,
        }
    }

    /// The same state, acting on the cluster through `client`.
    pub fn with_kube(mut self, client: kube::Client) -> Self {
        self.playbooks = Arc::new(self.playbooks.with_client(client.clone()));
        self.watched = crate::platform::WatchedKinds::start(&client).map(Arc::new);
        self.kube = Some(client);
        self
    }
}
