//! Re-encrypts every stored version under the current master key, in batches. Each batch is
//! one transaction, so an interrupted rewrap leaves every row readable (old rows keep their
//! old key id) and a second run picks up where the first stopped.

use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::audit::{AuditAction, Record, record};
use super::{Actor, Keyring, Sealed, VaultError, open, seal};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Versions (snapshots) re-encrypted.
    pub versions: u64,
    /// Credential rows (current values) re-encrypted.
    pub credentials: u64,
    pub batches: u64,
}

pub async fn rewrap(
    pool: &PgPool,
    keys: &Keyring,
    batch_size: i64,
    actor: Actor<'_>,
) -> Result<RewrapReport, VaultError> {
    let mut report = RewrapReport::default();
    loop {
        let (versions, credentials) = rewrap_batch(pool, keys, batch_size.max(1), actor).await?;
        if versions + credentials == 0 {
            return Ok(report);
        }
        report.versions += versions;
        report.credentials += credentials;
        report.batches += 1;
    }
}

async fn rewrap_batch(
    pool: &PgPool,
    keys: &Keyring,
    limit: i64,
    actor: Actor<'_>,
) -> Result<(u64, u64), VaultError> {
    let current = keys.current();
    let mut tx = pool.begin().await?;
    let snapshots = sqlx::query(
        "SELECT s.id AS row_id, s.credential_id, s.version, s.encrypted_value, s.nonce, s.key_id, c.namespace, c.name \
         FROM javari_credential_snapshots s JOIN javari_credentials c ON c.id = s.credential_id \
         WHERE s.key_id <> $1 ORDER BY s.id LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
    )
    .bind(current.id())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for row in &snapshots {
        let (credential_id, version, namespace, name, sealed) = read_row(row)?;
        let label = format!("{namespace}/{name}");
        let value = open(keys, &label, credential_id, version, &sealed)?;
        let resealed = seal(current, credential_id, version, &value)?;
        let row_id: Uuid = row.try_get("row_id")?;
        sqlx::query("UPDATE javari_credential_snapshots SET encrypted_value = $2, nonce = $3, key_id = $4 WHERE id = $1")
            .bind(row_id)
            .bind(&resealed.ciphertext)
            .bind(&resealed.nonce[..])
            .bind(&resealed.key_id)
            .execute(&mut *tx)
            .await?;
        let reason = format!(
            "rewrapped from key {} to {}",
            sealed.key_id, resealed.key_id
        );
        let entry = Record {
            credential_id: Some(credential_id),
            namespace: &namespace,
            name: &name,
            actor,
            action: AuditAction::Rewrap,
            version: Some(version),
            reason: &reason,
        };
        record(&mut *tx, entry).await?;
    }
    let credentials = sqlx::query(
        "SELECT id AS credential_id, current_version AS version, encrypted_value, nonce, key_id, namespace, name \
         FROM javari_credentials WHERE key_id <> $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(current.id())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for row in &credentials {
        let (credential_id, version, namespace, name, sealed) = read_row(row)?;
        let value = open(
            keys,
            &format!("{namespace}/{name}"),
            credential_id,
            version,
            &sealed,
        )?;
        let resealed = seal(current, credential_id, version, &value)?;
        sqlx::query("UPDATE javari_credentials SET encrypted_value = $2, nonce = $3, key_id = $4 WHERE id = $1")
            .bind(credential_id)
            .bind(&resealed.ciphertext)
            .bind(&resealed.nonce[..])
            .bind(&resealed.key_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((snapshots.len() as u64, credentials.len() as u64))
}

fn read_row(
    row: &sqlx::postgres::PgRow,
) -> Result<(Uuid, i32, String, String, Sealed), VaultError> {
    let credential_id: Uuid = row.try_get("credential_id")?;
    let version: i32 = row.try_get("version")?;
    let namespace: String = row.try_get("namespace")?;
    let name: String = row.try_get("name")?;
    let nonce: Vec<u8> = row.try_get("nonce")?;
    let nonce: [u8; 12] = nonce
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Decrypt {
            credential: format!("{namespace}/{name}"),
            version,
        })?;
    let sealed = Sealed {
        ciphertext: row.try_get("encrypted_value")?,
        nonce,
        key_id: row.try_get("key_id")?,
    };
    Ok((credential_id, version, namespace, name, sealed))
}
