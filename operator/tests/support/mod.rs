//! What the operator's integration tests share: a namespace on the shared control plane with
//! a fresh database, controllers running in-process, and polling with a deadline.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedReceiver;
use javari_core::vault::{Keyring, MasterKey, Vault};
use javari_crds::Credential;
use javari_operator::Context;
use javari_operator::metrics::Metrics;
use javari_operator::timer::Timer;
use javari_testenv::{ControlPlane, fresh_database};
use kube::Client;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::oneshot;

/// A test's namespace, database and vault.
pub struct Harness {
    pub client: Client,
    pub ns: String,
    /// On the runtime role's pool: what the operator runs as.
    pub vault: Vault,
    /// The owner's URL (migrations, fixtures).
    pub database_url: String,
    /// The runtime role's URL (what a binary is given as DATABASE_URL).
    pub runtime_url: String,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_keys(Keyring::new(MasterKey::generate(), vec![])).await
    }

    pub async fn with_keys(keys: Keyring) -> Harness {
        javari_core::http::install_crypto_provider();
        let cp = ControlPlane::shared();
        let client = cp.client().await.expect("client");
        let ns = cp.test_namespace(&client).await.expect("namespace");
        let database_url = fresh_database().await.expect("database");
        let runtime_url = javari_testenv::runtime_url(&database_url)
            .await
            .expect("runtime role");
        let pool = javari_core::db::open(&runtime_url, Some(&database_url), 5)
            .await
            .expect("migrate and connect");
        Harness {
            client,
            ns,
            vault: Vault::new(pool, Arc::new(keys)),
            database_url,
            runtime_url,
        }
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.vault.pool()
    }

    /// A controller context watching this test's namespace, for single reconciles.
    pub async fn context(&self) -> (Arc<Context>, UnboundedReceiver<ObjectRef<Credential>>) {
        self.context_with(|c| c).await
    }

    pub async fn context_with(
        &self,
        configure: impl FnOnce(Context) -> Context,
    ) -> (Arc<Context>, UnboundedReceiver<ObjectRef<Credential>>) {
        let (timer, wake) = Timer::start().await.expect("scheduler");
        let ctx = Context::new(
            self.client.clone(),
            self.vault.clone(),
            Arc::new(Metrics::new()),
            timer,
        )
        .watching(Some(self.ns.clone()));
        (Arc::new(configure(ctx)), wake)
    }

    /// Runs every controller in this namespace until [`Running::stop`].
    pub async fn start(&self, configure: impl FnOnce(Context) -> Context) -> Running {
        let (ctx, wake) = self.context_with(configure).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(javari_operator::run_controllers(
            ctx.clone(),
            wake,
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            ctx,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

pub struct Running {
    pub ctx: Arc<Context>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(task) = self.task.take() {
            task.await.expect("controllers stopped");
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after 60 seconds.
pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reconciles of `kind` (`Credential`, `Project`, …) the operator has started and finished,
/// from its metrics: the reconcile counter and the duration histogram's count (observed when a
/// reconcile, report included, is over).
pub fn reconciles(ctx: &Context, kind: &str) -> (u64, u64) {
    let text = javari_core::telemetry::render_metrics(&ctx.metrics.registry);
    let value = |name: &str| {
        let prefix = format!("{name}{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (
        value("javari_operator_reconciles_total"),
        value("javari_operator_reconcile_duration_seconds_count"),
    )
}

/// Waits until `kind` has finished more than `after` reconciles and none is running: every
/// write those reconciles made is visible.
pub async fn wait_for_reconciles(ctx: &Context, kind: &str, after: u64) {
    wait_for(&format!("a {kind} reconcile to finish"), async || {
        let (started, finished) = reconciles(ctx, kind);
        (finished > after && started == finished).then_some(())
    })
    .await;
}
