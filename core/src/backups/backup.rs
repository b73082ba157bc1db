//! Taking a backup: `pg_dump -Fd -j N` of an exported snapshot (row counts and schema hash
//! read in the same snapshot), each file streamed through zstd and AES-256-GCM into the
//! store while pg_dump is still writing it (see `staged`) and deleted once stored, the
//! manifest written last. Crash-safe: only the manifest makes a backup complete,
//! and the next run of the policy completes or fails what a killed run left and deletes its
//! partial objects.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use inotify::EventStream;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::format::{DataKey, Sink, seal_stream};
use super::manifest::{FILES, MANIFEST, Manifest, ManifestFile, SealedKey};
use super::pgtools::{self, ConnInfo};
use super::records::{self, NewBackup};
use super::staged::{self, GrowingFile, Seen};
use super::store::Destination;
use super::{BackupError, policy_prefix};
use crate::vault::{Keyring, Sealed, SecretValue, seal_for};

/// Bytes per multipart part (S3 needs at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 << 20;
/// Bytes read from a staged file at a time.
const READ_BUFFER: usize = 1 << 20;

/// How to take one backup.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// Connection URL of the database to back up.
    pub source_url: String,
    /// zstd level.
    pub level: i32,
    /// pg_dump jobs and concurrent uploads.
    pub jobs: u32,
    /// Local directory for the dump while it is streamed out.
    pub staging_dir: PathBuf,
    /// Upload rate limit in bytes per second (None: unlimited).
    pub rate_limit: Option<u64>,
    /// Who asked (`schedule`, `backup-now`, an admin's email).
    pub created_by: String,
}

/// What a finished backup reports.
#[derive(Clone, Debug)]
pub struct BackupSummary {
    pub id: Uuid,
    pub manifest: Manifest,
    pub duration: Duration,
    /// Objects of interrupted backups deleted before this one started.
    pub cleaned_objects: u64,
}

/// The context a data key is sealed for in the vault.
pub(crate) fn key_context(id: Uuid) -> String {
    format!("javari.ai/backup/v1:{id}")
}

/// Opens a backup's data key with the configured master keys; refused by name otherwise.
pub(crate) fn open_data_key(keys: &Keyring, m: &Manifest) -> Result<DataKey, BackupError> {
    let err = |reason: String| BackupError::Key {
        backup: m.backup_id.to_string(),
        reason,
    };
    let sealed = Sealed {
        ciphertext: hex::decode(&m.key.ciphertext).map_err(|e| err(e.to_string()))?,
        nonce: hex::decode(&m.key.nonce)
            .ok()
            .and_then(|n| <[u8; 12]>::try_from(n).ok())
            .ok_or_else(|| err("malformed nonce".to_owned()))?,
        key_id: m.key.master_key_id.clone(),
    };
    let plain = crate::vault::open_for(keys, &key_context(m.backup_id), &sealed)
        .map_err(|e| err(e.to_string()))?;
    let key = DataKey::from_bytes(plain.expose()).ok_or_else(|| err("not 32 bytes".to_owned()))?;
    if key.id_hex() != m.key.data_key_id {
        return Err(err(format!(
            "data key {} is not the manifest's {}",
            key.id_hex(),
            m.key.data_key_id
        )));
    }
    Ok(key)
}

/// Holds the policy's advisory lock on a connection of its own: released when the process
/// dies, so a killed backup never blocks the next one.
/// A killed process's session lingers until its backend sees the socket close: a few
/// milliseconds, or longer on a loaded server. A new run waits this long before it says busy.
const LOCK_WAIT: Duration = Duration::from_secs(5);

async fn lock_policy(pool: &PgPool, policy: &str) -> Result<PgConnection, BackupError> {
    let mut conn = pool.acquire().await?.detach();
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 14))")
            .bind(format!("javari-backup:{policy}"))
            .fetch_one(&mut conn)
            .await?;
        if got {
            return Ok(conn);
        }
        if Instant::now() >= deadline {
            let _ = conn.close().await;
            return Err(BackupError::Busy {
                policy: policy.to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Releases the policy lock before the connection closes: a dropped connection's backend
/// may still hold it for a moment, and the next backup would be refused as busy.
async fn unlock_policy(mut conn: PgConnection, policy: &str) {
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 14))")
        .bind(format!("javari-backup:{policy}"))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}

/// What [`recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub completed: Vec<Uuid>,
    pub failed: Vec<Uuid>,
    pub cleaned_objects: u64,
    /// Local staging directories of interrupted backups that were removed.
    pub cleaned_staging_dirs: u64,
}

/// Where a backup's dump is staged while it is streamed out.
pub fn staging_path(staging_dir: &Path, id: Uuid) -> PathBuf {
    staging_dir.join(format!("javari-backup-{id}"))
}

/// Removes a settled backup's staging directory; true when one was there.
async fn remove_staging(staging_dir: &Path, id: Uuid) -> Result<bool, BackupError> {
    let dir = staging_path(staging_dir, id);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Settles what a killed run of `policy` left: a `running` row whose manifest reached the
/// store is completed from it, any other is failed; objects of backups without a manifest are
/// deleted, and so are the local staging directories (`<staging_dir>/javari-backup-<id>`) of
/// every backup it settles. Call with the policy lock held.
pub async fn recover(
    pool: &PgPool,
    dest: &Destination,
    policy: &str,
    staging_dir: &Path,
) -> Result<Recovery, BackupError> {
    let mut out = Recovery::default();
    let (with_manifest, partial) = records::store_backups(dest, policy).await?;
    for id in records::running_of(pool, policy).await? {
        if with_manifest.contains(&id) {
            let (m, sha) = read_manifest(dest, policy, id).await?;
            records::complete(pool, &m, &sha, 0).await?;
            out.completed.push(id);
        } else {
            records::fail(
                pool,
                id,
                "interrupted: the process taking it stopped before its manifest was written",
            )
            .await?;
            // Also what the store does not list (multipart staging files of killed uploads).
            out.cleaned_objects += records::delete_backup_objects(dest, policy, id).await?;
            out.failed.push(id);
        }
    }
    for id in partial.difference(&out.failed.iter().copied().collect()) {
        out.cleaned_objects += records::delete_backup_objects(dest, policy, *id).await?;
    }
    let settled: std::collections::BTreeSet<Uuid> = out
        .completed
        .iter()
        .chain(&out.failed)
        .chain(&partial)
        .copied()
        .collect();
    for id in settled {
        out.cleaned_staging_dirs += u64::from(remove_staging(staging_dir, id).await?);
    }
    Ok(out)
}

/// Reads a backup's manifest and its SHA-256.
pub(crate) async fn read_manifest(
    dest: &Destination,
    policy: &str,
    id: Uuid,
) -> Result<(Manifest, String), BackupError> {
    let path = backup_path(dest, policy, id).join(MANIFEST);
    let bytes = match dest.store.get(&path).await {
        Ok(r) => r.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(BackupError::Incomplete {
                backup: id.to_string(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
        backup: id.to_string(),
        reason: format!("unreadable manifest: {e}"),
    })?;
    Ok((m, hex::encode(Sha256::digest(&bytes))))
}

pub(crate) fn backup_path(dest: &Destination, policy: &str, id: Uuid) -> object_store::path::Path {
    let mut parts = policy_prefix(policy);
    parts.push(id.to_string());
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    dest.path(&refs)
}

/// Takes one backup of `opts.source_url` into `dest`.
pub async fn take_backup(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    opts: &BackupOptions,
) -> Result<BackupSummary, BackupError> {
    let lock = lock_policy(pool, &opts.policy).await?;
    let recovery = recover(pool, dest, &opts.policy, &opts.staging_dir).await?;
    if recovery.cleaned_objects > 0 || !recovery.failed.is_empty() {
        tracing::warn!(policy = %opts.policy, failed = recovery.failed.len(), cleaned = recovery.cleaned_objects, staging_dirs = recovery.cleaned_staging_dirs, "settled an interrupted backup");
    }

    let id = Uuid::new_v4();
    let key = Arc::new(DataKey::generate().map_err(|e| BackupError::Io {
        path: "OS random source".to_owned(),
        reason: e.to_string(),
    })?);
    let sealed = seal_for(
        keys.current(),
        &key_context(id),
        &SecretValue::new(key.expose().to_vec()),
    )
    .map_err(|e| BackupError::Key {
        backup: id.to_string(),
        reason: e.to_string(),
    })?;
    let prefix = backup_path(dest, &opts.policy, id);
    let compression = format!("zstd:{}", opts.level);
    records::insert_running(
        pool,
        &NewBackup {
            id,
            policy: &opts.policy,
            store_url: &dest.url,
            file_path: prefix.as_ref(),
            compression: &compression,
            key_id: &sealed.key_id,
            sealed_key: &sealed.ciphertext,
            key_nonce: &sealed.nonce,
            created_by: &opts.created_by,
        },
    )
    .await?;
    let staging = staging_path(&opts.staging_dir, id);
    let started = Instant::now();
    let result = write_backup(dest, opts, id, &key, &sealed, &staging, &prefix).await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    let summary = match result {
        Ok(manifest) => {
            let duration = started.elapsed();
            let (_, sha) = read_manifest(dest, &opts.policy, id).await?;
            records::complete(
                pool,
                &manifest,
                &sha,
                i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            )
            .await?;
            Ok(BackupSummary {
                id,
                manifest,
                duration,
                cleaned_objects: recovery.cleaned_objects,
            })
        }
        Err(e) => {
            let _ = records::delete_backup_objects(dest, &opts.policy, id).await;
            records::fail(pool, id, &e.to_string()).await?;
            Err(e)
        }
    };
    unlock_policy(lock, &opts.policy).await;
    summary
}

async fn write_backup(
    dest: &Destination,
    opts: &BackupOptions,
    id: Uuid,
    key: &Arc<DataKey>,
    sealed: &Sealed,
    staging: &Path,
    prefix: &object_store::path::Path,
) -> Result<Manifest, BackupError> {
    let conn_info = ConnInfo::parse(&opts.source_url)?;
    let mut source = PgConnection::connect(&conn_info.full_url())
        .await
        .map_err(|e| BackupError::Source {
            reason: e.to_string(),
        })?;
    let (server_version, major) = pgtools::server_version(&mut source).await?;
    let pg_dump = pgtools::tool("pg_dump", major)?;
    let pg_dump_version = pgtools::version(&pg_dump).await?;

    // One snapshot for the dump, the row counts and the schema hash.
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut source)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut source)
        .await?;
    let snapshot_at = Utc::now();
    // pg_dump accepts an existing empty directory; it exists before pg_dump starts so the
    // watch sees every file.
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| BackupError::Io {
            path: staging.display().to_string(),
            reason: e.to_string(),
        })?;
    let events = staged::watch(staging).map_err(|e| BackupError::Io {
        path: staging.display().to_string(),
        reason: format!("cannot watch the staging directory: {e}"),
    })?;
    let args = vec![
        "--format=directory".to_owned(),
        format!("--jobs={}", opts.jobs.max(1)),
        "--compress=0".to_owned(),
        // The staged files are read once and deleted: the store's copy is the durable one.
        "--no-sync".to_owned(),
        format!("--snapshot={snapshot}"),
        format!("--file={}", staging.display()),
        format!("--dbname={}", conn_info.url_without_password),
    ];
    let dump = pgtools::run(&pg_dump, &args, &conn_info);
    let facts = async {
        let hash = pgtools::schema_hash(&mut source).await?;
        let counts = pgtools::row_counts(&mut source).await?;
        Ok::<_, sqlx::Error>((hash, counts))
    };
    let jobs = opts.jobs.max(1) as usize;
    let uploader = Uploader {
        store: dest.store.clone(),
        files_prefix: prefix.clone().join(FILES),
        key: key.clone(),
        backup_id: id.to_string(),
        level: opts.level,
        rate: opts.rate_limit.map(|r| r.max(1) / jobs as u64),
        staging: staging.to_owned(),
        progress: Arc::new(staged::Progress::default()),
        slots: Arc::new(tokio::sync::Semaphore::new(jobs)),
    };
    let streaming = uploader.run(dump, events);
    let (uploaded, facts) = tokio::join!(streaming, facts);
    let mut uploaded = uploaded?;
    let (schema_hash, row_counts) = facts?;
    sqlx::query("COMMIT").execute(&mut source).await?;
    let _ = source.close().await;
    uploaded.sort_by(|a, b| a.name.cmp(&b.name));

    let manifest = Manifest {
        format: 1,
        backup_id: id,
        policy: opts.policy.clone(),
        database: conn_info.database.clone(),
        snapshot_at,
        finished_at: Utc::now(),
        server_version,
        pg_dump_version,
        javari_version: crate::VERSION.to_owned(),
        compression: format!("zstd:{}+aes-256-gcm", opts.level),
        schema_hash,
        row_counts,
        files: uploaded,
        key: SealedKey {
            master_key_id: sealed.key_id.clone(),
            nonce: hex::encode(sealed.nonce),
            ciphertext: hex::encode(&sealed.ciphertext),
            data_key_id: key.id_hex(),
        },
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Corrupt {
        backup: id.to_string(),
        reason: e.to_string(),
    })?;
    // Written last: its presence is what makes the backup complete.
    dest.store
        .put(&prefix.clone().join(MANIFEST), PutPayload::from(body))
        .await?;
    Ok(manifest)
}

struct ChannelSink(tokio::sync::mpsc::Sender<Vec<u8>>);

impl Sink for ChannelSink {
    fn put(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        self.0
            .blocking_send(bytes)
            .map_err(|_| std::io::Error::other("upload stopped"))
    }
}

/// Streams the staged files of one backup into the store while pg_dump writes them.
struct Uploader {
    store: Arc<dyn object_store::ObjectStore>,
    files_prefix: object_store::path::Path,
    key: Arc<DataKey>,
    backup_id: String,
    level: i32,
    /// Bytes per second per upload (None: unlimited).
    rate: Option<u64>,
    staging: PathBuf,
    progress: Arc<staged::Progress>,
    /// Files compressed, encrypted and uploaded at once (pg_dump's job count): bounds CPU
    /// and memory (each holds a zstd context, one frame and two multipart parts).
    slots: Arc<tokio::sync::Semaphore>,
}

type Upload = Result<ManifestFile, BackupError>;

impl Uploader {
    fn spawn(&self, tasks: &mut JoinSet<Upload>, name: String) {
        let file = FileUpload {
            store: self.store.clone(),
            path: self.files_prefix.clone().join(name.as_str()),
            staging: self.staging.clone(),
            name,
            key: self.key.clone(),
            backup_id: self.backup_id.clone(),
            level: self.level,
            rate: self.rate,
            progress: self.progress.clone(),
        };
        let slots = self.slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            file.upload().await
        });
    }

    /// Runs pg_dump (`dump`) and uploads every file it writes, each from the moment it is
    /// created; returns the files' manifest entries once all are stored. Any error stops
    /// pg_dump (dropped, killed) and the other uploads.
    async fn run(
        self,
        dump: impl std::future::Future<Output = Result<String, BackupError>>,
        events: EventStream<Vec<u8>>,
    ) -> Result<Vec<ManifestFile>, BackupError> {
        let mut tasks = JoinSet::new();
        let mut started: HashSet<String> = HashSet::new();
        let mut uploaded = Vec::new();
        let mut events = Some(events);
        tokio::pin!(dump);
        let dumped = loop {
            tokio::select! {
                ended = &mut dump => break ended,
                seen = next_event(&mut events) => match seen {
                    Seen::Created(name) if staged::streams_early(&name) => {
                        if started.insert(name.clone()) {
                            self.spawn(&mut tasks, name);
                        }
                    }
                    Seen::Closed(name) => self.progress.closed(&name),
                    Seen::Created(_) | Seen::Other => {}
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    match joined(done, &self.staging) {
                        Ok(file) => uploaded.push(file),
                        Err(e) => {
                            self.progress.dump_ended(false);
                            tasks.shutdown().await;
                            return Err(e);
                        }
                    }
                }
            }
        };
        drop(events);
        self.progress.dump_ended(dumped.is_ok());
        if let Err(e) = dumped {
            tasks.shutdown().await;
            return Err(e);
        }
        // What the watch did not hand out: toc.dat, blobs.toc, files of lost events.
        let mut rest: Vec<(String, u64)> = std::fs::read_dir(&self.staging)
            .map_err(|e| BackupError::Io {
                path: self.staging.display().to_string(),
                reason: e.to_string(),
            })?
            .filter_map(|e| {
                let e = e.ok()?;
                let meta = e.metadata().ok()?;
                meta.is_file()
                    .then(|| Some((e.file_name().into_string().ok()?, meta.len())))?
            })
            .filter(|(name, _)| !started.contains(name))
            .collect();
        rest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (name, _) in rest {
            started.insert(name.clone());
            self.spawn(&mut tasks, name);
        }
        while let Some(done) = tasks.join_next().await {
            match joined(done, &self.staging) {
                Ok(file) => uploaded.push(file),
                Err(e) => {
                    tasks.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(uploaded)
    }
}

fn joined(done: Result<Upload, tokio::task::JoinError>, staging: &Path) -> Upload {
    done.map_err(|e| BackupError::Io {
        path: staging.display().to_string(),
        reason: e.to_string(),
    })?
}

/// The next thing the staging watch saw; never returns once the watch has failed (pg_dump's
/// exit then completes the files).
async fn next_event(events: &mut Option<EventStream<Vec<u8>>>) -> Seen {
    let Some(stream) = events.as_mut() else {
        return std::future::pending().await;
    };
    match stream.next().await {
        Some(Ok(ev)) => staged::seen(ev.mask, ev.name),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "staging watch failed: the remaining files are read when pg_dump exits");
            *events = None;
            Seen::Other
        }
        None => {
            *events = None;
            Seen::Other
        }
    }
}

/// One staged file on its way to the store.
struct FileUpload {
    store: Arc<dyn object_store::ObjectStore>,
    path: object_store::path::Path,
    staging: PathBuf,
    name: String,
    key: Arc<DataKey>,
    backup_id: String,
    level: i32,
    rate: Option<u64>,
    progress: Arc<staged::Progress>,
}

impl FileUpload {
    /// Reads the file as pg_dump writes it, compresses and seals it on a blocking thread,
    /// hashes and uploads the sealed bytes part by part, then deletes the staged file.
    async fn upload(self) -> Upload {
        let local = self.staging.join(&self.name);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let sealing = {
            let (staging, name, progress) = (
                self.staging.clone(),
                self.name.clone(),
                self.progress.clone(),
            );
            let (key, backup_id, level) = (self.key.clone(), self.backup_id.clone(), self.level);
            tokio::task::spawn_blocking(move || {
                let f = GrowingFile::open(&staging, &name, progress)?;
                seal_stream(
                    &key,
                    &backup_id,
                    &name,
                    level,
                    std::io::BufReader::with_capacity(READ_BUFFER, f),
                    ChannelSink(tx),
                )
            })
        };
        let mut writer = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart(&self.path).await?,
            PART_SIZE,
        );
        let mut hasher = Sha256::new();
        let mut stored: u64 = 0;
        let started = Instant::now();
        while let Some(bytes) = rx.recv().await {
            hasher.update(&bytes);
            stored += bytes.len() as u64;
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.write(&bytes);
            if let Some(rate) = self.rate {
                let due = Duration::from_secs_f64(stored as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let io_err = |reason: String| BackupError::Io {
            path: local.display().to_string(),
            reason,
        };
        let original = match sealing.await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                let _ = writer.abort().await;
                return Err(io_err(e.to_string()));
            }
            Err(e) => {
                let _ = writer.abort().await;
                return Err(io_err(e.to_string()));
            }
        };
        writer.finish().await?;
        // Stored: the staged copy is no longer needed (pg_dump has closed it for good).
        let _ = tokio::fs::remove_file(&local).await;
        Ok(ManifestFile {
            name: self.name,
            original_bytes: original,
            stored_bytes: stored,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}
