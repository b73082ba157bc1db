use javari_core::credentials::{GenerateError, ScheduleError};
use javari_core::vault::VaultError;

use crate::faults::Step;

/// Why a Credential could not be reconciled. `reason()` is the Event reason and the metric
/// label; messages never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("spec.source.secretRef: Secret {secret} not found in the Credential's namespace")]
    SourceSecretMissing { secret: String },
    #[error(
        "spec.source.secretRef: Secret {secret} has not opted in to be imported: annotate it with javari.ai/credential={credential}"
    )]
    SourceNotOptedIn { secret: String, credential: String },
    #[error("spec.source.secretRef: Secret {secret} has no key {key:?}")]
    SourceKeyMissing { secret: String, key: String },
    #[error(
        "Secret {secret} already exists and is not managed by this Credential; choose another spec.secretName"
    )]
    SecretNotOwned { secret: String },
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("stopped after step {0:?} (fault injected by a test)")]
    Injected(Step),
}

impl crate::driver::Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Vault(VaultError::Decrypt { .. }) => "DecryptionFailed",
            Error::Vault(VaultError::Conflict { .. }) => "ConcurrentRotation",
            Error::Vault(_) => "VaultError",
            Error::SourceSecretMissing { .. } => "SourceSecretMissing",
            Error::SourceKeyMissing { .. } => "SourceKeyMissing",
            Error::SourceNotOptedIn { .. } => "SourceSecretNotOptedIn",
            Error::SecretNotOwned { .. } => "SecretNotOwned",
            Error::Generate(_) => "GenerateFailed",
            Error::Schedule(_) => "InvalidSchedule",
            Error::Injected(_) => "FaultInjected",
        }
    }
}
