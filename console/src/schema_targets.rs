//! The database a schema page or scan looks at (`?db=`): the platform's own pool, or a small
//! pool on the database of a BackupPolicy or of a configured connection, kept for a minute so
//! following links does not reconnect each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use javari_core::schema::Target;
use javari_core::schema::connections::{self, ConnectionError};
use sqlx::PgPool;

use crate::AppState;
use crate::auth::{Role, User};
use crate::error::ApiError;

/// How long a pool on another database is reused.
const POOL_TTL: Duration = Duration::from_secs(60);
/// Pools on other databases kept at once.
const MAX_POOLS: usize = 16;

/// Pools on other databases, by target key.
#[derive(Default)]
pub struct TargetPools {
    pools: Mutex<HashMap<String, (PgPool, Instant)>>,
}

impl TargetPools {
    fn get(&self, key: &str) -> Option<PgPool> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .get(key)
            .filter(|(_, at)| at.elapsed() < POOL_TTL)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, key: String, pool: PgPool) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|_, (p, at)| {
            let keep = at.elapsed() < POOL_TTL;
            if !keep {
                let p = p.clone();
                tokio::spawn(async move { p.close().await });
            }
            keep
        });
        if pools.len() >= MAX_POOLS
            && let Some(oldest) = pools
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            && let Some((p, _)) = pools.remove(&oldest)
        {
            tokio::spawn(async move { p.close().await });
        }
        pools.insert(key, (pool, Instant::now()));
    }

    /// Forgets the pool of `key` (its connection changed or was removed).
    pub fn forget(&self, key: &str) {
        let removed = self
            .pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some((p, _)) = removed {
            tokio::spawn(async move { p.close().await });
        }
    }
}

/// The error of a target as an answer; messages name the target, never its URL.
pub fn connection_error(e: ConnectionError) -> ApiError {
    match e {
        ConnectionError::InvalidName | ConnectionError::InvalidUrl | ConnectionError::TooMany => {
            ApiError::bad_request(e.to_string())
        }
        ConnectionError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        ConnectionError::NoMasterKey | ConnectionError::NoCluster { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        ConnectionError::Kubernetes { .. }
        | ConnectionError::Connect { .. }
        | ConnectionError::Vault(_) => {
            tracing::warn!(error = %e, "schema target unavailable");
            ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())
        }
        ConnectionError::Database(e) => ApiError::internal("reading the connections failed", e),
    }
}

/// The target named by `?db=` (empty: the platform's). Only admins look at other databases.
pub fn parse(user: &User, db: Option<&str>) -> Result<Target, ApiError> {
    let target =
        Target::parse(db.unwrap_or_default()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !target.is_platform() && user.role < Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only admins look at databases other than the platform's",
        ));
    }
    Ok(target)
}

/// A pool on `target`'s database.
pub async fn pool(state: &AppState, target: &Target) -> Result<PgPool, ApiError> {
    let url = match target {
        Target::Platform => return Ok(state.db.clone()),
        Target::Connection { name } => {
            if let Some(p) = state.schema_pools.get(&target.key()) {
                return Ok(p);
            }
            connections::url(&state.db, state.auth.keys(), name)
                .await
                .map_err(connection_error)?
        }
        Target::BackupPolicy { namespace, name } => {
            if let Some(p) = state.schema_pools.get(&target.key()) {
                return Ok(p);
            }
            let client = state.kube.as_ref().ok_or_else(|| {
                connection_error(ConnectionError::NoCluster {
                    target: target.label(),
                })
            })?;
            match connections::backup_policy_url(client, namespace, name)
                .await
                .map_err(connection_error)?
            {
                Some(url) => url,
                // The policy backs up the platform's own database.
                None => return Ok(state.db.clone()),
            }
        }
    };
    let pool = connections::connect(&url, target)
        .await
        .map_err(connection_error)?;
    state.schema_pools.put(target.key(), pool.clone());
    Ok(pool)
}

/// What the target picker offers an admin: the platform, the configured connections and the
/// BackupPolicies with a database of their own; and a note when some could not be listed.
pub async fn choices(state: &AppState) -> (Vec<Target>, String) {
    let mut out = vec![Target::Platform];
    let mut note = Vec::new();
    if let Some(client) = &state.kube {
        match connections::backup_policy_targets(client).await {
            Ok(list) => out.extend(list),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list BackupPolicies for the schema pages");
                note.push("BackupPolicies could not be listed (see the console's log)");
            }
        }
    }
    match connections::list(&state.db).await {
        Ok(list) => out.extend(
            list.into_iter()
                .map(|c| Target::Connection { name: c.name }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the schema connections");
            note.push("connections could not be listed (see the console's log)");
        }
    }
    (out, note.join("; "))
}
