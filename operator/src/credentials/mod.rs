//! The Credential controller: vault first, then the Secret, then the consumers, then status.
//! See `reconcile.rs` for the order and why it is crash-safe.

mod consumers;
mod error;
mod reconcile;
mod secret;
mod status;

use std::sync::Arc;

use futures::channel::mpsc::UnboundedReceiver;
use javari_crds::Credential;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

pub use consumers::annotation_key;
pub use error::Error;
pub use reconcile::{Credentials, FINALIZER, reconcile};
pub use secret::{
    CREDENTIAL_LABEL, IMPORT_ANNOTATION, MANAGED_BY, VERSION_ANNOTATION, opts_in, owns,
};

use crate::Context;

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    wake: UnboundedReceiver<ObjectRef<Credential>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let credentials: Api<Credential> = ctx.watched_api();
    let secrets: Api<Secret> = ctx.watched_api();
    let controller =
        crate::driver::controller(credentials, &ctx, crate::driver::Wake::OnEveryWrite)
            .owns(
                secrets,
                watcher::Config::default()
                    .labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}")),
            )
            .reconcile_on(wake);
    crate::driver::run(controller, Arc::new(Credentials(ctx)), shutdown).await;
}
