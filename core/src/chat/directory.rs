//! The providers chat may route to, loaded from `javari_providers` / `javari_provider_models`
//! with their API keys from the vault, and a small TTL cache so a chat request hits neither
//! the database nor the vault (whose reads are audited) every time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use javari_crds::provider::{ProviderApi, ProviderHealth};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::error::DirectoryError;
use super::types::{ModelInfo, ProviderEntry};
use crate::vault::{SecretValue, Vault};

/// Vault actor and reason recorded for key reads.
const ACTOR: &str = "console";
const REASON: &str = "chat routing";

fn api(provider_type: &str) -> Option<ProviderApi> {
    match provider_type {
        "openai" => Some(ProviderApi::Openai),
        "anthropic" => Some(ProviderApi::Anthropic),
        "gemini" => Some(ProviderApi::Gemini),
        "openai-compatible" => Some(ProviderApi::OpenaiCompatible),
        _ => None,
    }
}

/// Current key version of `namespace/credential`, or `None` (logged) when it cannot be had.
async fn key(vault: &Vault, namespace: &str, credential: &str) -> Option<Arc<SecretValue>> {
    let stored = match vault.get(namespace, credential).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            tracing::warn!(credential = %format!("{namespace}/{credential}"), "provider credential not in the vault");
            return None;
        }
        Err(error) => {
            tracing::warn!(credential = %format!("{namespace}/{credential}"), %error, "looking up provider credential failed");
            return None;
        }
    };
    match vault.read(&stored, stored.version, ACTOR, REASON).await {
        Ok(value) => Some(Arc::new(value)),
        Err(error) => {
            tracing::warn!(credential = %stored.label(), %error, "reading provider credential failed");
            None
        }
    }
}

/// Enabled providers (by priority) from the `trusted` namespaces, with their enabled models
/// and keys. Providers anywhere else are never listed: whoever may create a Provider in an
/// untrusted namespace must not receive users' prompts, knowledge or uploads. A provider
/// whose key cannot be read stays listed without one: its calls fail with 401 and the
/// gateway falls back.
#[tracing::instrument(skip_all)]
pub async fn load_providers(
    pool: &PgPool,
    vault: Option<&Vault>,
    trusted: &[String],
) -> Result<Vec<ProviderEntry>, DirectoryError> {
    let rows = sqlx::query(
        "SELECT p.id, p.namespace, p.name, p.provider_type, p.endpoint, p.credential_name, p.priority, \
                p.health, p.rate_limit_rpm, m.model, m.input_cost_per_1k::float8 AS input_cost, \
                m.output_cost_per_1k::float8 AS output_cost, m.capabilities, m.context_window \
         FROM javari_providers p \
         LEFT JOIN javari_provider_models m ON m.provider_id = p.id AND m.enabled \
         WHERE p.enabled AND p.namespace = ANY($1) \
         ORDER BY p.priority, p.namespace, p.name, m.model",
    )
    .bind(trusted)
    .fetch_all(pool)
    .await?;
    let mut providers: Vec<(ProviderEntry, Option<String>)> = Vec::new();
    for row in rows {
        let id: Uuid = row.try_get("id")?;
        if providers.last().is_none_or(|(p, _)| p.id != id) {
            let namespace: String = row.try_get("namespace")?;
            let name: String = row.try_get("name")?;
            let provider_type: String = row.try_get("provider_type")?;
            let endpoint: Option<String> = row.try_get("endpoint")?;
            let (Some(api), Some(endpoint)) = (api(&provider_type), endpoint) else {
                tracing::warn!(provider = %format!("{namespace}/{name}"), %provider_type, "provider skipped: unknown type or no endpoint");
                continue;
            };
            providers.push((
                ProviderEntry {
                    id,
                    namespace,
                    name,
                    api,
                    endpoint,
                    api_key: None,
                    priority: row.try_get("priority")?,
                    health: ProviderHealth::from_db_text(row.try_get("health")?),
                    rate_limit_rpm: row.try_get("rate_limit_rpm")?,
                    models: Vec::new(),
                },
                row.try_get("credential_name")?,
            ));
        }
        let Some((provider, _)) = providers.last_mut().filter(|(p, _)| p.id == id) else {
            continue;
        };
        let model: Option<String> = row.try_get("model")?;
        if let Some(name) = model {
            provider.models.push(ModelInfo {
                name,
                input_cost_per_1k: row.try_get("input_cost")?,
                output_cost_per_1k: row.try_get("output_cost")?,
                // A capability this build does not know is left out, not guessed.
                capabilities: row
                    .try_get::<Vec<String>, _>("capabilities")?
                    .iter()
                    .filter_map(|c| c.parse().ok())
                    .collect(),
                context_window: row.try_get("context_window")?,
            });
        }
    }
    let mut entries = Vec::with_capacity(providers.len());
    for (mut provider, credential) in providers {
        if let (Some(vault), Some(credential)) = (vault, credential) {
            provider.api_key = key(vault, &provider.namespace, &credential).await;
        }
        entries.push(provider);
    }
    tracing::debug!(providers = entries.len(), "chat providers loaded");
    Ok(entries)
}

/// A loaded provider list and when it was loaded.
type Cached = Option<(Instant, Arc<Vec<ProviderEntry>>)>;

/// [`load_providers`] behind a cache that reloads after `ttl` or [`ProviderDirectory::invalidate`].
#[derive(Clone)]
pub struct ProviderDirectory {
    pool: PgPool,
    vault: Option<Vault>,
    ttl: Duration,
    trusted: Arc<[String]>,
    cache: Arc<Mutex<Cached>>,
    refreshing: Arc<std::sync::atomic::AtomicBool>,
}

impl ProviderDirectory {
    /// Routes only through Providers in the `trusted` namespaces.
    pub fn new(pool: PgPool, vault: Option<Vault>, ttl: Duration, trusted: &[String]) -> Self {
        Self {
            pool,
            vault,
            ttl,
            trusted: trusted.into(),
            cache: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    /// The cached list. Past its TTL (when the TTL is not zero) the cached list is still
    /// answered while a reload runs in the background, so no chat waits on the database;
    /// `javari_providers` notifications ([`ProviderDirectory::refresh`]) keep it current.
    pub async fn providers(&self) -> Result<Arc<Vec<ProviderEntry>>, DirectoryError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((loaded, providers)) = cache.as_ref() {
                if loaded.elapsed() < self.ttl {
                    return Ok(providers.clone());
                }
                if !self.ttl.is_zero() {
                    if !self
                        .refreshing
                        .swap(true, std::sync::atomic::Ordering::AcqRel)
                    {
                        let directory = self.clone();
                        tokio::spawn(async move {
                            if let Err(error) = directory.refresh().await {
                                tracing::warn!(%error, "reloading the providers failed");
                            }
                            directory
                                .refreshing
                                .store(false, std::sync::atomic::Ordering::Release);
                        });
                    }
                    return Ok(providers.clone());
                }
            }
        }
        self.refresh().await
    }

    /// Reloads the list now (a Provider changed).
    pub async fn refresh(&self) -> Result<Arc<Vec<ProviderEntry>>, DirectoryError> {
        let providers =
            Arc::new(load_providers(&self.pool, self.vault.as_ref(), &self.trusted).await?);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), providers.clone()));
        Ok(providers)
    }

    /// Forgets the cached list (after a Provider or credential changed).
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
