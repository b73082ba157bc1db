//! The materialized Secret: built by a pure function, written in one server-side apply so
//! `value` and `previous` always change together, and skipped when already current.

use std::collections::BTreeMap;

use javari_core::vault::{SecretValue, StoredCredential};
use javari_crds::Credential;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::Error;
use crate::context::{Context, MANAGER};

/// `app.kubernetes.io/managed-by` value on every Secret the operator writes.
pub const MANAGED_BY: &str = "javari";
/// Annotation with the vault version a Secret holds.
pub const VERSION_ANNOTATION: &str = "javari.ai/version";
/// Label naming the Credential a materialized Secret belongs to.
pub const CREDENTIAL_LABEL: &str = "javari.ai/credential";
/// Annotation by which a Secret agrees to be imported by `source.secretRef`: the importing
/// Credential's `name` or `namespace/name` (comma-separated for several).
pub const IMPORT_ANNOTATION: &str = "javari.ai/credential";

/// Whether the Credential `credential` (uid `uid`) owns the object: it carries Javari's
/// managed-by label and the Credential label, and the Credential is its controller. Only
/// such Secrets are read for, or written by, that Credential.
pub fn owns(meta: &ObjectMeta, credential: &str, uid: &str) -> bool {
    let label = |key: &str| {
        meta.labels
            .as_ref()
            .and_then(|l| l.get(key))
            .map(String::as_str)
    };
    !uid.is_empty()
        && label("app.kubernetes.io/managed-by") == Some(MANAGED_BY)
        && label(CREDENTIAL_LABEL) == Some(credential)
        && meta
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid && o.controller == Some(true) && o.kind == "Credential")
}

/// Whether a Secret opted in to be imported by the Credential `namespace/credential`.
pub fn opts_in(meta: &ObjectMeta, namespace: &str, credential: &str) -> bool {
    let qualified = format!("{namespace}/{credential}");
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(IMPORT_ANNOTATION))
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|n| n == credential || n == qualified)
        })
}

/// Fails with [`Error::SecretNotOwned`] when a Secret named `name` exists and this Credential
/// does not own it. Reads only its metadata.
pub async fn ensure_not_foreign(ctx: &Context, cred: &Credential, name: &str) -> Result<(), Error> {
    let ns = cred.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    match api.get_metadata_opt(name).await? {
        Some(meta)
            if !owns(
                &meta.metadata,
                &cred.name_any(),
                &cred.uid().unwrap_or_default(),
            ) =>
        {
            Err(Error::SecretNotOwned {
                secret: name.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// The Secret for `version`, with `previous` while a grace period runs.
pub fn build(
    cred: &Credential,
    name: &str,
    version: i32,
    value: &SecretValue,
    previous: Option<&SecretValue>,
) -> Secret {
    let mut data = BTreeMap::from([("value".to_owned(), ByteString(value.expose().to_vec()))]);
    if let Some(previous) = previous {
        data.insert(
            "previous".to_owned(),
            ByteString(previous.expose().to_vec()),
        );
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: cred.namespace(),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    MANAGED_BY.to_owned(),
                ),
                (CREDENTIAL_LABEL.to_owned(), cred.name_any()),
            ])),
            annotations: Some(BTreeMap::from([(
                VERSION_ANNOTATION.to_owned(),
                version.to_string(),
            )])),
            owner_references: cred.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Default::default()
    }
}

/// Whether `secret` already holds `version` (and `previous` exactly when it should).
pub fn is_current(
    secret: &Secret,
    cred_name: &str,
    cred_uid: &str,
    version: i32,
    serve_previous: bool,
) -> bool {
    let has = |key: &str| secret.data.as_ref().is_some_and(|d| d.contains_key(key));
    secret
        .annotations()
        .get(VERSION_ANNOTATION)
        .map(String::as_str)
        == Some(version.to_string().as_str())
        && has("value")
        && has("previous") == serve_previous
        && owns(&secret.metadata, cred_name, cred_uid)
}

/// Makes the Secret hold `stored.version`; returns whether it wrote.
pub async fn materialize(
    ctx: &Context,
    cred: &Credential,
    stored: &StoredCredential,
    name: &str,
    serve_previous: bool,
) -> Result<bool, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let uid = cred.uid().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    // Someone else's Secret is neither read nor overwritten.
    ensure_not_foreign(ctx, cred, name).await?;
    if let Some(existing) = api.get_opt(name).await?
        && is_current(
            &existing,
            &cred.name_any(),
            &uid,
            stored.version,
            serve_previous,
        )
    {
        return Ok(false);
    }
    let value = ctx
        .vault
        .read(stored, stored.version, MANAGER, "materialize Secret")
        .await?;
    let previous = match serve_previous {
        true => Some(
            ctx.vault
                .read(
                    stored,
                    stored.version - 1,
                    MANAGER,
                    "serve previous version during grace period",
                )
                .await?,
        ),
        false => None,
    };
    let secret = build(cred, name, stored.version, &value, previous.as_ref());
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await?;
    Ok(true)
}

/// Deletes Secrets this Credential materialized under an earlier `secretName`.
pub async fn delete_orphans(
    ctx: &Context,
    cred: &Credential,
    current: &str,
) -> Result<Vec<String>, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let uid = cred.uid().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},javari.ai/credential={}",
        cred.name_any()
    );
    let mut deleted = Vec::new();
    for secret in api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        let name = secret.name_any();
        if name != current && owns(&secret.metadata, &cred.name_any(), &uid) {
            api.delete(&name, &Default::default()).await?;
            deleted.push(name);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use javari_crds::credential::{CredentialSource, CredentialSpec, CredentialType};

    use super::*;

    fn credential() -> Credential {
        let mut c = Credential::new(
            "db",
            CredentialSpec {
                service: "postgres".into(),
                credential_type: CredentialType::DatabasePassword,
                description: None,
                source: CredentialSource {
                    generate: None,
                    secret_ref: None,
                    external: Some(Default::default()),
                },
                secret_name: None,
                rotation: None,
                expires_at: None,
                revision_history_limit: 5,
                rollout_restart_targets: vec![],
            },
        );
        c.metadata.namespace = Some("ns".into());
        c.metadata.uid = Some("uid-1".into());
        c
    }

    #[test]
    fn secret_holds_both_keys_in_one_object_and_is_owned() {
        let cred = credential();
        let s = build(
            &cred,
            "db",
            2,
            &SecretValue::from("new".to_owned()),
            Some(&SecretValue::from("old".to_owned())),
        );
        let data = s.data.as_ref().expect("data");
        assert_eq!(data["value"].0, b"new");
        assert_eq!(data["previous"].0, b"old");
        assert_eq!(s.annotations()[VERSION_ANNOTATION], "2");
        assert!(is_current(&s, "db", "uid-1", 2, true));
        assert!(
            !is_current(&s, "db", "uid-1", 2, false),
            "previous must go after the grace period"
        );
        assert!(!is_current(&s, "db", "uid-1", 3, true));
        assert!(!is_current(&s, "db", "other-uid", 2, true));
        assert!(!is_current(&s, "other", "uid-1", 2, true));
    }

    #[test]
    fn ownership_needs_the_labels_and_the_controller_reference() {
        let cred = credential();
        let owned = build(&cred, "db", 1, &SecretValue::from("v".to_owned()), None);
        assert!(owns(&owned.metadata, "db", "uid-1"));
        assert!(!owns(&owned.metadata, "db", ""));
        let mut unlabelled = owned.metadata.clone();
        unlabelled.labels = None;
        assert!(!owns(&unlabelled, "db", "uid-1"), "labels are required");
        let mut foreign = owned.metadata.clone();
        foreign.owner_references = None;
        assert!(
            !owns(&foreign, "db", "uid-1"),
            "the owner reference is required"
        );
    }

    #[test]
    fn a_source_secret_opts_in_by_naming_the_credential() {
        let meta = |v: &str| ObjectMeta {
            annotations: Some(BTreeMap::from([(
                IMPORT_ANNOTATION.to_owned(),
                v.to_owned(),
            )])),
            ..Default::default()
        };
        assert!(opts_in(&meta("db"), "ns", "db"));
        assert!(opts_in(&meta("other, ns/db"), "ns", "db"));
        assert!(!opts_in(&meta("other-ns/db"), "ns", "db"));
        assert!(!opts_in(&meta("dbx"), "ns", "db"));
        assert!(!opts_in(&ObjectMeta::default(), "ns", "db"));
    }
}
