//! Restarting the workloads that use a Credential: their pod template carries the version
//! hash in an annotation, patched only when it differs. An operator restart or a resync finds
//! every hash current and touches nothing; a second rotation always changes the hash.

use chrono::Utc;
use javari_crds::credential::{RestartRecord, RolloutKind, RolloutTarget};
use javari_crds::{Credential, Project};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::json;

use super::Error;
use crate::context::Context;

/// Pod-template annotation key for credential `name` (at most 63 characters after the prefix).
pub fn annotation_key(name: &str) -> String {
    let short = if name.len() <= 63 {
        name.to_owned()
    } else {
        format!(
            "{}-{}",
            &name[..54],
            &javari_core::credentials::version_hash(name, 0)[..8]
        )
    };
    format!("credentials.javari.ai/{short}")
}

/// The workloads to restart: Deployments of Projects that reference the Credential, and the
/// Credential's own `rolloutRestartTargets`, without duplicates.
pub async fn targets(ctx: &Context, cred: &Credential) -> Result<Vec<RolloutTarget>, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let name = cred.name_any();
    let projects = Api::<Project>::namespaced(ctx.client.clone(), &ns)
        .list(&Default::default())
        .await?;
    let mut targets: Vec<RolloutTarget> = projects
        .items
        .iter()
        .filter(|p| {
            p.spec
                .credentials
                .iter()
                .any(|c| c.credential_ref.name == name)
        })
        .map(|p| RolloutTarget {
            kind: RolloutKind::Deployment,
            name: p.name_any(),
        })
        .collect();
    for t in &cred.spec.rollout_restart_targets {
        if !targets.contains(t) {
            targets.push(t.clone());
        }
    }
    Ok(targets)
}

fn resource(kind: RolloutKind) -> ApiResource {
    match kind {
        RolloutKind::Deployment => ApiResource::erase::<Deployment>(&()),
        RolloutKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        RolloutKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
    }
}

/// Brings every target to `hash`; returns a record for each workload restarted or missing.
pub async fn restart(
    ctx: &Context,
    cred: &Credential,
    hash: &str,
) -> Result<Vec<RestartRecord>, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let key = annotation_key(&cred.name_any());
    let mut records = Vec::new();
    for target in targets(ctx, cred).await? {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &ns, &resource(target.kind));
        let result = match api.get_opt(&target.name).await? {
            None => "not found".to_owned(),
            Some(obj) => {
                let current = obj
                    .data
                    .pointer("/spec/template/metadata/annotations")
                    .and_then(|a| a.get(&key))
                    .and_then(|v| v.as_str());
                if current == Some(hash) {
                    continue;
                }
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {key.clone(): hash}}}}});
                api.patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                ctx.metrics.restarts.inc();
                "restarted".to_owned()
            }
        };
        records.push(RestartRecord {
            kind: target.kind,
            name: target.name,
            hash: hash.to_owned(),
            result,
            at: javari_core::time::to_k8s(Utc::now()),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_keys_are_valid_for_long_names() {
        assert_eq!(annotation_key("db"), "credentials.javari.ai/db");
        let long = "a".repeat(200);
        let key = annotation_key(&long);
        let name_part = key.split('/').nth(1).expect("name part");
        assert_eq!(name_part.len(), 63);
        assert_ne!(annotation_key(&"a".repeat(201)), key);
    }
}
