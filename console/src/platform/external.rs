//! Setting the value of a Credential whose source is `external`: the console stores it in the
//! vault (version 1, or the next version), which is where the operator looks for an external
//! value, then marks the Credential with who asked so the operator reconciles it at once and
//! materializes the new version. The value is never read back, logged, audited or rendered;
//! the console needs no access to Secrets.

use chrono::Utc;
use javari_core::vault::{NewCredential, SecretValue, Vault, VaultError};
use javari_crds::Credential;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
use serde_json::json;
use sqlx::PgPool;

use super::REQUESTED_BY_ANNOTATION;
use crate::audit::{AuditRecord, record};

/// Longest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SetValueError {
    #[error("Credential {0} not found")]
    NotFound(String),
    #[error("Credential {0} does not take its value from the console (its source is not external)")]
    NotExternal(String),
    #[error("the value must be 1 to {MAX_VALUE_BYTES} bytes")]
    BadValue,
    #[error("the console has no vault key (JAVARI_MASTER_KEY), so it cannot store values")]
    NoVault,
    #[error("someone else set a value at the same time: reload and try again")]
    Conflict,
    #[error("the vault refused the value: {0}")]
    Vault(VaultError),
    #[error("the Kubernetes API refused the change: {0}")]
    Kube(#[from] kube::Error),
    #[error("could not write the audit log: {0}")]
    Audit(#[from] sqlx::Error),
}

impl From<VaultError> for SetValueError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Conflict { .. } => SetValueError::Conflict,
            e => SetValueError::Vault(e),
        }
    }
}

/// Stores `value` as the next version of external Credential `namespace/name` for `actor`;
/// returns the version stored.
pub async fn set_external_value(
    client: &Client,
    vault: Option<&Vault>,
    db: &PgPool,
    namespace: &str,
    name: &str,
    value: SecretValue,
    actor: &str,
) -> Result<i32, SetValueError> {
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(SetValueError::BadValue);
    }
    let api: Api<Credential> = Api::namespaced(client.clone(), namespace);
    let id = format!("{namespace}/{name}");
    let credential = api
        .get_opt(name)
        .await?
        .ok_or_else(|| SetValueError::NotFound(id.clone()))?;
    if credential.spec.source.external.is_none() {
        return Err(SetValueError::NotExternal(id));
    }
    let vault = vault.ok_or(SetValueError::NoVault)?;
    let reason = "value set from the console";
    let stored = match vault.get(namespace, name).await? {
        Some(current) => vault.rotate(&current, &value, None, actor, reason).await?,
        None => {
            let new = NewCredential {
                namespace,
                name,
                service: &credential.spec.service,
                credential_type: credential.spec.credential_type.as_str(),
                source: "external",
            };
            vault.create(new, &value, actor, reason).await?
        }
    };
    drop(value);
    record(
        db,
        AuditRecord {
            actor,
            action: "credential.set-value",
            resource_type: "Credential",
            resource_id: &id,
            details: json!({ "version": stored.version, "via": "console" }),
        },
    )
    .await?;
    // Who asked, on the resource; the change also wakes the operator, which materializes the
    // new version without waiting for its next poll.
    let asked = format!("{actor}: set-value at {}", Utc::now().to_rfc3339());
    let patched = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({ "metadata": { "annotations": { REQUESTED_BY_ANNOTATION: asked } } }),
            ),
        )
        .await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "javari-console".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "ValueSet".to_owned(),
        note: Some(format!(
            "a new value (version {}) was set by {actor} from the console",
            stored.version
        )),
        action: "Console".to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &patched.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish the value's event");
    }
    Ok(stored.version)
}
