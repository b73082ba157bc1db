//! The Provider controller: probes each AI provider on its interval with the cheapest
//! authenticated call its API has, and writes health and latency to status and to the
//! providers table the console routes by (with the model prices).

mod reconcile;

use std::sync::Arc;

use javari_crds::Provider;
use kube::Api;

pub use reconcile::{FINALIZER, Providers};

use crate::Context;
use crate::driver::Failure;

/// Why a Provider could not be reconciled (a failing probe is not an error: it is a status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("invalid probe settings: {0}")]
    Settings(#[from] javari_crds::duration::ParseDurationError),
    #[error("spec.credentialRef: Credential {name} not found in the Provider's namespace")]
    CredentialNotFound { name: String },
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Db(_) => "DatabaseError",
            Error::Settings(_) => "InvalidProbeSettings",
            Error::CredentialNotFound { .. } => "CredentialNotFound",
        }
    }
}

pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let providers: Api<Provider> = ctx.watched_api();
    let controller = crate::driver::controller(providers, &ctx, crate::driver::Wake::OnChange);
    crate::driver::run(controller, Arc::new(Providers(ctx)), shutdown).await;
}
