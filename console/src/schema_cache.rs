//! The schema pages read an introspected snapshot of their database instead of the catalog
//! on every request: a full introspection of a large schema (hundreds of tables) takes far
//! longer than a page should. A snapshot younger than [`FRESH`] is served as is; an older one
//! is served while one background task reads a new one; past [`MAX_STALE`] the request waits
//! for the new one. A scan of the database drops its snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use javari_core::schema::{Catalog, Scope, introspect};
use sqlx::PgPool;

/// A snapshot this young is served without reading the catalog.
pub const FRESH: Duration = Duration::from_secs(15);
/// A snapshot older than this is not served: the request reads a new one.
pub const MAX_STALE: Duration = Duration::from_secs(10 * 60);
/// Databases whose snapshot is kept at once.
const MAX_SNAPSHOTS: usize = 8;

struct Snapshot {
    catalog: Arc<Catalog>,
    taken: Instant,
    refreshing: bool,
}

/// Snapshots by target key.
#[derive(Default)]
pub struct CatalogCache {
    snapshots: Mutex<HashMap<String, Snapshot>>,
}

impl CatalogCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Snapshot>> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, key: &str, catalog: Arc<Catalog>) {
        let mut snapshots = self.lock();
        if snapshots.len() >= MAX_SNAPSHOTS
            && !snapshots.contains_key(key)
            && let Some(oldest) = snapshots
                .iter()
                .min_by_key(|(_, s)| s.taken)
                .map(|(k, _)| k.clone())
        {
            snapshots.remove(&oldest);
        }
        snapshots.insert(
            key.to_owned(),
            Snapshot {
                catalog,
                taken: Instant::now(),
                refreshing: false,
            },
        );
    }

    /// The snapshot of the database `key` (reached through `pool`).
    pub async fn get(
        self: &Arc<Self>,
        key: &str,
        pool: &PgPool,
    ) -> Result<Arc<Catalog>, sqlx::Error> {
        {
            let mut snapshots = self.lock();
            if let Some(s) = snapshots.get_mut(key) {
                let age = s.taken.elapsed();
                if age < FRESH {
                    return Ok(s.catalog.clone());
                }
                if age < MAX_STALE {
                    if !s.refreshing {
                        s.refreshing = true;
                        let (cache, key, pool) = (self.clone(), key.to_owned(), pool.clone());
                        tokio::spawn(async move {
                            match introspect(&pool, &Scope::All).await {
                                Ok(c) => cache.store(&key, Arc::new(c)),
                                Err(e) => {
                                    tracing::warn!(target = %key, error = %e, "cannot refresh the schema snapshot");
                                    if let Some(s) = cache.lock().get_mut(&key) {
                                        s.refreshing = false;
                                    }
                                }
                            }
                        });
                    }
                    return Ok(s.catalog.clone());
                }
            }
        }
        let catalog = Arc::new(introspect(pool, &Scope::All).await?);
        self.store(key, catalog.clone());
        Ok(catalog)
    }

    /// Drops the snapshot of `key` (its database was just scanned or reconfigured).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}
