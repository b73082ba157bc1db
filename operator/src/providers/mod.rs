//! The Provider controller: probes each AI provider on its interval with the cheapest
//! authenticated call its API has, and writes health and latency to status and to the
//! providers table the console routes by (with the model prices).

mod reconcile;

use std::sync::Arc;

use futures::StreamExt;
use javari_crds::Provider;
use kube::Api;
use kube::runtime::{Controller, watcher};
use tracing::{debug, warn};

pub use reconcile::{FINALIZER, reconcile};

use crate::Context;

/// Why a Provider could not be reconciled (a failing probe is not an error: it is a status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("invalid probe settings: {0}")]
    Settings(#[from] javari_crds::duration::ParseDurationError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Db(_) => "DatabaseError",
            Error::Settings(_) => "InvalidProbeSettings",
            Error::Finalizer(_) => "FinalizerError",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let providers: Api<Provider> = ctx.watched_api();
    Controller::new(providers, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(provider = %object, "probed"),
                Err(e) => warn!(error = %e, "provider reconcile failed"),
            }
        })
        .await;
}
