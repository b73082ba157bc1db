//! Restores: download, check, decrypt and decompress every file of a backup into a local
//! directory, then `pg_restore -j N` into a database created for it (never an existing one).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::backup::{backup_path, open_data_key};
use super::format::{DataKey, Opener};
use super::manifest::{FILES, Manifest, ManifestFile};
use super::pgtools::{self, ConnInfo};
use super::store::Destination;
use super::{BackupError, valid_database_name};
use crate::vault::Keyring;

/// What a restore did.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    pub backup_id: Uuid,
    pub database: String,
    /// Download, decrypt and `pg_restore` together: the RTO achieved.
    pub duration: Duration,
    /// Original (uncompressed) bytes restored per second.
    pub bytes_per_second: f64,
    pub schema_hash_matches: bool,
    /// Tables whose row counts differ from the manifest (`table: manifest → restored`).
    pub row_count_differences: Vec<String>,
}

impl RestoreReport {
    pub fn matches(&self) -> bool {
        self.schema_hash_matches && self.row_count_differences.is_empty()
    }
}

/// Bytes of plaintext buffered before a write to the output file.
const WRITE_BUFFER: usize = 1 << 20;

fn manifest_entry<'m>(m: &'m Manifest, name: &str) -> Result<&'m ManifestFile, BackupError> {
    m.files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| BackupError::Corrupt {
            backup: m.backup_id.to_string(),
            reason: format!("{name} is not in the manifest"),
        })
}

async fn object_stream(
    dest: &Destination,
    base: &object_store::path::Path,
    m: &Manifest,
    name: &str,
) -> Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>, BackupError> {
    let path = base.clone().join(FILES).join(name);
    match dest.store.get(&path).await {
        Ok(r) => Ok(r.into_stream()),
        Err(object_store::Error::NotFound { .. }) => Err(BackupError::Corrupt {
            backup: m.backup_id.to_string(),
            reason: format!("file {name} is missing from the store"),
        }),
        Err(e) => Err(e.into()),
    }
}

fn check_digest(
    m: &Manifest,
    entry: &ManifestFile,
    hasher: Sha256,
    size: u64,
) -> Result<(), BackupError> {
    let sha = hex::encode(hasher.finalize());
    if sha != entry.sha256 || size != entry.stored_bytes {
        return Err(BackupError::Corrupt {
            backup: m.backup_id.to_string(),
            reason: format!(
                "file {}: stored object differs from the manifest (SHA-256 {sha}, {size} bytes; manifest {}, {} bytes)",
                entry.name, entry.sha256, entry.stored_bytes
            ),
        });
    }
    Ok(())
}

/// Downloads one file, checking its SHA-256 against the manifest as it streams; with a key and
/// a directory also writes its plaintext to `out_dir/name`.
pub(crate) async fn fetch_file(
    dest: &Destination,
    base: &object_store::path::Path,
    m: &Manifest,
    key: Option<&Arc<DataKey>>,
    name: &str,
    out_dir: Option<&Path>,
) -> Result<(), BackupError> {
    if let (Some(key), Some(dir)) = (key, out_dir) {
        let out_path = dir.join(name);
        let f = std::fs::File::create(&out_path).map_err(|e| BackupError::Io {
            path: out_path.display().to_string(),
            reason: e.to_string(),
        })?;
        return fetch_into(dest, base, m, key.clone(), name, f).await;
    }
    let entry = manifest_entry(m, name)?;
    let mut stream = object_stream(dest, base, m, name).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    check_digest(m, entry, hasher, size)
}

/// Downloads one file, checking its SHA-256 against the manifest as it streams, and writes its
/// plaintext to the staged file `out` (pg_restore refuses named pipes, so every file is staged
/// before it starts); decryption and decompression run on a blocking thread beside the download.
async fn fetch_into(
    dest: &Destination,
    base: &object_store::path::Path,
    m: &Manifest,
    key: Arc<DataKey>,
    name: &str,
    out: std::fs::File,
) -> Result<(), BackupError> {
    let entry = manifest_entry(m, name)?;
    let mut stream = object_stream(dest, base, m, name).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let opening = {
        let (backup, name) = (m.backup_id.to_string(), name.to_owned());
        tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
            let format = |source| BackupError::Format {
                backup: backup.clone(),
                source,
            };
            let out = std::io::BufWriter::with_capacity(WRITE_BUFFER, out);
            let mut opener = Opener::new(&key, &backup, &name, out).map_err(format)?;
            while let Some(chunk) = rx.blocking_recv() {
                opener.feed(&chunk).map_err(format)?;
            }
            let mut w = opener.finish().map_err(format)?;
            w.flush().map_err(|e| BackupError::Io {
                path: name.clone(),
                reason: e.to_string(),
            })
        })
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut fetched = Ok(());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                fetched = Err(BackupError::from(e));
                break;
            }
        };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            // The opener stopped early; its error says why.
            break;
        }
    }
    drop(tx);
    opening.await.map_err(|e| BackupError::Io {
        path: name.to_owned(),
        reason: e.to_string(),
    })??;
    fetched?;
    check_digest(m, entry, hasher, size)
}

/// Creates `database` on the server of `server` (fails if it exists).
pub(crate) async fn create_database(server: &ConnInfo, database: &str) -> Result<(), BackupError> {
    if !valid_database_name(database) {
        return Err(BackupError::BadDatabaseName(database.to_owned()));
    }
    let mut conn = PgConnection::connect(&server.full_url())
        .await
        .map_err(|e| BackupError::Source {
            reason: e.to_string(),
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if exists {
        return Err(BackupError::TargetExists {
            database: database.to_owned(),
        });
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        pgtools::quote_ident(database)
    )))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

pub(crate) async fn drop_database(server: &ConnInfo, database: &str) -> Result<(), BackupError> {
    let mut conn = PgConnection::connect(&server.full_url())
        .await
        .map_err(|e| BackupError::Source {
            reason: e.to_string(),
        })?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        pgtools::quote_ident(database)
    )))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Restores backup `m` into the new database `database` on `server`'s server and compares it
/// with the manifest.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn restore_to(
    dest: &Destination,
    keys: &Keyring,
    policy: &str,
    m: &Manifest,
    server: &ConnInfo,
    database: &str,
    jobs: u32,
    staging_dir: &Path,
) -> Result<RestoreReport, BackupError> {
    let key = Arc::new(open_data_key(keys, m)?);
    create_database(server, database).await?;
    let started = Instant::now();
    let dir: PathBuf = staging_dir.join(format!("javari-restore-{}", Uuid::new_v4()));
    let result = async {
        std::fs::create_dir_all(&dir).map_err(|e| BackupError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = backup_path(dest, policy, m.backup_id);
        // Files download and decrypt in parallel tasks (decryption is CPU work).
        let slots = Arc::new(tokio::sync::Semaphore::new(jobs.max(1) as usize));
        let shared = Arc::new((dest.clone(), base, m.clone(), key.clone(), dir.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for name in m.files.iter().map(|f| f.name.clone()) {
            let (slots, shared) = (slots.clone(), shared.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let (dest, base, m, key, dir) = &*shared;
                fetch_file(dest, base, m, Some(key), &name, Some(dir)).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| BackupError::Io {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })??;
        }
        let target = server.with_database(database)?;
        let (_, major) = {
            let mut c = PgConnection::connect(&target.full_url())
                .await
                .map_err(|e| BackupError::Source {
                    reason: e.to_string(),
                })?;
            let v = pgtools::server_version(&mut c).await?;
            let _ = c.close().await;
            v
        };
        let pg_restore = pgtools::tool("pg_restore", major)?;
        let args = [
            format!("--jobs={}", jobs.max(1)),
            "--no-owner".to_owned(),
            "--no-privileges".to_owned(),
            "--exit-on-error".to_owned(),
            format!("--dbname={}", target.url_without_password),
            dir.display().to_string(),
        ];
        pgtools::run(&pg_restore, &args, &target).await?;
        let duration = started.elapsed();
        let mut c = PgConnection::connect(&target.full_url())
            .await
            .map_err(|e| BackupError::Source {
                reason: e.to_string(),
            })?;
        let hash = pgtools::schema_hash(&mut c).await?;
        let counts = pgtools::row_counts(&mut c).await?;
        let _ = c.close().await;
        let mut diffs = Vec::new();
        for (table, want) in &m.row_counts {
            let got = counts.get(table).copied();
            if got != Some(*want) {
                diffs.push(format!(
                    "{table}: {want} → {}",
                    got.map_or("missing".to_owned(), |g| g.to_string())
                ));
            }
        }
        for table in counts.keys().filter(|t| !m.row_counts.contains_key(*t)) {
            diffs.push(format!("{table}: not in the manifest"));
        }
        Ok(RestoreReport {
            backup_id: m.backup_id,
            database: database.to_owned(),
            duration,
            bytes_per_second: m.original_bytes() as f64 / duration.as_secs_f64().max(1e-3),
            schema_hash_matches: hash == m.schema_hash,
            row_count_differences: diffs,
        })
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Restores a backup into a new database `database` on the server of `server_url`, recorded in
/// `javari_backup_restores`. Never touches an existing database.
#[allow(clippy::too_many_arguments)]
pub async fn restore_into_new_database(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    backup_id: Uuid,
    server_url: &str,
    database: &str,
    jobs: u32,
    staging_dir: &Path,
    requested_by: &str,
) -> Result<RestoreReport, BackupError> {
    let request =
        super::requests::record_new_restore(pool, backup_id, database, requested_by).await?;
    super::requests::run_new_restore(pool, dest, keys, &request, server_url, jobs, staging_dir)
        .await
}
