//! Verification as a ladder, each level recorded: checksums re-read from the store;
//! `pg_restore --list` of the decrypted table of contents; a drill that restores into a
//! scratch database and compares the schema hash and row counts with the manifest.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::BackupError;
use super::backup::{backup_path, open_data_key, read_manifest};
use super::pgtools::{self, ConnInfo};
use super::records::{self, NewVerification};
use super::restore::{drop_database, fetch_file, restore_to};
use super::store::Destination;
use crate::vault::Keyring;

/// How far to verify; each level includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VerificationLevel {
    Checksums,
    Catalog,
    Drill,
}

impl VerificationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checksums => "checksums",
            Self::Catalog => "catalog",
            Self::Drill => "drill",
        }
    }
}

/// What a drill measured.
#[derive(Clone, Debug, PartialEq)]
pub struct DrillReport {
    pub scratch_database: String,
    /// The RTO achieved: download, decrypt and `pg_restore`.
    pub restore_time: Duration,
    pub bytes_per_second: f64,
}

/// Verifies backup `id` up to `level`. `server_url` is where a drill's scratch database is
/// created (the source server by default). A failure is recorded, marks the backup corrupt
/// and is returned naming the file or table.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    pool: &PgPool,
    dest: &Destination,
    keys: &Keyring,
    id: Uuid,
    level: VerificationLevel,
    server_url: Option<&str>,
    jobs: u32,
    staging_dir: &Path,
) -> Result<Option<DrillReport>, BackupError> {
    let row = records::get_backup(pool, id)
        .await?
        .ok_or_else(|| BackupError::Incomplete {
            backup: id.to_string(),
        })?;
    let policy = row.policy.clone().unwrap_or_default();
    // 1. Checksums: every object re-read and hashed.
    let started = Utc::now();
    let manifest = read_manifest(dest, &policy, id).await;
    let checked = match &manifest {
        Ok((m, _)) => {
            let base = backup_path(dest, &policy, id);
            let mut r = Ok(());
            for f in &m.files {
                if let Err(e) = fetch_file(dest, &base, m, None, &f.name, None).await {
                    r = Err(e);
                    break;
                }
            }
            r
        }
        Err(_) => Err(BackupError::Incomplete {
            backup: id.to_string(),
        }),
    };
    record(pool, id, VerificationLevel::Checksums, &checked, started).await?;
    checked?;
    let (m, _) = manifest?;
    if level == VerificationLevel::Checksums {
        return Ok(None);
    }

    // 2. Catalog: the data key opens, toc.dat decrypts, pg_restore reads it.
    let started = Utc::now();
    let dir = staging_dir.join(format!("javari-verify-{}", Uuid::new_v4()));
    let catalog = async {
        let key = std::sync::Arc::new(open_data_key(keys, &m)?);
        std::fs::create_dir_all(&dir).map_err(|e| BackupError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = backup_path(dest, &policy, id);
        fetch_file(dest, &base, &m, Some(&key), "toc.dat", Some(&dir)).await?;
        let major = m
            .server_version
            .split(['.', ' '])
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(15);
        let pg_restore = pgtools::tool("pg_restore", major)?;
        let none = ConnInfo::parse("postgres://localhost/none")?;
        let listing = pgtools::run(
            &pg_restore,
            &["--list".to_owned(), dir.display().to_string()],
            &none,
        )
        .await?;
        if !listing.lines().any(|l| l.contains("TABLE DATA")) && !m.row_counts.is_empty() {
            return Err(BackupError::Corrupt {
                backup: id.to_string(),
                reason: "pg_restore --list shows no table data".to_owned(),
            });
        }
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    record(pool, id, VerificationLevel::Catalog, &catalog, started).await?;
    catalog?;
    if level == VerificationLevel::Catalog {
        return Ok(None);
    }

    // 3. Drill: restore into a scratch database and compare with the manifest.
    let started = Utc::now();
    let server = match server_url {
        Some(u) => ConnInfo::parse(u)?,
        None => {
            return Err(BackupError::Source {
                reason: "a drill needs a server for its scratch database".to_owned(),
            });
        }
    };
    let scratch = format!("javari_drill_{}", &id.simple().to_string()[..12]);
    let _ = drop_database(&server, &scratch).await;
    let restored = restore_to(
        dest,
        keys,
        &policy,
        &m,
        &server,
        &scratch,
        jobs,
        staging_dir,
    )
    .await;
    let _ = drop_database(&server, &scratch).await;
    let (outcome, report) = match restored {
        Ok(r) if r.matches() => (Ok(()), Some(r)),
        Ok(r) => {
            let mut reasons = Vec::new();
            if !r.schema_hash_matches {
                reasons.push("schema hash differs".to_owned());
            }
            reasons.extend(r.row_count_differences.iter().cloned());
            (
                Err(BackupError::Mismatch {
                    backup: id.to_string(),
                    reason: reasons.join("; "),
                }),
                Some(r),
            )
        }
        Err(e) => (Err(e), None),
    };
    let detail = outcome.as_ref().err().map(ToString::to_string);
    records::record_verification(
        pool,
        &NewVerification {
            backup_id: id,
            level: "drill",
            ok: outcome.is_ok(),
            detail: detail.as_deref(),
            scratch_database: Some(&scratch),
            restore_ms: report
                .as_ref()
                .map(|r| i64::try_from(r.duration.as_millis()).unwrap_or(i64::MAX)),
            bytes_per_second: report.as_ref().map(|r| r.bytes_per_second),
            started_at: started,
        },
    )
    .await?;
    outcome?;
    Ok(report.map(|r| DrillReport {
        scratch_database: scratch,
        restore_time: r.duration,
        bytes_per_second: r.bytes_per_second,
    }))
}

async fn record(
    pool: &PgPool,
    id: Uuid,
    level: VerificationLevel,
    outcome: &Result<(), BackupError>,
    started: chrono::DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let detail = outcome.as_ref().err().map(ToString::to_string);
    records::record_verification(
        pool,
        &NewVerification {
            backup_id: id,
            level: level.as_str(),
            ok: detail.is_none(),
            detail: detail.as_deref(),
            scratch_database: None,
            restore_ms: None,
            bytes_per_second: None,
            started_at: started,
        },
    )
    .await
}
