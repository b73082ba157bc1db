//! The databases other than the platform's that the schema pages can look at: connections an
//! admin configured (their `postgres://` URL sealed under the master key in
//! `javari_schema_connections`, never shown back) and the databases BackupPolicies point at
//! (the URL in the policy's connection Secret, read through the Kubernetes API).
//!
//! A URL only ever lives in a [`SecretValue`]; errors name the target, never the URL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use javari_crds::BackupPolicy;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::target::{Target, is_dns_label};
use crate::vault::{Keyring, Sealed, SecretValue, VaultError, open_for, seal_for};

/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Most connections configured.
pub const MAX_CONNECTIONS: i64 = 50;
/// How long connecting to a target may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(
        "a connection name is 1–63 lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    InvalidName,
    #[error(
        "the connection is not a valid postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE, at most 2048 bytes)"
    )]
    InvalidUrl,
    #[error("at most {MAX_CONNECTIONS} connections can be configured")]
    TooMany,
    #[error("configured connections need the master key (JAVARI_MASTER_KEY) to seal their URL")]
    NoMasterKey,
    #[error("no connection named {0}")]
    NotFound(String),
    #[error("reading {target} needs the console's Kubernetes API, which is not available")]
    NoCluster { target: String },
    #[error("{target}: {message}")]
    Kubernetes { target: String, message: String },
    #[error("cannot connect to the database of {target}: {message}")]
    Connect { target: String, message: String },
    #[error("the stored connection {0} cannot be opened (sealed under another master key?)")]
    Vault(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A configured connection as the pages list it: no URL.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct ConnectionInfo {
    pub name: String,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
}

fn context(name: &str) -> String {
    format!("javari.ai/schema-connection/v1:{name}")
}

/// The connect options of a `postgres://` URL, without saying what was wrong with it (the
/// parser's messages may quote the URL).
pub fn parse_url(url: &SecretValue) -> Result<PgConnectOptions, ConnectionError> {
    let text = std::str::from_utf8(url.expose()).map_err(|_| ConnectionError::InvalidUrl)?;
    let text = text.trim();
    if text.len() > MAX_URL_BYTES
        || !(text.starts_with("postgres://") || text.starts_with("postgresql://"))
    {
        return Err(ConnectionError::InvalidUrl);
    }
    text.parse().map_err(|_| ConnectionError::InvalidUrl)
}

/// Stores (or replaces) the connection `name`, its URL sealed under the current master key.
pub async fn save(
    pool: &PgPool,
    keys: Option<&Keyring>,
    name: &str,
    url: &SecretValue,
    created_by: &str,
) -> Result<(), ConnectionError> {
    if !is_dns_label(name) {
        return Err(ConnectionError::InvalidName);
    }
    parse_url(url)?;
    let keys = keys.ok_or(ConnectionError::NoMasterKey)?;
    let trimmed = SecretValue::new(
        std::str::from_utf8(url.expose())
            .map_err(|_| ConnectionError::InvalidUrl)?
            .trim()
            .as_bytes()
            .to_vec(),
    );
    let sealed = seal_for(keys.current(), &context(name), &trimmed)
        .map_err(|_| ConnectionError::Vault(name.to_owned()))?;
    let mut tx = pool.begin().await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM javari_schema_connections WHERE name <> $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_CONNECTIONS {
        return Err(ConnectionError::TooMany);
    }
    sqlx::query(
        "INSERT INTO javari_schema_connections (name, url_ciphertext, url_nonce, key_id, created_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET url_ciphertext = EXCLUDED.url_ciphertext,
             url_nonce = EXCLUDED.url_nonce, key_id = EXCLUDED.key_id,
             created_by = EXCLUDED.created_by, updated_at = now()",
    )
    .bind(name)
    .bind(&sealed.ciphertext)
    .bind(sealed.nonce.as_slice())
    .bind(&sealed.key_id)
    .bind(created_by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The configured connections, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<ConnectionInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, created_by, updated_at FROM javari_schema_connections ORDER BY name LIMIT $1",
    )
    .bind(MAX_CONNECTIONS)
    .fetch_all(pool)
    .await
}

/// Removes a connection (its scans and suppressions stay, under its target key).
pub async fn delete(pool: &PgPool, name: &str) -> Result<(), ConnectionError> {
    let done = sqlx::query("DELETE FROM javari_schema_connections WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ConnectionError::NotFound(name.to_owned()));
    }
    Ok(())
}

/// The URL of the connection `name`, opened with the master keys.
pub async fn url(
    pool: &PgPool,
    keys: Option<&Keyring>,
    name: &str,
) -> Result<SecretValue, ConnectionError> {
    let keys = keys.ok_or(ConnectionError::NoMasterKey)?;
    let row: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
        "SELECT url_ciphertext, url_nonce, key_id FROM javari_schema_connections WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let (ciphertext, nonce, key_id) =
        row.ok_or_else(|| ConnectionError::NotFound(name.to_owned()))?;
    let nonce: [u8; 12] = nonce
        .as_slice()
        .try_into()
        .map_err(|_| ConnectionError::Vault(name.to_owned()))?;
    let sealed = Sealed {
        ciphertext,
        nonce,
        key_id,
    };
    open_for(keys, &context(name), &sealed).map_err(|e: VaultError| {
        tracing::warn!(connection = %name, error = %e, "cannot open a schema connection");
        ConnectionError::Vault(name.to_owned())
    })
}

/// The URL of the database BackupPolicy `namespace/name` backs up: `None` when it backs up
/// the platform's own database (no `spec.database`). Reads the policy and its connection
/// Secret through `client` (the console's ServiceAccount may get both).
pub async fn backup_policy_url(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<SecretValue>, ConnectionError> {
    let target = format!("BackupPolicy {namespace}/{name}");
    let kube_error = |what: &str, e: kube::Error| {
        let message = match &e {
            kube::Error::Api(s) if s.code == 404 => format!("{what} not found"),
            kube::Error::Api(s) if s.code == 403 => {
                format!("the console may not read {what} (RBAC)")
            }
            _ => format!("cannot read {what}: {e}"),
        };
        ConnectionError::Kubernetes {
            target: target.clone(),
            message,
        }
    };
    let policy = Api::<BackupPolicy>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| kube_error("the BackupPolicy", e))?;
    let Some(source) = policy.spec.database else {
        return Ok(None);
    };
    let secret_ref = source.secret_ref;
    let what = format!("Secret {}", secret_ref.name);
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(&secret_ref.name)
        .await
        .map_err(|e| kube_error(&what, e))?;
    let value = secret
        .data
        .and_then(|mut d| d.remove(&secret_ref.key))
        .ok_or_else(|| ConnectionError::Kubernetes {
            target: target.clone(),
            message: format!("{what} has no key {}", secret_ref.key),
        })?;
    Ok(Some(SecretValue::new(value.0)))
}

/// BackupPolicies that back up a database of their own (`spec.database` set), as targets.
pub async fn backup_policy_targets(client: &kube::Client) -> Result<Vec<Target>, kube::Error> {
    let list = Api::<BackupPolicy>::all(client.clone())
        .list(&Default::default())
        .await?;
    let mut out: Vec<Target> = list
        .items
        .into_iter()
        .filter(|p| p.spec.database.is_some())
        .filter_map(|p| {
            Some(Target::BackupPolicy {
                namespace: p.metadata.namespace?,
                name: p.metadata.name?,
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A small pool on the database at `url`; the error names `target`, never the URL (nor its
/// password, even when the server's message would quote it).
pub async fn connect(url: &SecretValue, target: &Target) -> Result<PgPool, ConnectionError> {
    let options = parse_url(url)?;
    let password = url::Url::parse(std::str::from_utf8(url.expose()).unwrap_or_default().trim())
        .ok()
        .and_then(|u| u.password().map(str::to_owned));
    PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .acquire_timeout(CONNECT_TIMEOUT)
        .idle_timeout(Duration::from_secs(60))
        .connect_with(options)
        .await
        .map_err(|e| {
            let mut message = e.to_string();
            if let Some(p) = password.as_deref().filter(|p| !p.is_empty()) {
                message = message.replace(p, "***");
            }
            ConnectionError::Connect {
                target: target.label(),
                message,
            }
        })
}
