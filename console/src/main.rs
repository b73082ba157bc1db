//! `javari-console`: applies the shared schema's migrations and serves the console.

use std::process::ExitCode;
use std::sync::Arc;

use axum::serve::ListenerExt;
use clap::Parser;
use javari_console::config::Config;
use javari_console::{AppState, Settings, app};
use javari_core::vault::{Keyring, Vault};
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Database(#[from] javari_core::db::DbError),
    #[error(transparent)]
    MasterKey(#[from] javari_core::vault::KeyError),
    #[error("cannot create the first admin: {0}")]
    Admin(sqlx::Error),
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
    let vault = match config.master_key.as_deref() {
        Some(key) => {
            let keys = Keyring::from_config(Some(key), config.master_keys_old.as_deref())?;
            Some(Vault::new(pool.clone(), Arc::new(keys)))
        }
        None => {
            warn!(
                "JAVARI_MASTER_KEY is not set: providers' API keys cannot be read from the vault"
            );
            None
        }
    };
    match (&config.admin_email, &config.admin_password) {
        (Some(email), Some(password)) => {
            if javari_console::auth::ensure_admin(&pool, email, password)
                .await
                .map_err(StartError::Admin)?
            {
                info!(%email, "created the first admin");
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            warn!("set both JAVARI_ADMIN_EMAIL and JAVARI_ADMIN_PASSWORD to create the first admin")
        }
        (None, None) => {}
    }
    let settings = Settings {
        secure_cookies: config.secure_cookies,
        monthly_budget_usd: config.monthly_budget_usd,
        upload_concurrency: config.upload_concurrency.max(1),
        upload_text_multiple: config.upload_text_multiple.max(1),
        pdf_decoded_budget: config.pdf_decoded_budget_mib.max(1) * 1024 * 1024,
        embed_concurrency: config.embed_concurrency.max(1),
        embed_batch: config.embed_batch.clamp(1, 2048),
        embed_batch_timeout: std::time::Duration::from_secs(config.embed_batch_timeout_secs.max(1)),
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    // Streamed answers are many small writes: without TCP_NODELAY each event after the
    // headers waits for the client's delayed ACK (40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            warn!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    info!(addr = %config.listen, "javari-console listening on http://{}", config.listen);
    axum::serve(
        listener,
        app(AppState::with_settings(pool, settings, vault)),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve)
}

/// Ctrl-C or SIGTERM (what Kubernetes sends): stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutting down");
}
