//! `javari-backup take`: one backup of a database outside the operator (for scripts, and the
//! crash-safety test that kills it mid-backup). Configured by environment:
//! `DATABASE_URL` (Javari's database, where backups are recorded), `JAVARI_BACKUP_SOURCE`
//! (the database to back up; `DATABASE_URL` when unset), `JAVARI_BACKUP_DEST` (`file:///dir`),
//! `JAVARI_BACKUP_POLICY` (`namespace/name`), `JAVARI_MASTER_KEY`, optional
//! `JAVARI_BACKUP_RATE_LIMIT` (bytes/s), `JAVARI_BACKUP_JOBS` and `JAVARI_BACKUP_STAGING`
//! (where the dump is staged; the system temp dir when unset).

use std::process::ExitCode;

use javari_core::backups::{BackupOptions, Destination, StoreConfig, take_backup};
use javari_core::vault::Keyring;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

async fn run() -> Result<(), String> {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    if cmd != "take" {
        return Err(
            "usage: javari-backup take (configured by environment; see --help in the source)"
                .to_owned(),
        );
    }
    let db = var("DATABASE_URL")?;
    let source = std::env::var("JAVARI_BACKUP_SOURCE").unwrap_or_else(|_| db.clone());
    let dest = Destination::open(&StoreConfig {
        url: var("JAVARI_BACKUP_DEST")?,
        endpoint: None,
        region: None,
        keys: None,
    })
    .map_err(|e| e.to_string())?;
    let keys = Keyring::from_config(std::env::var("JAVARI_MASTER_KEY").ok().as_deref(), None)
        .map_err(|e| e.to_string())?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&db)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let opts = BackupOptions {
        policy: var("JAVARI_BACKUP_POLICY")?,
        source_url: source,
        // The BackupPolicy default.
        level: javari_crds::backup_policy::Compression::default().level,
        jobs: std::env::var("JAVARI_BACKUP_JOBS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
        staging_dir: std::env::var_os("JAVARI_BACKUP_STAGING")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir),
        rate_limit: std::env::var("JAVARI_BACKUP_RATE_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok()),
        created_by: "javari-backup".to_owned(),
    };
    let summary = take_backup(&pool, &dest, &keys, &opts)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "backup {} complete: {} files, {} bytes stored of {} in {:.1}s",
        summary.id,
        summary.manifest.files.len(),
        summary.manifest.stored_bytes(),
        summary.manifest.original_bytes(),
        summary.duration.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("javari-backup: {e}");
            ExitCode::FAILURE
        }
    }
}
