//! `javari-console`: applies the shared schema's migrations and serves the console.

use std::process::ExitCode;

use clap::Parser;
use javari_console::config::Config;
use javari_console::{AppState, app};
use tracing::{error, info};

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Database(#[from] javari_core::db::DbError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    javari_core::telemetry::init(config.log_format, &config.log);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "javari-console stopped");
            eprintln!("javari-console: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), StartError> {
    let pool = javari_core::db::connect(&config.database_url, config.db_max_connections).await?;
    javari_core::db::migrate(&pool).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    info!(addr = %config.listen, "javari-console listening on http://{}", config.listen);
    axum::serve(listener, app(AppState::new(pool)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(StartError::Serve)
}
