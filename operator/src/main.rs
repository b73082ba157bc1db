//! `javari-operator`: connects to the cluster, checks the Javari API is installed, applies the
//! shared schema, serves `/healthz`, `/readyz` and `/metrics`, and runs the controllers.

mod config;
mod http;
mod metrics;
mod preflight;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::{error, info};

use crate::config::Config;
use crate::http::Probe;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    javari_core::telemetry::init(config.log_format, &config.log);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "javari-operator stopped");
            eprintln!("javari-operator: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(config: Config) -> Result<(), preflight::Error> {
    let metrics = Arc::new(metrics::Metrics::new());
    let probe = Probe::new(metrics.clone());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| preflight::Error::Listen {
            addr: config.listen,
            source,
        })?;
    info!(addr = %config.listen, "serving /healthz, /readyz and /metrics");
    let server = tokio::spawn(http::serve(listener, probe.clone()));

    let checked = preflight::run(&config).await?;
    probe.set_ready(true);
    info!(crds = checked.crds, "javari-operator ready");

    tokio::select! {
        result = server => result.map_err(|e| preflight::Error::Server(e.to_string()))?.map_err(|e| preflight::Error::Server(e.to_string())),
        _ = shutdown_signal() => {
            info!("shutting down");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
