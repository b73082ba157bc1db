//! Start-up and the controllers' lifetime.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use javari_crds::Credential;
use kube::runtime::reflector::ObjectRef;
use tracing::info;

use crate::config::Config;
use crate::http::Probe;
use crate::leader::Elector;
use crate::metrics::Metrics;
use crate::timer::Timer;
use crate::{Context, backups, credentials, monitors, preflight, projects, providers};

pub use crate::preflight::Error;

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::new());
    let probe = Probe::new(metrics.clone());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    info!(addr = %config.listen, "serving /healthz, /readyz and /metrics");
    let server = tokio::spawn(crate::http::serve(listener, probe.clone()));

    let checked = preflight::run(&config).await?;
    let (timer, wake) = Timer::start()
        .await
        .map_err(|e| Error::Scheduler(e.to_string()))?;
    let ctx = Arc::new(
        Context::new(
            checked.client.clone(),
            checked.vault,
            metrics.clone(),
            timer,
        )
        .watching(config.watch_namespace.clone())
        .with_github_api(config.github_api_url.clone())
        .with_backups(crate::backups::Settings::from_config(&config))
        .with_reconcile_concurrency(config.reconcile_concurrency),
    );
    // A standby replica is ready too: it serves probes and waits for the Lease.
    probe.set_ready(true);

    let elector = config.leader_election.then(|| {
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("javari-operator-{}", std::process::id()));
        Elector::new(
            checked.client,
            &config.lease_namespace,
            "javari-operator",
            &identity,
            Duration::from_secs(config.lease_seconds),
        )
    });
    if let Some(elector) = &elector {
        info!(
            identity = elector.identity(),
            "waiting for the leader Lease"
        );
        tokio::select! {
            _ = elector.acquire() => {}
            _ = shutdown_signal() => return Ok(()),
        }
    }
    metrics.leader.set(1);
    info!("javari-operator running its controllers");

    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        _ = run_controllers(ctx, wake, shutdown_signal()) => {
            info!("controllers stopped");
            Ok(())
        }
        _ = lost => Err(Error::LostLeadership),
        result = server => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Server(e.to_string())),
            Err(e) => Err(Error::Server(e.to_string())),
        },
    };
    metrics.leader.set(0);
    if let Some(elector) = &elector
        && result.is_ok()
    {
        elector.release().await;
    }
    result
}

/// Runs every controller until `shutdown` resolves (tests pass their own trigger).
pub async fn run_controllers(
    ctx: Arc<Context>,
    credential_wake: UnboundedReceiver<ObjectRef<Credential>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    // One shutdown signal, shared by every controller.
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let runner = monitors::Runner::start(ctx.clone());
    tokio::join!(
        credentials::run(ctx.clone(), credential_wake, shutdown.clone()),
        providers::run(ctx.clone(), shutdown.clone()),
        projects::run(ctx.clone(), shutdown.clone()),
        monitors::run(ctx.clone(), runner, shutdown.clone()),
        backups::run(ctx.clone(), shutdown.clone()),
        async {
            tokio::select! {
                _ = crate::incident_gauge::run(ctx, crate::incident_gauge::REFRESH) => {}
                _ = shutdown => {}
            }
        },
    );
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
