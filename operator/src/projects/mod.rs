//! The Project controller: dereference (commit, credential Secrets) -> choose the image (never
//! one marked bad) -> build the Deployment and Service -> apply -> health, last known good,
//! rollbacks -> status, the projects table, and GitHub deployment statuses.

mod reconcile;

use std::sync::Arc;

use futures::StreamExt;
use javari_crds::Project;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::{Controller, watcher};
use tracing::{debug, warn};

pub use reconcile::{FINALIZER, reconcile};

use crate::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Db(_) => "DatabaseError",
            Error::Finalizer(_) => "FinalizerError",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let projects: Api<Project> = ctx.watched_api();
    let managed = watcher::Config::default().labels("app.kubernetes.io/managed-by=javari");
    Controller::new(projects, watcher::Config::default().any_semantic())
        .owns(ctx.watched_api::<Deployment>(), managed.clone())
        .owns(ctx.watched_api::<Service>(), managed)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(project = %object, "reconciled"),
                Err(e) => warn!(error = %e, "project reconcile failed"),
            }
        })
        .await;
}
