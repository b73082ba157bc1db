//! From a BackupPolicy to what core needs: the source URL and the destination with its keys.
//! Every failure names the spec field at fault (never a secret).

use javari_core::backups::{Destination, S3Keys, StoreConfig};
use javari_crds::BackupPolicy;
use javari_crds::common::CredentialKeyRef;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::Error;
use crate::Context;

/// Why a referenced Secret key cannot be read (the caller names the field).
async fn secret_key(
    ctx: &Context,
    ns: &str,
    name: &str,
    key: &str,
) -> Result<Result<String, String>, kube::Error> {
    let Some(secret) = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await?
    else {
        return Ok(Err(format!(
            "Secret {name} not found in the BackupPolicy's namespace"
        )));
    };
    let value = secret
        .data
        .and_then(|mut d| d.remove(key))
        .and_then(|b| String::from_utf8(b.0).ok());
    Ok(value
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| format!("Secret {name} has no key {key}")))
}

pub async fn source_url(ctx: &Context, policy: &BackupPolicy) -> Result<String, Error> {
    let ns = policy.namespace().unwrap_or_default();
    match &policy.spec.database {
        Some(db) => secret_key(ctx, &ns, &db.secret_ref.name, &db.secret_ref.key)
            .await?
            .map_err(|message| Error::SourceUnavailable {
                field: "spec.database.secretRef",
                message,
            }),
        None => ctx
            .backups
            .database_url
            .clone()
            .ok_or_else(|| Error::SourceUnavailable {
                field: "spec.database",
                message: "not set, and the operator has no platform database URL".to_owned(),
            }),
    }
}

pub async fn destination(ctx: &Context, policy: &BackupPolicy) -> Result<Destination, Error> {
    let ns = policy.namespace().unwrap_or_default();
    let d = &policy.spec.destination;
    let url = match &d.url {
        Some(u) => u.clone(),
        None => format!("file://{}", ctx.backups.dir.display()),
    };
    let invalid =
        |field: &'static str| move |message: String| Error::DestinationInvalid { field, message };
    let keys = if let Some(s) = &d.secret_ref {
        let field = "spec.destination.secretRef";
        let id = secret_key(ctx, &ns, &s.name, "accessKeyId")
            .await?
            .map_err(invalid(field))?;
        let secret = secret_key(ctx, &ns, &s.name, "secretAccessKey")
            .await?
            .map_err(invalid(field))?;
        Some(S3Keys {
            access_key_id: id,
            secret_access_key: secret,
        })
    } else if let Some(c) = &d.credential_ref {
        let field = "spec.destination.credentialRef";
        let reference = CredentialKeyRef {
            name: c.name.clone(),
            key: "value".to_owned(),
        };
        let value = crate::secrets::credential_value(ctx, &ns, &reference)
            .await?
            .map_err(|m| invalid(field)(m.to_string()))?;
        let text = String::from_utf8_lossy(value.expose()).trim().to_owned();
        match text.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Some(S3Keys {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
            }),
            _ => {
                return Err(invalid(field)(format!(
                    "Credential {} must hold ACCESS_KEY_ID:SECRET_ACCESS_KEY",
                    c.name
                )));
            }
        }
    } else {
        None
    };
    Destination::open(&StoreConfig {
        url,
        endpoint: d.endpoint.clone(),
        region: d.region.clone(),
        keys,
    })
    .map_err(|e| invalid("spec.destination.url")(e.to_string()))
}
