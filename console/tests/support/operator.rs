//! The operator's controllers run in-process against the test control plane (watching one
//! namespace), and a migrated database of the test's own: the setup of the console tests
//! that need the operator to answer what the console asks.

use std::sync::Arc;

use javari_core::vault::Vault;
use javari_operator::Context;
use javari_operator::metrics::Metrics;
use javari_operator::timer::Timer;
use javari_testenv::{ControlPlane, fresh_database};
use kube::Client;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A client of the shared control plane, a namespace of the test's own and a fresh,
/// migrated database (the operator needs one outside `#[sqlx::test]`'s transaction pool).
pub async fn cluster_and_database() -> (Client, String, PgPool) {
    javari_core::http::install_crypto_provider();
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let database_url = fresh_database().await.expect("database");
    let pool = javari_core::db::connect(&database_url, 10)
        .await
        .expect("connect");
    javari_core::db::migrate(&pool).await.expect("migrate");
    (client, ns, pool)
}

/// The operator's controllers, running until [`Operator::stop`].
pub struct Operator {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Operator {
    /// Controllers watching `ns` with `vault` (share the console's to share its key).
    pub async fn start(client: &Client, vault: Vault, ns: &str) -> Self {
        Self::start_with(client, vault, ns, |ctx| ctx).await
    }

    /// [`Operator::start`] with settings of the test's own (`configure` gets the context).
    pub async fn start_with(
        client: &Client,
        vault: Vault,
        ns: &str,
        configure: impl FnOnce(Context) -> Context,
    ) -> Self {
        let (timer, wake) = Timer::start().await.expect("scheduler");
        let ctx = Arc::new(configure(
            Context::new(client.clone(), vault, Arc::new(Metrics::new()), timer)
                .watching(Some(ns.to_owned())),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(javari_operator::run_controllers(ctx, wake, async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Stops the controllers and waits until they have.
    pub async fn stop(self) {
        drop(self.stop);
        self.task.await.expect("controllers stopped");
    }
}
