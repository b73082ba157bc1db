//! PostgreSQL access: the connection pool and the shared schema's migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// The shared schema (`migrations/`), embedded in both binaries.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool. The error names host, port and database, never the password.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    let options =
        options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect { target, source })
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx holds an
/// advisory lock while migrating, and applied migrations are skipped.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
