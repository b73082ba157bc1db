//! What every controller reports back: status by server-side apply (skipped when unchanged)
//! and Kubernetes Events.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use crate::context::{Context, MANAGER};

/// Applies `status` to `obj` unless it equals `prev` (and status was written before), so a
/// resync writes nothing.
pub async fn write_status<K, S>(
    ctx: &Context,
    obj: &K,
    had_status: bool,
    prev: &S,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize + PartialEq,
{
    if had_status && prev == status {
        return Ok(());
    }
    apply_status::<K, S>(
        ctx,
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        status,
    )
    .await
}

/// Applies `status` to the object `namespace`/`name` of kind `K` (server-side apply, the
/// operator's field manager, forced: the operator owns status).
pub async fn apply_status<K, S>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Publishes an Event on `obj`; a failure is logged, never fatal.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}
