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
    #[error("JAVARI_TRUSTED_PROXIES: {0}")]
    TrustedProxies(String),
    #[error("cannot schedule pruning of sessions and tokens (JAVARI_PRUNE_SCHEDULE): {0}")]
    Prune(String),
    #[error("cannot schedule the health-check rollups (JAVARI_ROLLUP_SCHEDULE): {0}")]
    Rollup(String),
    #[error(transparent)]
    Kube(#[from] javari_console::kube_client::KubeError),
    #[error("runbooks: {0}")]
    Runbooks(#[from] javari_core::runbooks::CatalogueError),
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
    let pool = javari_core::db::open(
        &config.database_url,
        config.migrate_database_url.as_deref(),
        config.db_max_connections,
    )
    .await?;
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
    let trusted_namespaces: Vec<String> = config
        .trusted_namespaces
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if trusted_namespaces.is_empty() {
        warn!(
            "JAVARI_TRUSTED_NAMESPACES is empty: no Provider is trusted, chat and embeddings are unavailable"
        );
    } else {
        info!(namespaces = ?trusted_namespaces, "trusting Providers in these namespaces");
    }
    let trusted_proxies = javari_console::auth::parse_networks(&config.trusted_proxies)
        .map_err(StartError::TrustedProxies)?;
    let auth = javari_console::auth::AuthSettings {
        insecure_cookies: config.insecure_cookies,
        max_password_checks: config.max_password_checks,
        max_password_waiters: config.max_password_waiters,
        trusted_proxies,
        client_failures: config.signin_client_failures,
        account_client_failures: config.signin_account_failures,
        require_admin_mfa: config.require_admin_mfa,
        max_token_days: config.max_token_days,
        default_token_days: config.max_token_days.min(90),
        prune_schedule: config.prune_schedule.clone(),
        ..Default::default()
    };
    // Held for the life of the server: dropping it stops the schedule.
    let _pruning = javari_console::auth::start_pruning(
        pool.clone(),
        &auth.prune_schedule,
        auth.token_retention,
    )
    .await
    .map_err(|e| StartError::Prune(e.to_string()))?;
    // Held for the life of the server, like the pruning schedule.
    let _rollups = javari_core::history::start_rollups(
        pool.clone(),
        &config.rollup_schedule,
        javari_core::history::Retention::default(),
    )
    .await
    .map_err(|e| StartError::Rollup(e.to_string()))?;
    let defaults = Settings::default();
    let settings = Settings {
        trusted_namespaces,
        auth,
        monthly_budget_usd: config.monthly_budget_usd,
        crawl_limits: javari_core::crawl::FetchLimits {
            request_interval: std::time::Duration::from_millis(config.crawl_request_interval_ms),
            ..defaults.crawl_limits.clone()
        },
        max_concurrent_crawls: config.max_concurrent_crawls.max(1),
        max_answers_in_flight_per_user: config.chat_max_answers_in_flight,
        gateway: javari_core::chat::GatewayConfig {
            max_answer_tokens: config.chat_max_answer_tokens,
            max_answer_bytes: config.chat_max_answer_bytes,
            max_answer_duration: std::time::Duration::from_secs(config.chat_max_answer_seconds),
            read: javari_core::chat::ReadLimits {
                max_line_bytes: config.chat_max_sse_line_bytes,
                max_error_body_bytes: config.chat_max_error_body_bytes,
            },
            ..defaults.gateway.clone()
        },
        upload_concurrency: config.upload_concurrency.max(1),
        upload_text_multiple: config.upload_text_multiple.max(1),
        pdf_decoded_budget: config.pdf_decoded_budget_mib.max(1) * 1024 * 1024,
        embed_concurrency: config.embed_concurrency.max(1),
        embed_batch: config.embed_batch.clamp(1, 2048),
        embed_batch_timeout: std::time::Duration::from_secs(config.embed_batch_timeout_secs.max(1)),
        status_cache_ttl: std::time::Duration::from_secs(config.status_cache_seconds),
        schema_drift: drift_source(&config),
        incidents: javari_console::settings::IncidentSettings {
            runbooks_dir: config.runbooks_dir.clone(),
            project_url_template: config.project_url_template.clone(),
            webhook: config
                .incident_webhook
                .clone()
                .map(|url| javari_core::incidents::Webhook {
                    attempts: config.incident_webhook_attempts.clamp(1, 10),
                    ..javari_core::incidents::Webhook::new(url)
                }),
        },
        ..defaults
    };
    // A runbook that does not parse stops the start, as it fails CI.
    let runbooks =
        javari_core::runbooks::Catalogue::builtin_and(settings.incidents.runbooks_dir.as_deref())?;
    info!(runbooks = runbooks.len(), "runbooks loaded");
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
    let mut state = AppState::with_settings(pool, settings, vault);
    if let Some(client) = javari_console::kube_client::connect(config.kube).await? {
        state = state.with_kube(client);
    }
    // Kept alive for as long as the server runs.
    let _schedule = if config.crawl_schedule {
        match javari_console::crawls::start_schedule(&state).await {
            Ok(scheduler) => Some(scheduler),
            Err(e) => {
                warn!(error = %e, "cannot start the web crawl schedule; crawl now still works");
                None
            }
        }
    } else {
        None
    };
    // Kept alive for as long as the server runs.
    let _schema_scans = if config.schema_scan_schedule != "off" {
        match javari_core::schema::health::schedule::start(
            state.db.clone(),
            &config.schema_scan_schedule,
            javari_core::schema::health::Thresholds::default(),
            state.settings.schema_drift.clone(),
        )
        .await
        {
            Ok(scheduler) => Some(scheduler),
            Err(e) => {
                warn!(error = %e, "cannot start the schema scan schedule; scan now still works");
                None
            }
        }
    } else {
        None
    };
    info!(addr = %config.listen, "javari-console listening on http://{}", config.listen);
    // The peer address is what sign-in limits key on (see JAVARI_TRUSTED_PROXIES).
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve)
}

/// Drift is computed on a scratch database created by the schema's owner (the migrations'
/// URL) or, without one, by the runtime role; either needs CREATEDB, and a scan without it
/// says so on the findings page.
fn drift_source(config: &Config) -> Option<javari_core::schema::drift::DriftSource> {
    let url = config
        .migrate_database_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(&config.database_url);
    match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(options) => Some(javari_core::schema::drift::DriftSource::new(
            &javari_core::db::MIGRATOR,
            options,
        )),
        Err(_) => {
            warn!(
                "the database URL does not parse: schema scans do not compare with the migrations"
            );
            None
        }
    }
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
