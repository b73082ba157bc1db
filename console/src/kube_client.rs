//! The console's Kubernetes client: how it is found and what happens without one.
//! Pages that show resources read through it; actions write the annotations the operator
//! honours, under the console's ServiceAccount (see the chart's RBAC).

use tracing::{info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubeMode {
    /// Use the cluster when one is configured (in-cluster or KUBECONFIG), else run without.
    Auto,
    /// Refuse to start without a cluster.
    Required,
    /// Never talk to a cluster.
    Off,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "JAVARI_KUBE=required but no Kubernetes API is reachable: {0} (run in a cluster or set KUBECONFIG)"
    )]
    Unavailable(String),
}

/// The client for `mode`, or `None` when the console runs without a cluster.
pub async fn connect(mode: KubeMode) -> Result<Option<kube::Client>, KubeError> {
    if mode == KubeMode::Off {
        info!("JAVARI_KUBE=off: resource pages and actions are unavailable");
        return Ok(None);
    }
    match kube::Client::try_default().await {
        Ok(client) => {
            info!("talking to the Kubernetes API for resource pages and actions");
            Ok(Some(client))
        }
        Err(e) if mode == KubeMode::Auto => {
            warn!(error = %e, "no Kubernetes API: resource pages and actions are unavailable");
            Ok(None)
        }
        Err(e) => Err(KubeError::Unavailable(e.to_string())),
    }
}
