//! Backups and disaster recovery: `pg_dump` directories streamed through zstd and AES-256-GCM
//! (a data key per backup, sealed by the vault's master key) into an object store, with a
//! manifest written last; verification as a ladder (checksums, `pg_restore --list`, a drill
//! into a scratch database); retention by count and grandfather-father-son; restores.

mod backup;
mod format;
mod manifest;
mod pgtools;
mod records;
mod requests;
mod restore;
pub mod retention;
mod staged;
mod store;
mod verify;

pub use backup::{BackupOptions, BackupSummary, Recovery, recover, staging_path, take_backup};
pub use format::{DataKey, FormatError};
pub use manifest::{MANIFEST, Manifest, ManifestFile, SealedKey};
pub use pgtools::{ConnInfo, tool as pg_tool};
pub use records::{
    BackupRow, BackupStatus, VerificationRow, freshest_backup, get_backup, last_drill,
    list_backups, list_verifications, newest_verified, prune, restorable_in_store,
};
pub use requests::{
    DecisionError, RestoreMode, RestoreRequest, RestoreStatus, database_exists, decide,
    get_restore, list_restores, record_new_restore, request_in_place, restore_in_place,
    run_new_restore,
};
pub use restore::{RestoreReport, restore_into_new_database};
pub use retention::{Candidate, KeepReason, RetentionPlan, RetentionRule};
pub use store::{Destination, S3Keys, StoreConfig};
pub use verify::{DrillReport, VerificationLevel, verify};

/// What can go wrong with a backup. None carries a secret (keys, passwords).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup destination {url}: {reason}")]
    Destination { url: String, reason: String },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("source database: {reason}")]
    Source { reason: String },
    #[error(
        "{tool} for PostgreSQL {major} not found: install Debian's postgresql-client-{major} (or set JAVARI_PG_BIN_DIR)"
    )]
    ToolMissing { tool: String, major: u32 },
    #[error("{tool} failed: {reason}")]
    Tool { tool: String, reason: String },
    #[error("another backup of policy {policy} is running")]
    Busy { policy: String },
    #[error("backup {backup} has no manifest: it is incomplete and cannot be restored")]
    Incomplete { backup: String },
    #[error("backup {backup}: {reason}")]
    Corrupt { backup: String, reason: String },
    #[error("backup {backup}: {source}")]
    Format {
        backup: String,
        #[source]
        source: FormatError,
    },
    #[error(
        "backup {backup}: its data key does not open with the configured master key(s): {reason}"
    )]
    Key { backup: String, reason: String },
    #[error("backup {backup}: the restored database differs from the manifest: {reason}")]
    Mismatch { backup: String, reason: String },
    #[error("database {database} already exists: a restore never overwrites a database")]
    TargetExists { database: String },
    #[error("invalid database name {0:?}: use lowercase letters, digits and _ (max 63)")]
    BadDatabaseName(String),
    #[error(
        "database {0} holds Javari's own records: restore it into a new database and switch over (runbook restore-from-backup)"
    )]
    CatalogDatabase(String),
    #[error("local file {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The object-store prefix of one policy (`namespace/name`).
pub fn policy_prefix(policy: &str) -> Vec<String> {
    policy.split('/').map(str::to_owned).collect()
}

/// A name PostgreSQL accepts unquoted for a scratch or restore database.
pub fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// The first time `schedule` (cron, 5 fields or 6 with seconds, UTC) fires after `after`.
pub fn next_run(
    schedule: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(schedule.trim())
        .map_err(|e| format!("invalid schedule {schedule:?}: {e}"))?
        .find_next_occurrence(&after, false)
        .map_err(|_| format!("schedule {schedule:?} never fires"))
}
