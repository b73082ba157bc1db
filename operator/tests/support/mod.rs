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
    pub vault: Vault,
    pub database_url: String,
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
        let pool = javari_core::db::connect(&database_url, 5)
            .await
            .expect("connect");
        javari_core::db::migrate(&pool).await.expect("migrate");
        Harness {
            client,
            ns,
            vault: Vault::new(pool, Arc::new(keys)),
            database_url,
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
