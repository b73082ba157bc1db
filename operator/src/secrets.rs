//! Reading a Credential's current value from the Secret the Credential controller keeps.

use javari_core::vault::SecretValue;
use javari_crds::Credential;
use javari_crds::common::CredentialKeyRef;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::Context;
use crate::credentials::owns;

/// Why a Credential's value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("Credential {0} not found")]
    CredentialNotFound(String),
    #[error("Credential {0} has no value yet")]
    NoValue(String),
    #[error("Secret {secret} is not managed by Credential {credential}")]
    NotOwned { secret: String, credential: String },
}

/// The value of `reference` in `namespace`; `Ok(Err(why))` when there is none yet, or when
/// the Secret by that name is not the one the Credential controller keeps for it (a label
/// and a controller owner reference to that Credential): a Credential's `secretName` must
/// never make the operator hand someone else's Secret to a probe or a Project.
pub async fn credential_value(
    ctx: &Context,
    namespace: &str,
    reference: &CredentialKeyRef,
) -> Result<Result<SecretValue, Unavailable>, kube::Error> {
    let Some(credential) = Api::<Credential>::namespaced(ctx.client.clone(), namespace)
        .get_opt(&reference.name)
        .await?
    else {
        return Ok(Err(Unavailable::CredentialNotFound(reference.name.clone())));
    };
    let uid = credential.metadata.uid.clone().unwrap_or_default();
    let secret_name = credential
        .status
        .and_then(|s| s.secret_name)
        .or(credential.spec.secret_name)
        .unwrap_or_else(|| reference.name.clone());
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
    match secrets.get_metadata_opt(&secret_name).await? {
        None => {
            return Ok(Err(Unavailable::NoValue(reference.name.clone())));
        }
        Some(meta) if !owns(&meta.metadata, &reference.name, &uid) => {
            return Ok(Err(Unavailable::NotOwned {
                secret: secret_name,
                credential: reference.name.clone(),
            }));
        }
        Some(_) => {}
    }
    let value = secrets
        .get_opt(&secret_name)
        .await?
        .filter(|s| owns(&s.metadata, &reference.name, &uid))
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(&reference.key));
    Ok(value
        .map(|b| SecretValue::new(b.0))
        .ok_or_else(|| Unavailable::NoValue(reference.name.clone())))
}

/// The Secret each referenced Credential materializes (its name may differ from the
/// Credential's through `spec.secretName`); `None` when there is no such Credential.
pub async fn secret_name(
    ctx: &Context,
    namespace: &str,
    credential: &str,
) -> Result<Option<String>, kube::Error> {
    let found = Api::<Credential>::namespaced(ctx.client.clone(), namespace)
        .get_opt(credential)
        .await?;
    Ok(found.map(|c| {
        c.status
            .and_then(|s| s.secret_name)
            .or(c.spec.secret_name)
            .unwrap_or_else(|| credential.to_owned())
    }))
}
