//! The Monitor controller. A reconcile parses the Monitor (a bad condition makes it Degraded
//! with the parser's message) and (re)schedules its checks with tokio-cron-scheduler; checks
//! send results to one worker that batches the rows, applies the thresholds, opens and
//! resolves incidents, runs the actions and writes status.

mod check;
mod incidents;
mod reconcile;
mod schedule;
mod status;
mod worker;

use std::sync::Arc;

use javari_crds::Monitor;
use kube::Api;

pub use check::{Clients, MAX_BODY, run_check};
pub use incidents::FAILOVER_ANNOTATION;
pub use reconcile::Monitors;
pub use schedule::{Outcome, Runner};

use javari_core::monitors::CadenceError;

use crate::Context;
use crate::driver::Failure;

/// Why a Monitor cannot be checked; `reason()` names the Event and the conditions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("spec.conditions: {0}")]
    ConditionInvalid(String),
    #[error(transparent)]
    Cadence(#[from] CadenceError),
    #[error("spec.projectRef: Project {0} not found in the Monitor's namespace")]
    ProjectNotFound(String),
    #[error("set spec.url or spec.projectRef")]
    NoTarget,
    #[error("javari.ai/check-now: {0}")]
    CheckNow(String),
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::ConditionInvalid(_) => "ConditionInvalid",
            Error::Cadence(CadenceError::Schedule { .. }) => "InvalidSchedule",
            Error::Cadence(CadenceError::Interval { .. }) => "InvalidInterval",
            Error::Cadence(CadenceError::Timeout { .. }) => "InvalidTimeout",
            Error::ProjectNotFound(_) => "ProjectNotFound",
            Error::NoTarget => "NoTarget",
            Error::CheckNow(_) => "CheckNowFailed",
        }
    }
}

/// Runs the controller with checks on `runner` until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    runner: Arc<Runner>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let monitors: Api<Monitor> = ctx.watched_api();
    let controller = crate::driver::controller(monitors, &ctx, crate::driver::Wake::OnChange);
    crate::driver::run(controller, Arc::new(Monitors { ctx, runner }), shutdown).await;
}
