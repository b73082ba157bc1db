//! The Project controller: dereference (commit, credential Secrets) -> choose the image (never
//! one marked bad) -> build the Deployment and Service -> apply -> health, last known good,
//! rollbacks -> status, the projects table, and GitHub deployment statuses.

mod reconcile;

use std::sync::Arc;

use javari_crds::Project;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::watcher;

pub use reconcile::{FINALIZER, Projects};

use crate::Context;
use crate::driver::Failure;

/// Why a Project could not be reconciled; `reason()` names the Event and the conditions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("spec.github: cannot resolve the head of {repo}@{branch}: {message}")]
    GitHub {
        repo: String,
        branch: String,
        message: String,
    },
    #[error("spec.credentials: Credential {name} not found in the Project's namespace")]
    CredentialNotFound { name: String },
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Db(_) => "DatabaseError",
            Error::GitHub { .. } => "GitHubUnreachable",
            Error::CredentialNotFound { .. } => "CredentialNotFound",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let projects: Api<Project> = ctx.watched_api();
    let managed = watcher::Config::default().labels("app.kubernetes.io/managed-by=javari");
    let controller = crate::driver::controller(projects, &ctx, crate::driver::Wake::OnChange)
        .owns(ctx.watched_api::<Deployment>(), managed.clone())
        .owns(ctx.watched_api::<Service>(), managed);
    crate::driver::run(controller, Arc::new(Projects(ctx)), shutdown).await;
}
