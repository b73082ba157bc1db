use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use javari_core::conditions::{Desired, set};
use javari_core::monitors::{Counters, cadence, parse};
use javari_crds::common::condition::{DEGRADED, READY};
use javari_crds::monitor::{CHECK_NOW_ANNOTATION, MonitorState, MonitorStatus};
use javari_crds::{Monitor, Project};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::Error;
use super::schedule::{Plan, Runner};
use crate::context::Context;
use crate::driver::Steps;

pub const FINALIZER: &str = "javari.ai/monitor";

/// The Monitor controller's steps for the driver: parse and (re)schedule.
pub struct Monitors {
    pub ctx: Arc<Context>,
    pub runner: Arc<Runner>,
}

impl Steps for Monitors {
    type Kind = Monitor;
    type Error = Error;
    const FINALIZER: &'static str = FINALIZER;
    const RETRY: Duration = Duration::from_secs(30);

    fn context(&self) -> &Context {
        &self.ctx
    }

    async fn apply(&self, monitor: Arc<Monitor>) -> Result<Action, Error> {
        let result = apply(&monitor, &self.ctx, &self.runner).await;
        if result.is_err() {
            // A Monitor that cannot be judged is not checked with stale settings.
            self.runner
                .unschedule(
                    &monitor.namespace().unwrap_or_default(),
                    &monitor.name_any(),
                )
                .await;
        }
        result
    }

    async fn cleanup(&self, monitor: Arc<Monitor>) -> Result<Action, Error> {
        self.runner
            .unschedule(
                &monitor.namespace().unwrap_or_default(),
                &monitor.name_any(),
            )
            .await;
        Ok(Action::await_change())
    }
}

async fn apply(monitor: &Monitor, ctx: &Context, runner: &Runner) -> Result<Action, Error> {
    let ns = monitor.namespace().unwrap_or_default();
    let name = monitor.name_any();
    let spec = &monitor.spec;
    let generation = monitor.metadata.generation;
    let prev = monitor.status.clone().unwrap_or_default();
    let now = Utc::now();

    let problem = |reason: &str, message: String| {
        let mut s = prev.clone();
        s.observed_generation = generation;
        set(
            &mut s.conditions,
            Desired::new(DEGRADED, true, reason, message.clone()),
            generation,
            now,
        );
        set(
            &mut s.conditions,
            Desired::new(READY, false, reason, message),
            generation,
            now,
        );
        s
    };
    if spec.suspend {
        runner.unschedule(&ns, &name).await;
        // Nothing is checked while suspended: the request is answered by clearing it.
        check_now(monitor, ctx, runner).await?;
        let mut s = problem("Suspended", "checks are suspended".to_owned());
        s.state = MonitorState::Suspended;
        write_status(ctx, monitor, &prev, s).await?;
        return Ok(Action::await_change());
    }
    let conditions = spec
        .conditions
        .iter()
        .map(|c| parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::ConditionInvalid(e.to_string()))?;
    let cadence = cadence(
        spec.interval.as_deref(),
        spec.schedule.as_deref(),
        &spec.request.timeout,
    )?;
    let (target, project) = match (&spec.url, &spec.project_ref) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(project)) => {
            let found = Api::<Project>::namespaced(ctx.client.clone(), &ns)
                .get_opt(&project.name)
                .await?;
            let p = found.ok_or_else(|| Error::ProjectNotFound(project.name.clone()))?;
            let url = ctx
                .project_url
                .replace("{name}", &project.name)
                .replace("{namespace}", &ns)
                .replace("{path}", &p.spec.health_path);
            (url, Some(project.name.clone()))
        }
        // The CRD's CEL rule requires one of them; say so rather than guess.
        (None, None) => return Err(Error::NoTarget),
    };
    let plan = Plan {
        namespace: ns.clone(),
        name: name.clone(),
        target,
        request: spec.request.clone(),
        timeout: cadence.timeout,
        conditions,
        failure_threshold: spec.failure_threshold,
        success_threshold: spec.success_threshold,
        severity: spec.severity,
        actions: spec.actions.clone(),
        project,
        initial: Counters {
            state: Some(prev.state),
            consecutive_failures: prev.consecutive_failures,
            consecutive_successes: prev.consecutive_successes,
        },
        status: prev.clone(),
        generation,
    };
    runner.schedule(plan, cadence.every).await;
    check_now(monitor, ctx, runner).await?;
    if prev.observed_generation != generation {
        let mut s = prev.clone();
        s.observed_generation = generation;
        set(
            &mut s.conditions,
            Desired::new(DEGRADED, false, "Scheduled", ""),
            generation,
            now,
        );
        write_status(ctx, monitor, &prev, s).await?;
    }
    Ok(Action::requeue(Duration::from_secs(600)))
}

/// Honours `javari.ai/check-now`: one check at once (if scheduled), then the annotation is
/// removed — only if it still holds the value read, so a newer request is not lost.
async fn check_now(monitor: &Monitor, ctx: &Context, runner: &Runner) -> Result<(), Error> {
    let Some(value) = monitor.annotations().get(CHECK_NOW_ANNOTATION) else {
        return Ok(());
    };
    let ns = monitor.namespace().unwrap_or_default();
    let name = monitor.name_any();
    let started = runner.check_now(&ns, &name).await;
    let path = format!(
        "/metadata/annotations/{}",
        CHECK_NOW_ANNOTATION.replace('/', "~1")
    );
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        { "op": "test", "path": path, "value": value },
        { "op": "remove", "path": path },
    ]))
    .map_err(|e| Error::CheckNow(e.to_string()))?;
    let api = Api::<Monitor>::namespaced(ctx.client.clone(), &ns);
    match api
        .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
    {
        Ok(_) => {}
        // Changed meanwhile (a newer request, or already removed): the next reconcile sees it.
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 409 || e.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    let note = if started {
        "check started on request"
    } else {
        "not checked on request: checks are suspended"
    };
    crate::report::publish(ctx, monitor, EventType::Normal, "CheckNow", note).await;
    Ok(())
}

async fn write_status(
    ctx: &Context,
    monitor: &Monitor,
    prev: &MonitorStatus,
    status: MonitorStatus,
) -> Result<(), Error> {
    Ok(crate::report::write_status(ctx, monitor, monitor.status.is_some(), prev, &status).await?)
}
