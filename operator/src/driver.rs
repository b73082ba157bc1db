//! The one reconcile pipeline every controller runs through: the watch loop, the finalizer,
//! a tracing span, timing, and one report path for failures. A controller only supplies its
//! [`Steps`]; whatever error a step returns is published as a Warning Event, set as
//! `Ready=False` and `Degraded=True` with the same reason and message, and counted in
//! `javari_reconcile_failures_total`, so `kubectl describe` always says what is wrong.

use std::fmt::Debug;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use javari_core::conditions::{Desired, set};
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::{BackupPolicy, Credential, Monitor, Project, Provider};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer, finalizer};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, info_span, warn};

use crate::context::{Context, MANAGER};

/// An error a step can return: its stable reason names the Event, the condition reason and
/// the metric label; its message (never a secret) names the field or object at fault.
pub trait Failure: std::error::Error + Send + Sync + 'static {
    fn reason(&self) -> &'static str;
}

/// A kind the driver reconciles: namespaced, with standard conditions in its status.
pub trait Reconciled:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The kind, as a `'static` label for metrics.
    const KIND: &'static str;
    fn conditions(&self) -> &[Condition];
}

/// What one controller does with one object; everything around it is the driver's.
pub trait Steps: Send + Sync + 'static {
    type Kind: Reconciled;
    type Error: Failure + From<kube::Error>;
    /// Removed only after [`Steps::cleanup`] succeeded.
    const FINALIZER: &'static str;
    /// How long after a failure the object is tried again.
    const RETRY: Duration = Duration::from_secs(10);
    /// Apply to the stored object rather than the watch cache's copy, which can lag behind
    /// the controller's own last status write (for steps that must not lose a record).
    const READ_LATEST: bool = false;

    fn context(&self) -> &Context;
    fn apply(
        &self,
        obj: Arc<Self::Kind>,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
    fn cleanup(
        &self,
        obj: Arc<Self::Kind>,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// A reconcile that failed: in a step, or adding or removing the finalizer.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error<E: Failure>(Box<finalizer::Error<E>>);

impl<E: Failure> Error<E> {
    pub fn reason(&self) -> &'static str {
        match self.0.as_ref() {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.reason(),
            finalizer::Error::AddFinalizer(_) | finalizer::Error::RemoveFinalizer(_) => {
                "FinalizerError"
            }
            finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer => "InvalidObject",
        }
    }

    /// The step's own error, when a step failed.
    pub fn step(&self) -> Option<&E> {
        match self.0.as_ref() {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => Some(e),
            _ => None,
        }
    }
}

/// Which changes to an object wake its reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Spec (generation), labels, annotations (the actions), finalizers and deletion; not the
    /// controller's own status writes, which would otherwise reconcile every object twice.
    OnChange,
    /// Every write, status included, for controllers that read their own progress back.
    OnEveryWrite,
}

/// A controller for `K` whose cache keeps only what reconciles read: managed fields and
/// kubectl's last-applied copy of the whole object are dropped as objects arrive. At most
/// `ctx.reconcile_concurrency` reconciles run at once. (Owned objects added with
/// `Controller::owns` are watched metadata-only and not cached.)
pub fn controller<K: Reconciled>(api: Api<K>, ctx: &Context, wake: Wake) -> Controller<K> {
    let writer = reflector::store::Writer::<K>::default();
    let reader = writer.as_reader();
    let trimmed = watcher(api, watcher::Config::default().any_semantic()).modify(trim::<K>);
    let config = controller::Config::default().concurrency(ctx.reconcile_concurrency);
    let objects = reflector(writer, trimmed).applied_objects();
    match wake {
        // The store still sees every write; only the reconcile trigger is filtered.
        Wake::OnChange => Controller::for_stream(
            objects.predicate_filter(changed::<K>, PredicateConfig::default()),
            reader,
        ),
        Wake::OnEveryWrite => Controller::for_stream(objects, reader),
    }
    .with_config(config)
}

/// A hash of everything but status, for [`Wake::OnChange`].
fn changed<K: Resource>(obj: &K) -> Option<u64> {
    let meta = obj.meta();
    let mut hasher = std::hash::DefaultHasher::new();
    (
        meta.generation,
        &meta.labels,
        &meta.annotations,
        &meta.finalizers,
        meta.deletion_timestamp.as_ref().map(|t| t.0),
    )
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// What a cached object does not need.
fn trim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Runs `controller` with `steps` until `shutdown` resolves.
pub async fn run<S: Steps>(
    controller: Controller<S::Kind>,
    steps: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let kind = S::Kind::KIND;
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<S>, error_policy::<S>, steps)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(kind, %object, "reconciled"),
                // Already reported (Event, conditions, metric) by `reconcile`.
                Err(e) => debug!(kind, error = %e, "reconcile failed"),
            }
        })
        .await;
}

/// One reconcile of `obj`: span, timing, finalizer, and the report of any failure.
pub async fn reconcile<S: Steps>(
    obj: Arc<S::Kind>,
    steps: Arc<S>,
) -> Result<Action, Error<S::Error>> {
    let ctx = steps.context();
    let kind = S::Kind::KIND;
    let ns = obj.namespace().unwrap_or_default();
    let span = info_span!("reconcile", kind, namespace = %ns, name = %obj.name_any());
    async {
        let _timing = ctx.metrics.reconcile(S::Kind::KIND);
        let api: Api<S::Kind> = Api::namespaced(ctx.client.clone(), &ns);
        let result = finalizer(&api, S::FINALIZER, obj.clone(), |event| async {
            match event {
                Finalizer::Apply(o) if S::READ_LATEST => {
                    let latest = api.get(&o.name_any()).await?;
                    steps.apply(Arc::new(latest)).await
                }
                Finalizer::Apply(o) => steps.apply(o).await,
                Finalizer::Cleanup(o) => steps.cleanup(o).await,
            }
        })
        .await
        .map_err(|e| Error(Box::new(e)));
        if let Err(e) = &result {
            // A step's own message, without the finalizer's "failed to apply object" wrapper.
            let message = e.step().map_or_else(|| e.to_string(), ToString::to_string);
            report_failure(ctx, &api, obj.as_ref(), e.reason(), &message).await;
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy<S: Steps>(_obj: Arc<S::Kind>, _error: &Error<S::Error>, _steps: Arc<S>) -> Action {
    Action::requeue(S::RETRY)
}

/// Longest Event note the apiserver keeps (1 KiB); longer messages are cut on a char boundary.
const MAX_NOTE: usize = 1024;

/// The single report path: metric, Warning Event, and Ready/Degraded conditions with the same
/// reason and message. Reporting never fails the reconcile; its own errors are logged. Also
/// used for work a reconcile started that fails later (a backup run by the leader).
pub async fn report_failure<K: Reconciled>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    reason: &'static str,
    message: &str,
) {
    let kind = K::KIND;
    ctx.metrics.failure(kind, reason);
    warn!(kind, reason, error = %message, "reconcile failed");
    let mut note = message.to_owned();
    if note.len() > MAX_NOTE {
        let mut cut = MAX_NOTE;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    crate::report::publish(ctx, obj, EventType::Warning, reason, &note).await;
    if obj.meta().deletion_timestamp.is_some() {
        return;
    }
    // Decide on the stored object: a step may have written status moments ago.
    let latest = match api.get_opt(&obj.name_any()).await {
        Ok(Some(latest)) => latest,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "cannot read the object to report its failure");
            return;
        }
    };
    let Some(conditions) =
        failed_conditions(latest.conditions(), latest.meta().generation, reason, &note)
    else {
        return;
    };
    let patch = serde_json::json!({ "status": { "conditions": conditions } });
    if let Err(e) = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(MANAGER),
            &Patch::Merge(&patch),
        )
        .await
    {
        warn!(error = %e, "cannot write the failed conditions");
    }
}

/// `current` with Ready=False and Degraded=True for `reason`; `None` when they already say so.
pub fn failed_conditions(
    current: &[Condition],
    generation: Option<i64>,
    reason: &str,
    message: &str,
) -> Option<Vec<Condition>> {
    let says_so = |type_: &str, status: &str| {
        current.iter().any(|c| {
            c.type_ == type_ && c.status == status && c.reason == reason && c.message == message
        })
    };
    if says_so(READY, "False") && says_so(DEGRADED, "True") {
        return None;
    }
    let mut conditions = current.to_vec();
    let now = Utc::now();
    set(
        &mut conditions,
        Desired::new(DEGRADED, true, reason, message),
        generation,
        now,
    );
    set(
        &mut conditions,
        Desired::new(READY, false, reason, message),
        generation,
        now,
    );
    Some(conditions)
}

macro_rules! conditions_in_status {
    ($($kind:ty),*) => {$(
        impl Reconciled for $kind {
            const KIND: &'static str = stringify!($kind);
            fn conditions(&self) -> &[Condition] {
                self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default()
            }
        }
    )*};
}
conditions_in_status!(Project, Provider, Monitor, Credential, BackupPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_managed_fields_and_the_last_applied_copy() {
        let mut project: Project = serde_json::from_value(serde_json::json!({
            "apiVersion": "javari.ai/v1alpha1", "kind": "Project",
            "metadata": {"name": "web", "annotations": {LAST_APPLIED: "{...}", "keep": "me"},
                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"image": "nginx"}}))
        .expect("project");
        trim(&mut project);
        assert!(project.metadata.managed_fields.is_none());
        let annotations = project.metadata.annotations.expect("annotations");
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["keep"], "me");
    }

    #[test]
    fn status_writes_do_not_wake_a_reconcile_but_actions_and_specs_do() {
        let project =
            |generation: i64, annotations: serde_json::Value, status: serde_json::Value| {
                let p: Project = serde_json::from_value(serde_json::json!({
                "apiVersion": "javari.ai/v1alpha1", "kind": "Project",
                "metadata": {"name": "web", "generation": generation, "annotations": annotations},
                "spec": {"image": "nginx"}, "status": status}))
                .expect("project");
                changed(&p)
            };
        let first = project(1, serde_json::json!({}), serde_json::json!({}));
        assert_eq!(
            first,
            project(
                1,
                serde_json::json!({}),
                serde_json::json!({"deployedImage": "nginx"})
            ),
            "a status write is not a change"
        );
        assert_ne!(
            first,
            project(2, serde_json::json!({}), serde_json::json!({}))
        );
        assert_ne!(
            first,
            project(
                1,
                serde_json::json!({"javari.ai/rollback": "now"}),
                serde_json::json!({})
            ),
            "an action annotation is a change"
        );
    }

    #[test]
    fn failed_conditions_name_the_reason_once() {
        let first = failed_conditions(&[], Some(3), "CredentialNotFound", "spec.x: y")
            .expect("new conditions");
        assert_eq!(first.len(), 2);
        for c in &first {
            assert_eq!(c.reason, "CredentialNotFound");
            assert_eq!(c.message, "spec.x: y");
            assert_eq!(c.observed_generation, Some(3));
        }
        assert!(
            failed_conditions(&first, Some(3), "CredentialNotFound", "spec.x: y").is_none(),
            "an unchanged failure writes nothing"
        );
        let other = failed_conditions(&first, Some(3), "InvalidSchedule", "spec.schedule")
            .expect("a new reason is written");
        assert!(other.iter().all(|c| c.reason == "InvalidSchedule"));
    }
}
