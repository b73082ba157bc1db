//! Credential rows and their versions in PostgreSQL. Every change is one transaction that
//! also writes its audit row, so the vault never holds a version nobody can account for.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::audit::{AuditAction, Record, record};
use super::{Keyring, Sealed, SecretValue, VaultError, open, seal};

/// Who acts on the vault, as written to the audit log (`operator`, `console:alice`, `cli`).
pub type Actor<'a> = &'a str;

/// Metadata of a credential in the vault (never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: Uuid,
    pub namespace: String,
    pub name: String,
    pub version: i32,
    pub last_rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The `rotate-now` request the last rotation answered, recorded in the same transaction
    /// so a crash between steps never rotates twice for one request.
    pub rotate_request: Option<String>,
}

impl StoredCredential {
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Descriptive fields of a new credential.
pub struct NewCredential<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub service: &'a str,
    pub credential_type: &'a str,
    pub source: &'a str,
}

#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    keys: Arc<Keyring>,
}

/// The columns of a [`StoredCredential`], for SELECT and RETURNING clauses.
macro_rules! stored_columns {
    () => {
        "id, namespace, name, current_version, last_rotated_at, created_at, metadata->>'rotate_request' AS rotate_request"
    };
}

fn from_row(row: &sqlx::postgres::PgRow) -> Result<StoredCredential, sqlx::Error> {
    Ok(StoredCredential {
        id: row.try_get("id")?,
        namespace: row.try_get("namespace")?,
        name: row.try_get("name")?,
        version: row.try_get("current_version")?,
        last_rotated_at: row.try_get("last_rotated_at")?,
        created_at: row.try_get("created_at")?,
        rotate_request: row.try_get("rotate_request")?,
    })
}

impl Vault {
    pub fn new(pool: PgPool, keys: Arc<Keyring>) -> Self {
        Self { pool, keys }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Refuses to start when rows were sealed under a key that is not configured: with the
    /// wrong key the operator would fail every read (and must change nothing).
    pub async fn verify_keys(&self) -> Result<(), VaultError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT key_id FROM javari_credentials UNION SELECT key_id FROM javari_credential_snapshots",
        )
        .fetch_all(&self.pool)
        .await?;
        let unknown: Vec<String> = ids
            .into_iter()
            .filter(|id| self.keys.find(id).is_none())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let old = self.keys.old_ids();
        Err(VaultError::KeyMismatch {
            unknown: unknown.join(", "),
            current: self.keys.current().id().to_owned(),
            old: if old.is_empty() {
                String::new()
            } else {
                format!(" and JAVARI_MASTER_KEYS_OLD has {}", old.join(", "))
            },
        })
    }

    pub async fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredCredential>, VaultError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            stored_columns!(),
            " FROM javari_credentials WHERE namespace = $1 AND name = $2"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Stores version 1 of a new credential.
    pub async fn create(
        &self,
        new: NewCredential<'_>,
        value: &SecretValue,
        actor: Actor<'_>,
        reason: &str,
    ) -> Result<StoredCredential, VaultError> {
        let id = Uuid::new_v4();
        let sealed = seal(self.keys.current(), id, 1, value)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO javari_credentials (id, namespace, name, service_name, credential_type, source, current_version, \
             encrypted_value, nonce, key_id, last_rotated_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, now(), $10) \
             RETURNING ",
            stored_columns!()
        ))
        .bind(id)
        .bind(new.namespace)
        .bind(new.name)
        .bind(new.service)
        .bind(new.credential_type)
        .bind(new.source)
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce[..])
        .bind(&sealed.key_id)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        insert_snapshot(&mut tx, id, 1, &sealed).await?;
        let action = if new.source == "secretRef" {
            AuditAction::Import
        } else {
            AuditAction::Create
        };
        record(
            &mut *tx,
            Record {
                credential_id: Some(id),
                namespace: new.namespace,
                name: new.name,
                actor,
                action,
                version: Some(1),
                reason,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(from_row(&row)?)
    }

    /// Stores `value` as the next version. Fails with `Conflict` if someone rotated first.
    pub async fn rotate(
        &self,
        current: &StoredCredential,
        value: &SecretValue,
        rotate_request: Option<&str>,
        actor: Actor<'_>,
        reason: &str,
    ) -> Result<StoredCredential, VaultError> {
        let next = current.version + 1;
        let sealed = seal(self.keys.current(), current.id, next, value)?;
        let mut tx = self.pool.begin().await?;
        let found: i32 = sqlx::query_scalar(
            "SELECT current_version FROM javari_credentials WHERE id = $1 FOR UPDATE",
        )
        .bind(current.id)
        .fetch_one(&mut *tx)
        .await?;
        if found != current.version {
            return Err(VaultError::Conflict {
                credential: current.label(),
                expected: current.version,
                found,
            });
        }
        insert_snapshot(&mut tx, current.id, next, &sealed).await?;
        let row = sqlx::query(concat!(
            "UPDATE javari_credentials SET current_version = $2, encrypted_value = $3, nonce = $4, key_id = $5, \
             last_rotated_at = now(), status = 'active', \
             metadata = CASE WHEN $6::text IS NULL THEN metadata ELSE jsonb_set(metadata, '{rotate_request}', to_jsonb($6::text)) END \
             WHERE id = $1 \
             RETURNING ",
            stored_columns!()
        ))
        .bind(current.id)
        .bind(next)
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce[..])
        .bind(&sealed.key_id)
        .bind(rotate_request)
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut *tx,
            Record {
                credential_id: Some(current.id),
                namespace: &current.namespace,
                name: &current.name,
                actor,
                action: AuditAction::Rotate,
                version: Some(next),
                reason,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(from_row(&row)?)
    }

    /// Records that `request` (a rotate-now annotation value) has been answered.
    pub async fn mark_rotate_request(
        &self,
        credential: &StoredCredential,
        request: &str,
    ) -> Result<StoredCredential, VaultError> {
        let row = sqlx::query(concat!(
            "UPDATE javari_credentials SET metadata = jsonb_set(metadata, '{rotate_request}', to_jsonb($2::text)) WHERE id = $1 \
             RETURNING ",
            stored_columns!()
        ))
        .bind(credential.id)
        .bind(request)
        .fetch_one(&self.pool)
        .await?;
        Ok(from_row(&row)?)
    }

    /// Decrypts one version; every read is audited.
    pub async fn read(
        &self,
        credential: &StoredCredential,
        version: i32,
        actor: Actor<'_>,
        reason: &str,
    ) -> Result<SecretValue, VaultError> {
        let row = sqlx::query("SELECT encrypted_value, nonce, key_id FROM javari_credential_snapshots WHERE credential_id = $1 AND version = $2")
            .bind(credential.id)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| VaultError::MissingVersion { credential: credential.label(), version })?;
        let nonce: Vec<u8> = row.try_get("nonce")?;
        let sealed = Sealed {
            ciphertext: row.try_get("encrypted_value")?,
            nonce: nonce
                .as_slice()
                .try_into()
                .map_err(|_| VaultError::Decrypt {
                    credential: credential.label(),
                    version,
                })?,
            key_id: row.try_get("key_id")?,
        };
        let value = open(
            &self.keys,
            &credential.label(),
            credential.id,
            version,
            &sealed,
        )?;
        record(
            &self.pool,
            Record {
                credential_id: Some(credential.id),
                namespace: &credential.namespace,
                name: &credential.name,
                actor,
                action: AuditAction::Decrypt,
                version: Some(version),
                reason,
            },
        )
        .await?;
        Ok(value)
    }

    /// Whether a version is still in the vault.
    pub async fn has_version(
        &self,
        credential: &StoredCredential,
        version: i32,
    ) -> Result<bool, VaultError> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM javari_credential_snapshots WHERE credential_id = $1 AND version = $2)")
            .bind(credential.id)
            .bind(version)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Keeps the newest `keep` versions (never fewer than the current and previous one).
    pub async fn prune(&self, credential: &StoredCredential, keep: i32) -> Result<u64, VaultError> {
        let floor = credential.version - keep.max(2) + 1;
        let done = sqlx::query(
            "DELETE FROM javari_credential_snapshots WHERE credential_id = $1 AND version < $2",
        )
        .bind(credential.id)
        .bind(floor)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Removes a credential and its versions; the audit rows stay.
    pub async fn delete(
        &self,
        namespace: &str,
        name: &str,
        actor: Actor<'_>,
        reason: &str,
    ) -> Result<bool, VaultError> {
        let mut tx = self.pool.begin().await?;
        let deleted: Option<(Uuid, i32)> =
            sqlx::query_as("DELETE FROM javari_credentials WHERE namespace = $1 AND name = $2 RETURNING id, current_version")
                .bind(namespace)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((_, version)) = deleted {
            record(
                &mut *tx,
                Record {
                    credential_id: None,
                    namespace,
                    name,
                    actor,
                    action: AuditAction::Delete,
                    version: Some(version),
                    reason,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted.is_some())
    }
}

async fn insert_snapshot(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    version: i32,
    sealed: &Sealed,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO javari_credential_snapshots (credential_id, version, encrypted_value, nonce, key_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(version)
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce[..])
        .bind(&sealed.key_id)
        .execute(tx)
        .await?;
    Ok(())
}
