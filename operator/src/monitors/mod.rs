//! The Monitor controller. A reconcile parses the Monitor (a bad condition makes it Degraded
//! with the parser's message) and (re)schedules its checks with tokio-cron-scheduler; checks
//! send results to one worker that batches the rows, applies the thresholds, opens and
//! resolves incidents, runs the actions and writes status.

mod check;
mod reconcile;
mod worker;

use std::sync::Arc;

use futures::StreamExt;
use javari_crds::Monitor;
use kube::Api;
use kube::runtime::{Controller, watcher};
use tracing::{debug, warn};

pub use check::{Clients, MAX_BODY, run_check};
pub use reconcile::reconcile;
pub use worker::{FAILOVER_ANNOTATION, Outcome, Runner};

use crate::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Scheduler(_) => "SchedulerError",
            Error::Finalizer(_) => "FinalizerError",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let runner = match Runner::start(ctx.clone()).await {
        Ok(runner) => runner,
        Err(e) => {
            warn!(error = %e, "monitor scheduler could not start");
            return;
        }
    };
    let monitors: Api<Monitor> = ctx.watched_api();
    Controller::new(monitors, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, reconcile::error_policy, Arc::new((ctx, runner)))
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(monitor = %object, "scheduled"),
                Err(e) => warn!(error = %e, "monitor reconcile failed"),
            }
        })
        .await;
}
